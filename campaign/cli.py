"""`flask` commands: demo content, the queue worker, counts."""

from __future__ import annotations

import socket
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

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
        """Load the demo collective « Les 400 000 » (campaign/content/data/les-400000.toml)."""
        from campaign.content.services import DEMO_FILE, is_empty

        if not is_empty():
            if if_empty:
                click.echo("Content already present: nothing loaded.")
                return
            raise click.ClickException("The database already has a collective.")
        _load(DEMO_FILE)

    content = AppGroup("content", help="The campaign's content as a TOML file.")

    @content.command("dump")
    @click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
    def dump(file: str) -> None:
        """Write the whole content (collective, demands, figures, petitions, days, rallies)."""
        from campaign.content.files import dump_text
        from campaign.content.services import current_collective

        collective = current_collective()
        if collective is None:
            raise click.ClickException("There is no content yet (flask content load FILE).")
        with click.open_file(file, "w", encoding="utf-8") as out:
            out.write(dump_text(collective))

    @content.command("load")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def load(file: Path) -> None:
        """Create or update the content from FILE, by slug, all or nothing."""
        _load(file)

    app.cli.add_command(content)

    @app.cli.command("worker")
    @click.option(
        "--workers",
        type=int,
        help="Threads sending mail (default: QUEUE_THREADS). Each holds an SMTP and a "
        "database connection; sending mostly waits on both, so threads, not cores, set the pace.",
    )
    @click.option(
        "--relay/--no-relay", default=True, help="Also hand the outbox's mails to the queue."
    )
    @click.option(
        "--periodic/--no-periodic",
        default=True,
        help="Also run the periodic jobs (off where timers run them: deploy/systemd).",
    )
    def worker(workers: int | None, relay: bool, periodic: bool) -> None:
        """Run the job queue (sends mail, folds counts every minute) and the outbox relay."""
        from campaign.core import relay as outbox_relay
        from campaign.core import workers as worker_beats
        from campaign.core.queue import huey, set_worker_app

        # smtplib waits forever by default: a stuck SMTP server must fail (and be retried).
        socket.setdefaulttimeout(60)
        app_object = current_app._get_current_object()  # type: ignore[attr-defined]
        set_worker_app(app_object)
        if relay:
            outbox_relay.start(app_object)
        beats, beating = worker_beats.start(app_object)
        threads = workers or current_app.config["QUEUE_THREADS"]
        try:
            huey.create_consumer(workers=threads, worker_type="thread", periodic=periodic).run()
        finally:
            beats.set()
            beating.join(10)

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

    @app.cli.command("purge-outbox")
    def purge_outbox_command() -> None:
        """Delete sent mails after a week, failed ones after a month."""
        from campaign.core import outbox

        deleted = outbox.purge()
        db.session.commit()
        click.echo(f"Deleted {deleted} outbox rows.")

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


def _load(path: Path) -> None:
    from campaign.content.files import ContentError, load_text

    try:
        collective = load_text(path.read_text(encoding="utf-8"))
    except (ContentError, UnicodeDecodeError) as exc:
        db.session.rollback()
        problems = exc.problems if isinstance(exc, ContentError) else [f"not UTF-8 text: {exc}"]
        raise click.ClickException(
            f"{path} was not loaded, nothing changed:\n  " + "\n  ".join(problems)
        ) from exc
    db.session.commit()
    from campaign.core import pagecache

    pagecache.forget()  # the running site's workers show it on their next request
    click.echo(
        f"Loaded {collective.name}: {len(collective.demands)} demands, "
        f"{len(collective.key_figures)} key figures."
    )
