"""`flask organisations …`: moderate applications from the command line (the console's
/console/moderation does the same in a browser)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from campaign.extensions import db
from campaign.organisations import services


def init_app(app: Flask) -> None:
    group = AppGroup("organisations", help="Member organisations: moderation.")

    @group.command("pending")
    def pending() -> None:
        """List applications waiting for a decision."""
        rows = services.pending_applications()
        if not rows:
            click.echo("No application waiting.")
        for o in rows:
            click.echo(f"{o.id}\t{o.name}\t{o.kind.value}\t{o.departement}\t{o.identifier or '-'}")

    def _decide(organisation_id: int, approve: bool, by: str, reason: str) -> None:
        try:
            organisation = services.decide(organisation_id, approve, decided_by=by, reason=reason)
        except services.NotPendingError as exc:
            raise click.ClickException(f"Application {organisation_id} is not pending.") from exc
        db.session.commit()
        click.echo(f"{organisation.name}: {organisation.status.value}")

    @group.command("approve")
    @click.argument("organisation_id", type=int)
    @click.option("--by", required=True, help="Who decides (kept in the record).")
    def approve(organisation_id: int, by: str) -> None:
        """Approve an application; its contact is emailed."""
        _decide(organisation_id, True, by, "")

    @group.command("reject")
    @click.argument("organisation_id", type=int)
    @click.option("--by", required=True, help="Who decides (kept in the record).")
    @click.option("--reason", required=True, help="Sent to the organisation.")
    def reject(organisation_id: int, by: str, reason: str) -> None:
        """Reject an application with a reason; its contact is emailed."""
        _decide(organisation_id, False, by, reason)

    app.cli.add_command(group)
