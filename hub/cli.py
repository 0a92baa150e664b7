"""``sanji hub ...``: set up the city hub's data directory and serve it."""

from __future__ import annotations

import os
from pathlib import Path

import click

from hub.settings import CONFIG_FILE, HubSettings
from shared.errors import DomainError

DEFAULT_PORT = 8000


@click.group("hub")
def hub_group() -> None:
    """The city hub (市级政务服务中心)."""


@hub_group.command("init")
@click.option("--data-dir", type=click.Path(path_type=Path), required=True)
@click.option("--site-code", default="431000", show_default=True)
@click.option("--name", "site_name", default="郴州市政务服务中心", show_default=True)
@click.option(
    "--database-url", default="", help="SQLAlchemy URL; default: hub.sqlite in the data dir"
)
@click.option(
    "--catalogue",
    "catalogue_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="a catalogue file (.yaml or .json); default: the sample",
)
@click.option("--public-base-url", default=f"http://127.0.0.1:{DEFAULT_PORT}", show_default=True)
def init_command(
    data_dir: Path,
    site_code: str,
    site_name: str,
    database_url: str,
    catalogue_file: Path | None,
    public_base_url: str,
) -> None:
    """Create the hub's data directory and settings."""
    from shared.catalogue_loader import load_catalogue

    try:
        settings = HubSettings(
            data_dir=data_dir,
            site_code=site_code,
            site_name=site_name,
            database_url=database_url,
            catalogue_file=str(catalogue_file.resolve()) if catalogue_file else "",
            public_base_url=public_base_url,
        )
        if catalogue_file is not None:
            catalogue = load_catalogue(catalogue_file)
            click.echo(f"catalogue v{catalogue.version} with {len(catalogue.items)} items")
    except DomainError as exc:
        raise click.ClickException(str(exc))
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if (data_dir / CONFIG_FILE).exists():
        click.echo(f"{data_dir / CONFIG_FILE} exists; keeping it")
    else:
        settings.write()
    click.echo(f"hub {site_code} ready in {data_dir}")


@hub_group.command("run")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def run_command(data_dir: Path, host: str, port: int, threads: int) -> None:
    """Serve the hub with waitress."""
    from waitress.server import create_server

    from hub.app import create_app

    try:
        settings = HubSettings.load(data_dir)
        app = create_app(settings)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    server = create_server(app, host=host, port=port, threads=threads, ident="sanji-hub")
    click.echo(f"hub {settings.site_code} serving on http://{host}:{server.effective_port}/")
    server.run()
