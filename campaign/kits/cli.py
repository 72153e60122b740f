"""`flask kits build`: render every current kit file ahead of demand."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import AppGroup

from campaign.content.services import current_collective
from campaign.kits import services


def init_app(app: Flask) -> None:
    group = AppGroup("kits", help="The communication kit.")

    @group.command("build")
    def build() -> None:
        """Render every PDF, preview, social image, QR code and ZIP of the current kit."""
        collective = current_collective()
        if collective is None:
            raise click.ClickException("No collective yet: run flask seed-demo or load content.")
        started = time.perf_counter()
        count = services.prebuild(collective)
        click.echo(f"Built {count} kits in {time.perf_counter() - started:.1f} s.")

    app.cli.add_command(group)
