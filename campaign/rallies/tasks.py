"""Rally jobs run by the queue worker: emails to participants."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from huey import crontab
from sqlalchemy import select

from campaign.core.mail import queue_mail
from campaign.core.queue import app_context, huey
from campaign.core.urls import public_url_for
from campaign.extensions import db

# Module imports, not names: the services defer these tasks, so they import each other.
from campaign.rallies import models, rsvp


@huey.task(retries=5, retry_delay=30, retry_backoff=2)
def notify_participant(rally_id: int, email_canonical: str) -> None:
    with app_context():
        rsvp.notify(rally_id, email_canonical)
        db.session.commit()


@huey.task(retries=5, retry_delay=30, retry_backoff=2)
def tell_participants_cancelled(rally_id: int) -> None:
    with app_context():
        rally = db.session.get(models.Rally, rally_id)
        if rally is None:
            return
        coming = db.session.execute(
            select(models.Rsvp).where(
                models.Rsvp.rally_id == rally_id,
                models.Rsvp.status != models.RsvpStatus.PENDING,
            )
        ).scalars()
        for person in coming:
            queue_mail(
                person.email,
                f"Rassemblement annulé : {rally.city}",
                "rallies/cancelled",
                rsvp=person,
                rally=rally,
                rally_url=public_url_for("rallies.show", rally_id=rally.id),
            )
        db.session.commit()


@huey.periodic_task(crontab(hour="3", minute="40"))
def purge_unconfirmed_rsvps() -> None:
    with app_context():
        rsvp.purge_unconfirmed(timedelta(days=current_app.config["PURGE_UNCONFIRMED_DAYS"]))
        db.session.commit()
