"""The text messages a citizen gets about their case (the notification of the acceptance,
of the one-time supplement notice and of the result), one template per event.

Templates are ``str.format`` texts over the facts :data:`FACTS` names; a city may replace
any of them in ``sms_templates.json`` in the hub's data directory, checked by
:func:`checked_templates` (an unknown event or fact is refused at start, not at 3 a.m.).
A text names the case by its acceptance number and item only: nothing more personal goes
to the gateway than the phone number it must have.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from types import MappingProxyType

from shared.domain.errors import InvalidInput

NOTIFIED_EVENTS: Mapping[str, str] = MappingProxyType({
    "accepted": "accepted",
    "supplement_requested": "supplement_requested",
    "result_issued": "result_issued",
})
"""The events a citizen is told of, and the template each uses."""

FACTS = frozenset({"centre", "item", "acceptance_no", "deadline", "missing", "outcome",
                   "status_url"})

DEFAULT_TEMPLATES: Mapping[str, str] = MappingProxyType({
    "accepted": "【{centre}】您申请的{item}已受理,受理编号{acceptance_no},"
                "办结期限{deadline}。进度查询:{status_url}",
    "supplement_requested": "【{centre}】您申请的{item}(受理编号{acceptance_no})需补正"
                            "材料:{missing}。请一次性补齐后交至受理点。",
    "result_issued": "【{centre}】您申请的{item}(受理编号{acceptance_no})已办结,"
                     "结果:{outcome}。请按约定方式领取。",
})

MAX_TEXT = 300
"""Characters a text may have after filling in (a few SMS segments at most)."""


def checked_templates(overrides: object) -> dict[str, str]:
    """The defaults with ``overrides`` (a JSON object: event -> template) laid over them;
    :class:`InvalidInput` naming the first bad entry."""
    templates = dict(DEFAULT_TEMPLATES)
    if not isinstance(overrides, Mapping):
        raise InvalidInput("sms_templates", "must be an object of event -> template")
    for event, text in overrides.items():
        if event not in DEFAULT_TEMPLATES:
            raise InvalidInput(f"sms_templates.{event}",
                               f"not an event a citizen is told of: {sorted(DEFAULT_TEMPLATES)}")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT:
            raise InvalidInput(f"sms_templates.{event}", f"a text of 1-{MAX_TEXT} characters")
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        except ValueError as exc:
            raise InvalidInput(f"sms_templates.{event}", f"not a template: {exc}") from None
        if not names <= FACTS:
            raise InvalidInput(f"sms_templates.{event}",
                               f"unknown facts {sorted(names - FACTS)}; known: {sorted(FACTS)}")
        templates[str(event)] = text
    return templates


def render(template: str, facts: Mapping[str, str]) -> str:
    """The text for ``facts`` (a fact not given shows empty), at most :data:`MAX_TEXT`."""
    values = {name: str(facts.get(name, "")) for name in FACTS}
    return template.format(**values)[:MAX_TEXT]
