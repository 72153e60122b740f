"""Periodic work for petitions, run by the queue worker."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from huey import crontab

from campaign.core.queue import app_context, huey
from campaign.extensions import db
from campaign.petition.counting import rollup
from campaign.petition.services import purge_unconfirmed


@huey.periodic_task(crontab(minute="*"))
def rollup_counts() -> None:
    with app_context():
        rollup()
        db.session.commit()


@huey.periodic_task(crontab(hour="3", minute="30"))
def purge_unconfirmed_signatures() -> None:
    with app_context():
        days = current_app.config["PURGE_UNCONFIRMED_DAYS"]
        purge_unconfirmed(timedelta(days=days))
        db.session.commit()
