"""Who is acting. Until agents' credentials arrive with enrolment, the node serves the
PC it runs on (bound to 127.0.0.1) and records actions as the site's agent.

This is the seam for logins: :func:`current_actor` is the only place views ask.
"""

from __future__ import annotations

from flask import g

from node.app import services


def current_actor() -> str:
    """The user recorded on events as ``role:username``: the logged-in user once logins
    exist."""
    actor = g.get("actor")
    if isinstance(actor, str):
        return actor
    return f"agent:agent@{services().settings.site_code}"
