"""The city window operators' pages at the hub (窗口工作台).

The pages themselves are :mod:`shared.web.window_pages`, which township and county nodes serve
too; the hub only hands them its request session and its window context.
"""

from __future__ import annotations

from hub.db_session import get_session
from hub.services import services
from shared.web.window_pages import window_views_blueprint

bp = window_views_blueprint(get_session, lambda: services().windows)
