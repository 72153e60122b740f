"""`flask rallies …`: announce mobilisation days and list rallies (until the console)."""

from __future__ import annotations

import re
from datetime import date

import click
from flask import Flask
from flask.cli import AppGroup

from campaign.content.services import current_collective
from campaign.extensions import db
from campaign.places.gazetteer import fold
from campaign.rallies import services
from campaign.rallies.models import MobilisationDay


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(title)).strip("-")[:80] or "journee"


def init_app(app: Flask) -> None:
    group = AppGroup("rallies", help="Mobilisation days and rallies.")

    @group.command("add-day")
    @click.option("--date", "when", required=True, type=click.DateTime(["%Y-%m-%d"]))
    @click.option("--title", required=True)
    @click.option("--slug", default="", help="URL name; made from the title by default.")
    @click.option("--presentation", default="")
    def add_day(when: click.DateTime, title: str, slug: str, presentation: str) -> None:
        """Announce a mobilisation day: members can then propose rallies for it."""
        collective = current_collective()
        if collective is None:
            raise click.ClickException("No collective yet: run flask seed-demo or load content.")
        slug = slug or _slug(title)
        if services.get_day(slug) is not None:
            raise click.ClickException(f"A day named {slug} exists already.")
        day_date: date = when.date()  # type: ignore[attr-defined]
        db.session.add(
            MobilisationDay(
                collective=collective,
                slug=slug,
                title=title.strip(),
                date=day_date,
                presentation=presentation.strip(),
            )
        )
        db.session.commit()
        click.echo(f"Day {slug} on {day_date:%Y-%m-%d}: /mobilisations/{slug}")

    @group.command("list")
    def list_rallies() -> None:
        """Every rally, with its status."""
        for rally in services.all_rallies():
            click.echo(
                f"{rally.id}\t{rally.date:%Y-%m-%d}\t{rally.status.value}\t{rally.city}"
                f"\t{rally.departement}\t{rally.day.slug}"
            )

    app.cli.add_command(group)
