"""The city window operators' pages at the hub (窗口工作台).

The pages themselves are :mod:`shared.window_views`, which township and county nodes serve
too; the hub only hands them its request session and its window context.
"""

from __future__ import annotations

from hub.app import services
from hub.db_session import get_session
from shared.window_views import window_views_blueprint

bp = window_views_blueprint(get_session, lambda: services().windows)
