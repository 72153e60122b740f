"""Mail goes through the durable queue: never sent in the request, delivered over real SMTP,
retried with back-off when the server is down, and dropped with a rolled-back transaction."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from campaign.core.mail import deliver_mail, queue_mail
from campaign.core.queue import huey
from campaign.extensions import db
from tests.factories import make_petition, sign_through_form


class _Sink:
    """Keeps every message the SMTP server accepts."""

    def __init__(self) -> None:
        self.messages: list = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Sink]:
    """A real SMTP server on localhost, and Flask-Mail pointed at it."""
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    sink.port = controller.port
    state = app.extensions["mail"]
    for name, value in {
        "server": "127.0.0.1",
        "port": controller.port,
        "use_tls": False,
        "use_ssl": False,
        "username": None,
        "password": None,
        "suppress": False,
    }.items():
        monkeypatch.setattr(state, name, value)
    yield sink
    controller.stop()


def _due_tasks() -> list:
    """Take every scheduled task off the schedule as if its time had come."""
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    tasks = huey.read_schedule(later)
    for task in tasks:
        task.eta = None  # the wait is over: the worker runs it now
    return tasks


PAYLOAD = {
    "to": "jeanne@example.org",
    "subject": "Confirmez votre signature",
    "text": "Bonjour,\nconfirmez ici.",
    "html": "<p>Bonjour, confirmez ici.</p>",
}


def test_a_message_reaches_a_real_smtp_server_as_text_and_html(app: Flask, smtp: _Sink):
    with app.app_context():
        deliver_mail.call_local(PAYLOAD)
    [message] = smtp.messages
    assert message["To"] == "jeanne@example.org"
    assert message["Subject"] == "Confirmez votre signature"
    assert message.get_body(("plain",)).get_content().startswith("Bonjour")
    assert "<p>" in message.get_body(("html",)).get_content()


def test_signing_sends_nothing_during_the_request(
    app: Flask, client, smtp: _Sink, durable_queue: None
):
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    response = sign_through_form(client, slug)

    assert response.status_code == 303
    assert smtp.messages == []  # the request only queued a job
    assert huey.pending_count() == 1
    # What the worker does: run the job (it decides and renders the email), then the
    # delivery it queued in turn.
    ran = []
    with app.app_context():  # the worker's app (`flask worker` sets it)
        while huey.pending_count():
            task = huey.dequeue()
            ran.append(task.name)
            huey.execute(task)
    assert ran == ["notify_signer", "deliver_mail"]
    [message] = smtp.messages
    assert message["To"] == "jeanne@example.org"
    assert "/signature/confirmer/" in message.get_body(("plain",)).get_content()


def test_an_smtp_outage_delays_mail_with_growing_waits_and_loses_none(
    app: Flask, smtp: _Sink, durable_queue: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(app.extensions["mail"], "port", _free_port())  # nobody listens there
    with app.app_context():
        deliver_mail(PAYLOAD)
        huey.execute(huey.dequeue())
        [retry] = _due_tasks()  # not lost: waiting for its next try
        assert retry.retries == 6
        first_wait = retry.retry_delay

        huey.execute(retry)
        [second] = _due_tasks()
        assert second.retry_delay > first_wait  # back-off grows

        monkeypatch.setattr(app.extensions["mail"], "port", smtp.port)
        huey.execute(second)  # the server is back: delivered
    assert len(smtp.messages) == 1
    assert _due_tasks() == []


def test_mail_queued_in_a_rolled_back_transaction_is_never_sent(
    app: Flask, outbox, durable_queue: None
):
    with app.app_context():
        petition = make_petition()
        queue_mail(
            "a@example.org",
            "Sujet",
            "petition/already_signed",
            petition=petition,
            signature={"first_name": "Ana"},
            petition_url="https://petition.example.org/",
        )
        db.session.rollback()
        db.session.commit()
    assert huey.pending_count() == 0
    assert outbox == []


def test_a_queue_outage_after_the_commit_is_logged_not_shown_as_a_500(
    app: Flask, client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    def broken(payload: dict) -> None:
        raise ConnectionError("queue down")

    monkeypatch.setattr("campaign.petition.tasks.notify_signer", broken)
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    response = sign_through_form(client, slug)
    assert response.status_code == 303
    assert "Could not queue" in caplog.text
    assert "jeanne@" not in caplog.text  # no personal data in the log
