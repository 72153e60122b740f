"""Periodic work for petitions, run by the queue worker."""

from __future__ import annotations

from huey import crontab

from campaign.core.queue import app_context, huey
from campaign.extensions import db
from campaign.petition.counting import rollup


@huey.periodic_task(crontab(minute="*"))
def rollup_counts() -> None:
    with app_context():
        rollup()
        db.session.commit()
