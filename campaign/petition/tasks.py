"""Petition jobs run by the queue worker: emails to signers, count roll-up, purge."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from huey import crontab

from campaign.core import outbox
from campaign.core.mail import MailPayload
from campaign.core.queue import app_context, huey
from campaign.extensions import db
from campaign.petition import counting, services


@outbox.handler(services.NOTICE)
def signer_notice(payload: dict[str, Any], now: datetime) -> MailPayload | None:
    """The mail a signing or a resend asked for, decided when it is sent."""
    return services.notice(payload["petition_id"], payload["email"], now)[1]


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
