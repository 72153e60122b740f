"""Development without SMTP: the queue keeps each email in instance/mail/, shown in the browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from campaign import create_app
from campaign.core.mail import send_now
from campaign.extensions import db, limiter


@pytest.fixture
def dev_app(app: Flask, tmp_path: Path) -> Iterator[Flask]:
    dev = create_app(
        {
            "CAMPAIGN_ENV": "development",
            "SECRET_KEY": "dev",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "MAIL_OUTBOX_DIR": str(tmp_path / "mail"),
            "MAIL_SUPPRESS_SEND": True,
        }
    )
    yield dev
    limiter.init_app(app)  # the limiter is shared: hand it back to the test app
    with dev.app_context():  # its own engine: close its connections now, not at GC
        db.engine.dispose()


def test_emails_are_kept_and_shown_in_development(dev_app: Flask, tmp_path: Path):
    with dev_app.app_context():
        send_now(
            {
                "to": "jeanne@example.org",
                "subject": "Confirmez votre signature",
                "text": "Cliquez : https://petition.example.org/signature/confirmer/abc",
                "html": "<p>Cliquez</p>",
            }
        )
    [kept] = list((tmp_path / "mail").glob("*.eml"))

    client = dev_app.test_client()
    index = client.get("/_dev/mail/").get_data(as_text=True)
    assert "Confirmez votre signature" in index
    page = client.get(f"/_dev/mail/{kept.stem}").get_data(as_text=True)
    assert 'href="https://petition.example.org/signature/confirmer/abc"' in page
    assert client.get("/_dev/mail/..%2Fsecret").status_code == 404
    assert client.get(f"/_dev/mail/{kept.stem}.eml").status_code == 404  # ids are alphanumeric


def test_the_mail_viewer_does_not_exist_outside_development(client):
    assert client.get("/_dev/mail/").status_code == 404
