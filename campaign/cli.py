"""`flask` commands: demo content, the queue worker, counts."""

from __future__ import annotations

import socket

import click
from flask import Flask, current_app

from campaign.extensions import db


def init_app(app: Flask) -> None:
    from campaign.console import cli as console_cli
    from campaign.kits import cli as kits_cli
    from campaign.organisations import cli as organisations_cli
    from campaign.rallies import cli as rallies_cli

    organisations_cli.init_app(app)
    rallies_cli.init_app(app)
    kits_cli.init_app(app)
    console_cli.init_app(app)

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing if content already exists.")
    def seed_demo(if_empty: bool) -> None:
        """Load the demo collective « Les 400 000 » from campaign/content/data/."""
        from campaign.content.services import is_empty, load_content

        if not is_empty():
            if if_empty:
                click.echo("Content already present: nothing loaded.")
                return
            raise click.ClickException("The database already has a collective.")
        collective = load_content()
        db.session.commit()
        click.echo(f"Loaded {collective.name}: {len(collective.demands)} demands.")

    @app.cli.command("worker")
    @click.option("--workers", default=2, show_default=True)
    def worker(workers: int) -> None:
        """Run the job queue: sends mail, folds counts every minute."""
        from campaign.core.queue import huey, set_worker_app
        from campaign.petition import tasks  # noqa: F401  (registers the periodic task)
        from campaign.rallies import tasks as rally_tasks  # noqa: F401

        # smtplib waits forever by default: a stuck SMTP server must fail (and be retried).
        socket.setdefaulttimeout(60)
        set_worker_app(current_app._get_current_object())  # type: ignore[attr-defined]
        huey.create_consumer(workers=workers, worker_type="thread", periodic=True).run()

    @app.cli.command("rollup-counts")
    def rollup_counts() -> None:
        """Fold the count ledger into the petitions now."""
        from campaign.petition.counting import rollup

        folded = rollup()
        db.session.commit()
        click.echo(f"Folded {folded} ledger rows.")

    @app.cli.command("purge-unconfirmed")
    def purge_unconfirmed_command() -> None:
        """Delete pending signatures whose link expired PURGE_UNCONFIRMED_DAYS ago."""
        from datetime import timedelta

        from campaign.petition.services import purge_unconfirmed
        from campaign.rallies import rsvp

        age = timedelta(days=current_app.config["PURGE_UNCONFIRMED_DAYS"])
        deleted = purge_unconfirmed(age)
        rsvps = rsvp.purge_unconfirmed(age)
        db.session.commit()
        click.echo(f"Deleted {deleted} unconfirmed signatures and {rsvps} unconfirmed RSVPs.")

    @app.cli.command("reconcile-counts")
    @click.option("--dry-run", is_flag=True, help="Report differences without repairing them.")
    def reconcile_counts(dry_run: bool) -> None:
        """Compare each petition's public count with COUNT(*) of confirmed signatures."""
        from campaign.petition.counting import reconcile

        drifts = reconcile(fix=not dry_run)
        db.session.commit()
        if not drifts:
            click.echo("All counts match COUNT(*).")
        for d in drifts:
            verb = "would be set" if dry_run else "set"
            click.echo(f"{d.slug}: counted {d.counted}, actual {d.actual} ({verb} to {d.actual})")
