"""The ``sanji`` console command: one entry point for the hub, the nodes, the demo and audits.

Each area owns its own click group (``hub.cli``, ``node.cli``, ...); this module only mounts
them, importing each lazily so that ``sanji node ...`` on a village PC never loads the hub.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# command name -> "module:attribute" of the click command that implements it
SUBCOMMANDS: dict[str, str] = {
    "hub": "hub.cli:hub_group",
    "node": "node.cli:node_group",
    "demo": "hub.demo:demo_command",
    "audit": "audit_cli:audit_group",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            return _unavailable(cmd_name, str(exc))
        command: Any = getattr(module, attribute)
        return command  # type: ignore[no-any-return]


def _unavailable(name: str, why: str) -> click.Command:
    """A stand-in that explains why a part of the command is missing from this install."""

    def fail() -> None:
        raise click.ClickException(f"'{name}' is not available in this install: {why}")

    return click.Command(name, callback=fail, help=f"(not available: {why})")


@click.group(cls=LazyGroup)
@click.version_option(package_name="sanji")
def cli() -> None:
    """Sanji 三级: tiered, offline-first case platform for government service centres."""


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
