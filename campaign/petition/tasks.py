"""Petition jobs run by the queue worker: emails to signers, count roll-up, purge."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from huey import crontab

from campaign.core.queue import app_context, huey
from campaign.extensions import db

# A module import, not names: services defers notify_signer, so the two import each other.
from campaign.petition import counting, services


@huey.task(retries=5, retry_delay=30, retry_backoff=2)
def notify_signer(petition_id: int, email_canonical: str) -> None:
    with app_context():
        services.notify(petition_id, email_canonical)
        db.session.commit()


@huey.periodic_task(crontab(minute="*"))
def rollup_counts() -> None:
    with app_context():
        counting.rollup()
        db.session.commit()


@huey.periodic_task(crontab(hour="3", minute="30"))
def purge_unconfirmed_signatures() -> None:
    with app_context():
        days = current_app.config["PURGE_UNCONFIRMED_DAYS"]
        services.purge_unconfirmed(timedelta(days=days))
        db.session.commit()
