"""Rally mails built by the queue worker, and the nightly purge."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from huey import crontab

from campaign.core import outbox
from campaign.core.mail import MailPayload, render_mail
from campaign.core.queue import app_context, huey
from campaign.core.urls import public_url_for
from campaign.extensions import db
from campaign.rallies import models, rsvp, services


@outbox.handler(rsvp.NOTICE)
def participant_notice(payload: dict[str, Any], now: datetime) -> MailPayload | None:
    return rsvp.notice(payload["rally_id"], payload["email"], now)[1]


@outbox.handler(services.CANCELLED)
def participant_told_cancelled(payload: dict[str, Any], now: datetime) -> MailPayload | None:
    """Nothing for a participant who withdrew since (their row is gone)."""
    person = db.session.get(models.Rsvp, payload["rsvp_id"])
    if person is None:
        return None
    rally = person.rally
    return render_mail(
        person.email,
        f"Rassemblement annulé : {rally.city}",
        "rallies/cancelled",
        rsvp=person,
        rally=rally,
        rally_url=public_url_for("rallies.show", rally_id=rally.id),
    )


@huey.periodic_task(crontab(hour="3", minute="40"))
def purge_unconfirmed_rsvps() -> None:
    with app_context():
        rsvp.purge_unconfirmed(timedelta(days=current_app.config["PURGE_UNCONFIRMED_DAYS"]))
        db.session.commit()
