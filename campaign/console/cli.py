"""`flask console create-admin`: the first account (admins invite the others);
`flask console rotate-totp-key`: TOTP secrets under a new TOTP_KEY."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from campaign.console import auth
from campaign.console.models import Role
from campaign.core.urls import public_url_for
from campaign.extensions import db


def init_app(app: Flask) -> None:
    group = AppGroup("console", help="The organisers' console.")

    @group.command("create-admin")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    def create_admin(email: str, name: str) -> None:
        """Create an admin and print the one-use link where they choose a password."""
        try:
            organiser, token = auth.invite(email, name, Role.ADMIN)
            db.session.commit()
        except IntegrityError as exc:
            raise click.ClickException(f"An account exists already for {email}.") from exc
        click.echo(f"Admin {organiser.email} created. Open within {auth.INVITE_HOURS} hours:")
        click.echo(public_url_for("console.accept_invitation", token=token))

    @group.command("rotate-totp-key")
    def rotate_totp_key() -> None:
        """Re-encrypt every TOTP secret with the first key of TOTP_KEY.

        To rotate: put the new key first and keep the old one after a comma
        (TOTP_KEY=new,old), run this, then drop the old key."""
        count = auth.rotate_totp_key()
        db.session.commit()
        click.echo(f"{count} TOTP secret(s) re-encrypted with the first key of TOTP_KEY.")

    app.cli.add_command(group)
