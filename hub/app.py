"""The hub's Flask app factory: ``create_app(settings)``.

The hub's collaborators live in :class:`HubServices` on ``app.extensions`` so views and CLI
commands reach them without module globals. Blueprints per area: the public service guide
(HTML), the catalogue API, health.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from hub.settings import HubSettings
from shared import api_errors
from shared.catalogue import Catalogue
from shared.catalogue_loader import load_catalogue, load_sample_catalogue

MAX_REQUEST_BYTES = 60 * 1024 * 1024
_EXTENSION = "sanji_hub"


@dataclass
class HubServices:
    """The hub's collaborators, built once per app."""

    settings: HubSettings
    catalogue: Catalogue


def services() -> HubServices:
    """The current app's :class:`HubServices`."""
    found: HubServices = current_app.extensions[_EXTENSION]
    return found


def _catalogue_for(settings: HubSettings) -> Catalogue:
    if settings.catalogue_file:
        return load_catalogue(Path(settings.catalogue_file))
    return load_sample_catalogue()


def create_app(settings: HubSettings) -> Flask:
    """Build the hub app for ``settings``."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        TESTING=settings.testing,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions[_EXTENSION] = HubServices(settings=settings, catalogue=_catalogue_for(settings))
    api_errors.init_app(app)

    from hub import catalogue_api, guide_views

    app.register_blueprint(guide_views.bp)
    app.register_blueprint(catalogue_api.bp)
    app.register_blueprint(catalogue_api.health_bp)
    app.jinja_env.globals.update(site=settings)
    return app
