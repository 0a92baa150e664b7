"""The citizen's rating of a case (好差评): the five levels of the national scheme, its
second-level indicators and the comment, one rating per case.

The indicators depend on where the service was given (the national 好差评 rules' 二级指标):
at a window or a village station, how fast (``efficiency``), how courteous (``attitude``)
and how competent (``service_level``) it was; online, how accurate the service guide was
(``guide_accuracy``) and how convenient the process (``convenience``). Each is scored 1
(worst) to 5 (best) and may be left out. One rule for every place a rating is recorded:
the window's ``rate`` action, the village's rating form, the online hall.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.errors import Problems
from sync_protocol.payload_digest import is_erased

RATINGS = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
           "very_dissatisfied")
"""The five levels, best first (the values of ``shared.domain.case_events.Rating``)."""
BAD_RATINGS = frozenset({"dissatisfied", "very_dissatisfied"})
"""差评: the ratings that call for a rectification."""
CHANNELS: Mapping[str, tuple[str, ...]] = {
    "window": ("efficiency", "attitude", "service_level"),
    "village": ("efficiency", "attitude", "service_level"),
    "online": ("guide_accuracy", "convenience"),
}
"""Where the rating was given, and the indicators that channel scores."""
INDICATOR_NAMES: Mapping[str, tuple[str, str]] = {
    "efficiency": ("办事效率", "efficiency"),
    "attitude": ("服务态度", "attitude"),
    "service_level": ("服务水平", "level of service"),
    "guide_accuracy": ("指南准确性", "guide accuracy"),
    "convenience": ("办理便捷性", "convenience"),
}
MAX_COMMENT = 500


def rating_payload(rating: object, *, channel: str, indicators: object = None,
                   comment: object = "") -> dict[str, Any]:
    """The ``rated`` payload, or :class:`Problems` naming every bad field."""
    problems: dict[str, str] = {}
    if rating not in RATINGS:
        problems["rating"] = f"one of {', '.join(RATINGS)}"
    if channel not in CHANNELS:
        problems["channel"] = f"one of {', '.join(CHANNELS)}"
    scores: dict[str, int] = {}
    given: Mapping[Any, Any] = indicators if isinstance(indicators, Mapping) else {}
    if indicators is not None and not isinstance(indicators, Mapping):
        problems["indicators"] = "an object of indicator -> score 1-5"
    for key, value in given.items():
        if key not in CHANNELS.get(channel, ()):
            problems[f"indicators.{key}"] = (
                f"not scored {channel}: one of {', '.join(CHANNELS.get(channel, ()))}")
        elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            problems[f"indicators.{key}"] = "a whole score from 1 to 5"
        else:
            scores[str(key)] = value
    text = comment.strip() if isinstance(comment, str) else None
    if text is None or len(text) > MAX_COMMENT:
        problems["comment"] = f"text of at most {MAX_COMMENT} characters"
    if problems:
        raise Problems(problems, "the rating is not complete")
    return {"rating": rating, "channel": channel, "indicators": scores, "comment": text}


def check_rated(payload: Mapping[str, Any]) -> None:
    """The event's rule (a rating recorded before channels existed names none: a window or
    village one; an erased one keeps its level, channel and scores, not its comment)."""
    if is_erased(payload):
        if payload.get("rating") not in RATINGS:
            raise Problems({"payload.rating": f"one of {', '.join(RATINGS)}"})
        return
    rating_payload(payload.get("rating"), channel=str(payload.get("channel", "village")),
                   indicators=payload.get("indicators"), comment=payload.get("comment", ""))
