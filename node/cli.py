"""``sanji node ...``: set up a node's data directory and serve it.

``init`` creates the data directory, the data key and the database (Alembic migrations);
until enrolment exists it takes the site's code, name and tier as options. ``run`` serves
the app with waitress.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import click
from flask import Flask

from node.settings import CONFIG_FILE, NodeSettings
from shared.errors import DomainError

DEFAULT_PORT = 8100


@click.group("node")
def node_group() -> None:
    """A village, township or county node."""


@node_group.command("init")
@click.option("--data-dir", type=click.Path(path_type=Path), required=True)
@click.option("--site-code", required=True, help="e.g. 431002001201 for a village")
@click.option("--name", "site_name", required=True, help="the site's name, e.g. 吉村代办点")
@click.option(
    "--tier",
    type=click.Choice(["village", "township", "county"]),
    default="village",
    show_default=True,
)
@click.option(
    "--public-base-url",
    default=f"http://127.0.0.1:{DEFAULT_PORT}",
    show_default=True,
    help="printed in receipts' QR codes",
)
@click.option(
    "--catalogue",
    "catalogue_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="a catalogue file (.yaml or .json); default: the sample",
)
def init_command(
    data_dir: Path,
    site_code: str,
    site_name: str,
    tier: str,
    public_base_url: str,
    catalogue_file: Path | None,
) -> None:
    """Create the data directory, the data key and the database."""
    from node.db_session import upgrade_database
    from node.sealing import create_key_file
    from shared.catalogue_loader import load_catalogue
    from shared.db import make_engine

    try:
        settings = NodeSettings(
            data_dir=data_dir,
            site_code=site_code,
            site_name=site_name,
            tier=tier,  # type: ignore[arg-type]
            public_base_url=public_base_url,
        )
    except DomainError as exc:
        raise click.BadParameter(str(exc))
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    settings.blob_dir.mkdir(exist_ok=True)
    create_key_file(settings.key_dir)
    if catalogue_file is not None:
        catalogue = load_catalogue(catalogue_file)
        target = data_dir / ("catalogue" + catalogue_file.suffix.replace(".yml", ".yaml"))
        target.write_bytes(catalogue_file.read_bytes())
        click.echo(f"catalogue v{catalogue.version} with {len(catalogue.items)} items")
    if (data_dir / CONFIG_FILE).exists():
        click.echo(f"{data_dir / CONFIG_FILE} exists; keeping it")
    else:
        settings.write()
    engine = make_engine(NodeSettings.load(data_dir).database_url)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    click.echo(f"node {site_code} ready in {data_dir}")


def _warm_search_keys(app: Flask) -> None:
    """Compute the catalogue's pinyin keys in the background, so the first search is quick."""
    from shared.catalogue import search_items

    catalogue = app.extensions["sanji_node"].catalogue
    threading.Thread(target=search_items, args=(catalogue, "a"), daemon=True).start()


@node_group.command("run")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
def run_command(data_dir: Path, host: str, port: int, threads: int) -> None:
    """Serve the node with waitress."""
    from waitress.server import create_server

    from node.app import create_app

    try:
        settings = NodeSettings.load(data_dir)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    app = create_app(settings)
    _warm_search_keys(app)
    server = create_server(app, host=host, port=port, threads=threads, ident="sanji-node")
    # Printed once the socket is bound, so a supervisor (or a test) knows the node answers.
    click.echo(f"node {settings.site_code} serving on http://{host}:{server.effective_port}/")
    server.run()
