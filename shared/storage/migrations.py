"""Alembic upgrades without an ini file.

The hub and the nodes each keep their migrations in their own package and their own version
table; both also create the shared ``sync_`` and ``acct_`` tables. :class:`Migrations` says
which tables an app's migrations own, so autogenerate never touches the other app's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

SHARED_PREFIXES = ("sync_", "acct_")


@dataclass(frozen=True, slots=True)
class Migrations:
    """An app's Alembic migrations: where they are and which tables they own."""

    directory: Path
    prefixes: tuple[str, ...]

    def owns(self, name: str | None) -> bool:
        return bool(name) and any(str(name).startswith(p) for p in self.prefixes)

    def include_object(
        self, obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table":
            return self.owns(name)
        table = getattr(obj, "table", None)
        return table is None or self.owns(str(table.name))

    def config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        return config

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        """Bring the app's tables to ``revision`` (the latest by default)."""
        config = self.config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
