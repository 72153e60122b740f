"""Rally emails are rendered by the queue worker, where there is no request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from campaign.extensions import db
from campaign.rallies import rsvp
from campaign.rallies.models import Rsvp, RsvpStatus
from tests.factories import make_rally


def test_the_worker_renders_the_rsvp_confirmation_in_french_without_a_request(app: Flask, outbox):
    with app.app_context():
        rally = make_rally()
        db.session.add(
            Rsvp(
                rally_id=rally.id,
                name="Jeanne Dupont",
                email="jeanne@example.org",
                email_canonical="jeanne@example.org",
                consent_version="v",
                status=RsvpStatus.PENDING,
                token_nonce="a" * 32,
                token_hash="b" * 64,
                token_expires_at=datetime.now(UTC) + timedelta(days=1),
            )
        )
        db.session.commit()
        long_date = f"{rally.date.day} "  # « samedi 20 mars 2027 »: the day, then the month

        # As the worker does: an app context, no request (core/queue.py app_context()).
        kind, mail = rsvp.notice(rally.id, "jeanne@example.org")
        db.session.commit()

    assert kind == "confirmation" and mail is not None
    assert "14\u00a0h\u00a030" in mail["text"]
    assert long_date in mail["text"]
    assert "/rassemblements/venue/" in mail["text"]
