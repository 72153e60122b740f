"""The outbox: every mail is a row committed with what it is about, and leaves from the worker.

A signing sends nothing and queues nothing during the request; the relay hands due rows to
the mail job, which claims, sends and marks each once, over a real local SMTP server. A job
run twice, two relays, a worker killed between the claim and the send, a lost job, the queue
or the SMTP server down: each mail still leaves exactly once, in time, and never vanishes.
Resending tells the truth (recorded, too many, closed) the same way for any address; rows
are purged when they no longer help; on PostgreSQL the signing is one statement and wakes
the relay by NOTIFY.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy

import psycopg
import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text

from campaign.core import health, outbox, relay
from campaign.core import mail as mail_module
from campaign.core.db import utcnow
from campaign.core.mail import deliver_outbox, hand_over_due, queue_mail
from campaign.core.outbox import (
    CHANNEL,
    FIRST_RETRY,
    LEASE,
    MAX_ATTEMPTS,
    OutboxMessage,
    OutboxStatus,
    QueueUnavailableError,
)
from campaign.core.queue import huey
from campaign.extensions import db
from campaign.petition import services
from campaign.petition.models import PetitionStatus, Signature
from tests.factories import (
    CONFIRM_LINK,
    SIGN_FORM,
    comparable,
    make_petition,
    outbox_rows,
    run_worker,
)

# --- a real SMTP server, a clock, and forms posted as a browser would ---------------------


class _Sink:
    """Keeps every message the SMTP server accepts; refuses the recipients in `refuse`."""

    def __init__(self) -> None:
        self.messages: list = []
        self.peers: list = []  # the client's address per message: one per SMTP connection
        self.refuse: set[str] = set()
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.peers.append(session.peer)
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


def _smtp_down(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.extensions["mail"], "port", _free_port())  # nobody listens there


def _smtp_back(app: Flask, monkeypatch: pytest.MonkeyPatch, sink: _Sink) -> None:
    monkeypatch.setattr(app.extensions["mail"], "port", sink.port)


class _Clock:
    """The outbox's clock (relay, claims, back-off, retry), moved by hand. It starts a minute
    ahead, so that the rows a test writes (at the real time) are already due."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr("campaign.core.outbox.utcnow", fake)
    return fake


_INPUT = re.compile(r"<input\b[^>]*>")
_ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def _form_data(client: FlaskClient, page: str, fields: dict[str, str]) -> dict[str, str]:
    """What a browser posts from the form on `page`: its hidden fields, and `fields`."""
    hidden = {}
    for tag in _INPUT.findall(client.get(page).text):
        attributes = dict(_ATTRIBUTE.findall(tag))
        if attributes.get("type") == "hidden" and "name" in attributes:
            hidden[attributes["name"]] = attributes.get("value", "")
    return {**hidden, **fields}


def _sign_data(client: FlaskClient, slug: str, email: str) -> dict[str, str]:
    return _form_data(client, f"/petitions/{slug}", {**SIGN_FORM, "email": email})


def _sign(client: FlaskClient, slug: str, email: str = "jeanne@example.org"):  # type: ignore[no-untyped-def]
    return client.post(f"/petitions/{slug}", data=_sign_data(client, slug, email))


def _resend(client: FlaskClient, slug: str, email: str):  # type: ignore[no-untyped-def]
    data = _form_data(client, f"/petitions/{slug}/merci", {"email": email})
    return client.post(f"/petitions/{slug}/renvoyer", data=data)


def _petition(app: Flask, **kwargs: object) -> str:
    with app.app_context():
        slug = make_petition(**kwargs).slug  # type: ignore[arg-type]
        db.session.commit()
    return slug


def _rows(app: Flask) -> list[OutboxMessage]:
    """The outbox's rows, oldest first, as detached snapshots."""
    with app.app_context():
        rows = list(db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
        db.session.expunge_all()
    return rows


def _only_row(app: Flask) -> OutboxMessage:
    [row] = _rows(app)
    return row


def _emails_sent(app: Flask, email: str) -> int:
    with app.app_context():
        return db.session.execute(
            select(Signature.emails_sent).where(Signature.email_canonical == email)
        ).scalar_one()


def _run_jobs(app: Flask) -> int:
    """What the queue's consumer does: run every job waiting, in the worker's app."""
    ran = 0
    with app.app_context():
        while huey.pending_count():
            huey.execute(huey.dequeue())
            ran += 1
    return ran


def _relay_at(app: Flask, when: datetime) -> int:
    """One relay round as if it ran at `when`; returns how many rows it handed over."""
    with app.app_context():
        return outbox.hand_over(deliver_outbox, now=when)


def _app_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the app and its queue logged (not the test's SMTP server, which logs addresses)."""
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("campaign", "huey"))
    )


def _text_of(message) -> str:  # type: ignore[no-untyped-def]
    return message.get_body(("plain",)).get_content()


# --- 1. the request only writes; the worker sends --------------------------------------------


def test_signing_writes_a_row_and_the_worker_delivers_it_over_smtp(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None
):
    slug = _petition(app)

    response = _sign(client, slug)

    assert response.status_code == 303
    [row] = _rows(app)
    assert (row.kind, row.status, row.attempts) == (services.NOTICE, OutboxStatus.PENDING, 0)
    assert huey.pending_count() == 0  # the request did not touch the queue
    assert smtp.messages == []

    with app.app_context():
        assert hand_over_due() == 1  # the relay
    assert huey.pending_count() == 1
    assert _only_row(app).status is OutboxStatus.QUEUED
    assert _run_jobs(app) == 1

    [message] = smtp.messages
    assert message["To"] == "jeanne@example.org"
    assert CONFIRM_LINK.search(_text_of(message))
    row = _only_row(app)
    assert row.status is OutboxStatus.SENT
    assert row.recipient == "jeanne@example.org"
    assert row.subject == message["Subject"]
    assert row.subject.startswith("Confirmez votre signature")
    assert row.sent_at is not None and row.lease_until is None
    assert _emails_sent(app, "jeanne@example.org") == 1


# --- 2. once, whatever runs twice --------------------------------------------------------------


def test_a_mail_job_run_twice_sends_once(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None
):
    slug = _petition(app)
    _sign(client, slug)
    with app.app_context():
        hand_over_due()
        task = huey.dequeue()
        huey.execute(task)
        huey.execute(task)  # delivered twice by the queue (a retried ack, a replayed job)
        deliver_outbox.call_local(_only_row(app).id)  # and a third time, by hand

    assert len(smtp.messages) == 1
    row = _only_row(app)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 1)
    assert _emails_sent(app, "jeanne@example.org") == 1


def test_relay_rounds_never_queue_a_row_twice(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None
):
    slug = _petition(app)
    _sign(client, slug)
    with app.app_context():
        assert hand_over_due() == 1
        assert hand_over_due() == 0  # queued, its lease running: not handed over again
    assert huey.pending_count() == 1
    assert _run_jobs(app) == 1
    with app.app_context():
        assert hand_over_due() == 0  # sent: never again
    assert huey.pending_count() == 0
    assert _relay_at(app, utcnow() + timedelta(days=1)) == 0  # not even much later
    assert len(smtp.messages) == 1


def test_two_relays_racing_for_the_same_rows_hand_each_over_once(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None
):
    """Relay B runs (and its job sends) between relay A's SELECT of the due rows and A's
    UPDATE: A must not queue the row B already sent."""
    slug = _petition(app)
    _sign(client, slug)
    with app.app_context():
        engine = db.engine
    handed: list[int] = []  # by relay B, then by relay A
    staged: list[bool] = []

    def other_relay(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not staged and statement.lstrip().upper().startswith("SELECT OUTBOX.ID"):
            staged.append(True)
            with app.app_context():  # another worker: its own session and connection
                handed.append(hand_over_due())  # (0 on PostgreSQL: A's rows are locked)
            _run_jobs(app)

    event.listen(engine, "after_cursor_execute", other_relay)
    try:
        with app.app_context():
            handed.append(hand_over_due())
    finally:
        event.remove(engine, "after_cursor_execute", other_relay)
    _run_jobs(app)

    assert len(handed) == 2, "the race was not staged"
    assert len(smtp.messages) == 1
    assert sum(handed) == 1
    assert _only_row(app).status is OutboxStatus.SENT


def test_two_jobs_for_one_row_at_the_same_moment_send_once(
    app: Flask, client: FlaskClient, durable_queue: None
):
    slug = _petition(app)
    _sign(client, slug)
    with app.app_context():
        hand_over_due()
    message_id = _only_row(app).id
    sent: list[str] = []
    start = threading.Barrier(2, timeout=10)
    outcomes: list[OutboxStatus | None] = []

    def job() -> None:
        with app.app_context():
            start.wait()
            outcomes.append(outbox.deliver(message_id, lambda mail: sent.append(mail["to"])))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sent == ["jeanne@example.org"]
    assert sorted(outcomes, key=str) == [None, OutboxStatus.SENT]


# --- 3. a killed worker, a lost job --------------------------------------------------------


class _Killed(BaseException):
    """The worker process dies (SIGKILL, out of memory): nothing after this line runs."""


def _kill_worker(mail: object) -> None:
    raise _Killed


def test_a_worker_killed_after_its_claim_leaves_the_row_to_be_sent_once_at_lease_end(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None, clock: _Clock
):
    slug = _petition(app)
    _sign(client, slug)
    message_id = _only_row(app).id
    with app.app_context():
        assert hand_over_due() == 1
        huey.dequeue()  # the job the dead worker had taken
        with pytest.raises(_Killed):
            outbox.deliver(message_id, _kill_worker)
    row = _only_row(app)
    assert (row.status, row.attempts) == (OutboxStatus.SENDING, 1)
    assert row.lease_until == clock.now + LEASE
    assert _emails_sent(app, "jeanne@example.org") == 0  # its allowance died with it

    assert _relay_at(app, clock.now + LEASE - timedelta(seconds=1)) == 0  # maybe still sending
    assert huey.pending_count() == 0

    clock.advance(LEASE + timedelta(seconds=1))
    assert run_worker(app) == 1
    assert run_worker(app) == 0
    assert len(smtp.messages) == 1
    assert CONFIRM_LINK.search(_text_of(smtp.messages[0]))
    row = _only_row(app)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)
    assert _emails_sent(app, "jeanne@example.org") == 1


def test_a_queued_row_whose_job_was_lost_is_handed_over_again_at_lease_end(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None, clock: _Clock
):
    slug = _petition(app)
    _sign(client, slug)
    with app.app_context():
        assert hand_over_due() == 1
    huey.flush()  # the queue's store lost the job (flushed, failed over)
    assert _only_row(app).status is OutboxStatus.QUEUED

    clock.advance(LEASE - timedelta(seconds=1))
    assert run_worker(app) == 0  # the lease still runs: not queued twice
    clock.advance(timedelta(seconds=2))
    assert run_worker(app) == 1
    assert run_worker(app) == 0
    assert len(smtp.messages) == 1
    assert _only_row(app).status is OutboxStatus.SENT


# --- 4. the queue down -----------------------------------------------------------------------


def test_with_the_queue_down_signing_works_and_the_mail_waits_in_the_outbox(
    app: Flask,
    client: FlaskClient,
    smtp: _Sink,
    durable_queue: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    calls: list[object] = []

    def unreachable(data: bytes, priority: object = None) -> None:
        calls.append(data)
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    slug = _petition(app)
    caplog.set_level(logging.INFO)
    with monkeypatch.context() as down:
        down.setattr(huey.storage, "enqueue", unreachable)
        down.setattr(health, "_last", {})  # the once-a-minute warning not yet given

        response = _sign(client, slug)
        assert response.status_code == 303
        assert calls == []  # the request never called the queue
        assert _only_row(app).status is OutboxStatus.PENDING

        with app.app_context(), pytest.raises(QueueUnavailableError):
            hand_over_due()
        assert len(calls) == 1
        row = _only_row(app)
        assert (row.status, row.lease_until) == (OutboxStatus.PENDING, None)  # back, not lost

        assert relay._round(app) == 0  # the relay's round: logged, not raised
        assert "Mail queue unreachable" in _app_log(caplog)
        assert _only_row(app).status is OutboxStatus.PENDING

    # The queue is back: the next round hands the row over, the mail leaves.
    assert run_worker(app) == 1
    [message] = smtp.messages
    assert message["To"] == "jeanne@example.org"
    assert _only_row(app).status is OutboxStatus.SENT
    for personal in ("jeanne", "Jeanne", "Dupont", "75011"):
        assert personal not in _app_log(caplog)


# --- 5. the SMTP server down -----------------------------------------------------------------


def test_with_smtp_down_the_mail_backs_off_then_fails_then_is_retried_and_sent(
    app: Flask,
    client: FlaskClient,
    smtp: _Sink,
    durable_queue: None,
    clock: _Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    slug = _petition(app)
    _sign(client, slug)
    _smtp_down(app, monkeypatch)

    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert run_worker(app) == 1
        row = _only_row(app)
        assert row.attempts == attempt
        assert row.last_error and row.last_error.startswith("ConnectionRefusedError")
        assert row.lease_until is None
        assert _emails_sent(app, "jeanne@example.org") == 0  # a failed send takes nothing
        if attempt == MAX_ATTEMPTS:
            assert row.status is OutboxStatus.FAILED
            break
        assert row.status is OutboxStatus.PENDING
        wait = row.next_attempt_at - clock.now
        waits.append(wait)
        clock.advance(wait - timedelta(seconds=1))
        assert run_worker(app) == 0  # not before its time
        clock.advance(timedelta(seconds=1))

    assert waits == [FIRST_RETRY * 2**n for n in range(MAX_ATTEMPTS - 1)]
    assert waits[:3] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert smtp.messages == []
    clock.advance(timedelta(days=1))
    assert run_worker(app) == 0  # failed: it waits for a person
    with app.app_context():
        assert outbox.status_counts()[OutboxStatus.FAILED] == 1
        assert [r.id for r in outbox.failed()] == [row.id]

    _smtp_back(app, monkeypatch, smtp)
    with app.app_context():
        assert outbox.retry(row.id) == 1
        db.session.commit()
    assert _only_row(app).attempts == 0  # a new series
    assert run_worker(app) == 1

    [message] = smtp.messages
    assert CONFIRM_LINK.search(_text_of(message))
    row = _only_row(app)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 1, None)
    assert _emails_sent(app, "jeanne@example.org") == 1
    assert "jeanne" not in _app_log(caplog)


def test_a_duplicate_job_does_not_jump_the_back_off(
    app: Flask,
    client: FlaskClient,
    smtp: _Sink,
    durable_queue: None,
    clock: _Clock,
    monkeypatch: pytest.MonkeyPatch,
):
    """The relay queued the row again when its lease ended, with the first job still in the
    queue: the first fails; the second, right after, must leave the row to its wait."""
    slug = _petition(app)
    _sign(client, slug)
    _smtp_down(app, monkeypatch)
    with app.app_context():
        assert hand_over_due() == 1
    clock.advance(LEASE + timedelta(seconds=1))
    with app.app_context():
        assert hand_over_due() == 1  # the first job looked lost
    assert huey.pending_count() == 2

    assert _run_jobs(app) == 2
    row = _only_row(app)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert row.next_attempt_at == clock.now + FIRST_RETRY

    _smtp_back(app, monkeypatch, smtp)
    clock.advance(FIRST_RETRY)
    assert run_worker(app) == 1
    assert len(smtp.messages) == 1


def test_a_refused_recipient_is_recorded_on_the_row_but_not_written_to_the_log(
    app: Flask,
    client: FlaskClient,
    smtp: _Sink,
    durable_queue: None,
    caplog: pytest.LogCaptureFixture,
):
    slug = _petition(app)
    _sign(client, slug, "refused@example.org")
    smtp.refuse.add("refused@example.org")
    caplog.set_level(logging.INFO)

    assert run_worker(app) == 1

    row = _only_row(app)
    assert row.status is OutboxStatus.PENDING
    assert row.recipient == "refused@example.org"
    assert "SMTPRecipientsRefused" in (row.last_error or "")
    assert "550" in (row.last_error or "")  # the console shows why
    assert "SMTPRecipientsRefused" in _app_log(caplog)  # the log says something failed…
    assert "refused@" not in _app_log(caplog)  # …without the address
    assert smtp.messages == []


# --- 6. a rolled-back transaction --------------------------------------------------------------


def test_a_mail_recorded_in_a_rolled_back_transaction_leaves_no_row_and_no_mail(
    app: Flask, outbox: list
):
    with app.app_context():
        petition = make_petition()
        queue_mail(
            "ana@example.org",
            "Sujet",
            "petition/already_signed",
            petition=petition,
            signature={"first_name": "Ana"},
            petition_url="https://petition.example.org/",
            withdraw_url="https://petition.example.org/retirer",
        )
        services.sign(
            petition, services.SignatureInput("Ana", "Martin", "ana@example.org", postcode="69001")
        )
        db.session.rollback()
        db.session.commit()  # nothing left to commit, nothing to send

    assert outbox_rows(app) == 0
    assert outbox == []
    with app.app_context():
        assert db.session.execute(select(Signature.id)).first() is None


# --- 7. resending ------------------------------------------------------------------------------


_answer = comparable


def test_a_resend_records_a_row_and_the_worker_sends_the_same_link(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None
):
    slug = _petition(app)
    _sign(client, slug)
    run_worker(app)

    response = _resend(client, slug, "Jeanne@Example.org")

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/petitions/{slug}/merci?renvoi=ok")
    assert "Demande enregistrée" in client.get(response.headers["Location"]).text
    assert outbox_rows(app) == 2
    assert run_worker(app) == 1
    first, second = smtp.messages
    assert (
        CONFIRM_LINK.search(_text_of(first)).group(0)  # type: ignore[union-attr]
        == CONFIRM_LINK.search(_text_of(second)).group(0)  # type: ignore[union-attr]
    )


def test_resend_allowance_counts_requests_whether_or_not_the_address_signed(
    app: Flask, client: FlaskClient, durable_queue: None
):
    slug = _petition(app)
    _sign(client, slug, "signed@example.org")  # the signing is the first request
    signed = [_resend(client, slug, "signed@example.org") for _ in range(services.MAX_EMAILS - 1)]
    never = [_resend(client, slug, "never@example.org") for _ in range(services.MAX_EMAILS - 1)]
    assert outbox_rows(app) == 2 * services.MAX_EMAILS - 1
    assert all(_answer(r) == _answer(signed[0]) for r in signed + never)  # the same bytes
    assert signed[0].status_code == 303

    refused = {}
    for email in ("signed@example.org", "never@example.org"):
        response = _resend(client, slug, email)
        assert response.status_code == 429
        page = response.text
        assert '<html lang="fr">' in page
        assert "Plusieurs e-mails ont déjà été demandés pour cette adresse" in page
        refused[email] = response.get_data().replace(email.encode(), b"ADDRESS")
    assert outbox_rows(app) == 2 * services.MAX_EMAILS - 1  # no new row
    assert refused["signed@example.org"] == refused["never@example.org"]


def test_a_strangers_resends_are_answered_the_same_whether_or_not_the_address_signed(
    app: Flask, client: FlaskClient, durable_queue: None
):
    slug = _petition(app)
    _sign(client, slug, "signed@example.org")  # by its owner; the stranger does not know

    def probe(email: str) -> list[int]:
        return [_resend(client, slug, email).status_code for _ in range(services.MAX_EMAILS)]

    assert probe("signed@example.org") == probe("never@example.org")


def test_resend_for_a_closed_petition_says_so_in_french_and_records_nothing(
    app: Flask, client: FlaskClient, durable_queue: None
):
    slug = _petition(app)
    _sign(client, slug, "signed@example.org")
    with app.app_context():  # closed by its organisers since
        services.get_petition(slug).status = PetitionStatus.CLOSED  # type: ignore[union-attr]
        db.session.commit()
        services.forget_cached(slug)
    rows = outbox_rows(app)

    answers = {
        email: _resend(client, slug, email) for email in ("signed@example.org", "never@example.org")
    }

    for response in answers.values():
        assert response.status_code == 409
        assert '<html lang="fr">' in response.text
        assert "Cette pétition ne recueille plus de signatures" in response.text
    assert outbox_rows(app) == rows  # nothing recorded
    signed, never = (r.get_data().replace(e.encode(), b"X") for e, r in answers.items())
    assert signed == never


# --- 8. nothing to send, or no way to send it ----------------------------------------------


def test_a_notice_for_an_address_that_never_signed_is_skipped_and_sends_nothing(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None
):
    slug = _petition(app)
    _resend(client, slug, "nobody@example.org")

    assert run_worker(app) == 1

    row = _only_row(app)
    assert row.status is OutboxStatus.SKIPPED
    assert row.recipient is None and row.last_error is None
    assert smtp.messages == []
    assert run_worker(app) == 0  # done with


def test_a_notice_beyond_the_signatures_allowance_is_skipped(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None
):
    slug = _petition(app)
    _sign(client, slug)
    with app.app_context():  # the allowance used up (by earlier links, say)
        db.session.execute(Signature.__table__.update().values(emails_sent=services.MAX_EMAILS))
        db.session.commit()

    assert run_worker(app) == 1

    assert _only_row(app).status is OutboxStatus.SKIPPED
    assert smtp.messages == []


def test_an_unknown_kind_fails_visibly_after_its_attempts(
    app: Flask, smtp: _Sink, durable_queue: None, clock: _Clock
):
    with app.app_context():
        outbox.record("nope.unknown", {"anything": 1})
        db.session.commit()

    for _ in range(MAX_ATTEMPTS):
        assert run_worker(app) == 1
        clock.advance(_only_row(app).next_attempt_at - clock.now)

    row = _only_row(app)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    assert "nope.unknown" in (row.last_error or "")
    assert "handler" in (row.last_error or "")
    with app.app_context():
        assert [r.id for r in outbox.failed()] == [row.id]
    assert smtp.messages == []


# --- 9. PostgreSQL: one statement, and a NOTIFY ------------------------------------------------


def _conninfo(app: Flask) -> str:
    with app.app_context():
        url = db.engine.url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class _Wire:
    """Every message the app's pooled connections send PostgreSQL (libpq's trace)."""

    def __init__(self, app: Flask) -> None:
        with app.app_context():
            self.engine = db.engine
        self.engine.dispose()  # from now on, every connection is one we saw being made
        self.connections: list = []
        self.path = tempfile.mkstemp(prefix="pgtrace-")[1]
        event.listen(self.engine, "connect", self._connected)

    def _connected(self, dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        self.connections.append(dbapi_connection)

    def record(self):  # type: ignore[no-untyped-def]
        """A context in which each frontend message is written to the trace."""

        @contextlib.contextmanager
        def tracing() -> Iterator[None]:
            seen = len(self.connections)
            with open(self.path, "w"):
                pass
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            for connection in self.connections:
                connection.pgconn.trace(os.dup(fd))
                connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                yield
            finally:
                for connection in self.connections[:seen]:
                    connection.pgconn.untrace()
                os.close(fd)
            assert len(self.connections) == seen, "a new, untraced, connection was made"

        return tracing()

    def sent(self) -> list[str]:
        """The frontend messages: 'Query ";"', 'Parse', 'Sync'…"""
        with open(self.path, encoding="utf-8", errors="replace") as trace:
            lines = trace.read().splitlines()
        return [line.split("\t", 2)[2] for line in lines if line.startswith("F\t")]

    def close(self) -> None:
        event.remove(self.engine, "connect", self._connected)
        os.unlink(self.path)


@pytest.fixture
def wire(app: Flask) -> Iterator[_Wire]:
    observer = _Wire(app)
    yield observer
    observer.close()


def _warm_signing_path(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> str:
    """A petition whose PetitionRef is cached, as on a busy site (one signing done)."""
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 60)
    slug = _petition(app)
    assert _sign(client, slug, "first@example.org").status_code == 303
    return slug


def _statements_during(app: Flask, action) -> list[str]:  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return statements


@pytest.mark.postgres_only
def test_a_warm_signing_is_one_statement_and_wakes_the_relay(
    app: Flask,
    client: FlaskClient,
    durable_queue: None,
    monkeypatch: pytest.MonkeyPatch,
    wire: _Wire,
):
    slug = _warm_signing_path(app, client, monkeypatch)
    fields = _sign_data(client, slug, "paul@example.org")
    monkeypatch.setattr(outbox, "_notices", outbox._NoticeThrottle())  # the first one's gone
    responses = []
    with psycopg.connect(_conninfo(app), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with wire.record():
            statements = _statements_during(
                app, lambda: responses.append(client.post(f"/petitions/{slug}", data=fields))
            )
        notices = list(listener.notifies(timeout=5, stop_after=1))

    assert responses[0].status_code == 303
    [statement] = statements
    assert "INSERT INTO signatures" in statement and "INSERT INTO outbox" in statement
    assert "pg_notify" in statement
    sent = wire.sent()  # what went over the wire, which the engine's events do not all see
    simple_queries = [m for m in sent if m.startswith("Query")]
    assert all(q == 'Query\t ";"' for q in simple_queries), sent  # no BEGIN, no COMMIT…
    assert sum(m.startswith("Sync") for m in sent) == 1, sent  # …one statement's round trip
    assert [n.channel for n in notices] == [CHANNEL]
    [row] = [r for r in _rows(app) if r.subject_key and r.subject_key.endswith("paul@example.org")]
    assert row.status is OutboxStatus.PENDING


@pytest.mark.postgres_only
def test_a_warm_signing_is_one_round_trip_with_no_ping(
    app: Flask,
    client: FlaskClient,
    durable_queue: None,
    monkeypatch: pytest.MonkeyPatch,
    wire: _Wire,
):
    slug = _warm_signing_path(app, client, monkeypatch)
    fields = _sign_data(client, slug, "paul@example.org")
    with wire.record():
        assert client.post(f"/petitions/{slug}", data=fields).status_code == 303
    sent = wire.sent()
    assert sum(m.startswith(("Sync", "Query")) for m in sent) == 1, sent


@pytest.mark.postgres_only
def test_a_mail_recorded_in_a_transaction_notifies_when_it_commits(app: Flask, durable_queue: None):
    with psycopg.connect(_conninfo(app), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with app.app_context():
            outbox.record("mail", {"to": "a@example.org", "subject": "S", "text": "t", "html": "h"})
            db.session.flush()
            assert list(listener.notifies(timeout=0.5, stop_after=1)) == []  # not before
            db.session.commit()
        assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == [CHANNEL]


# --- 10. purge ---------------------------------------------------------------------------------


def test_purge_drops_done_rows_after_a_week_and_failed_ones_after_a_month(app: Flask):
    now = utcnow()
    ages = {
        ("sent", 8): False,
        ("sent", 6): True,
        ("skipped", 8): False,
        ("skipped", 6): True,
        ("failed", 31): False,
        ("failed", 29): True,
        ("failed", 8): True,
        ("pending", 40): True,
        ("queued", 40): True,
        ("sending", 40): True,
    }
    with app.app_context():
        ids = {}
        for status, days in ages:
            row = OutboxMessage(
                kind="mail",
                payload={"to": "x@example.org", "subject": "s", "text": "t", "html": "h"},
                status=OutboxStatus(status),
                created_at=now - timedelta(days=days),
            )
            db.session.add(row)
            db.session.flush()
            ids[status, days] = row.id
        db.session.commit()

        dropped = outbox.purge(now)
        db.session.commit()

    kept = {row.id for row in _rows(app)}
    assert dropped == sum(not keep for keep in ages.values())
    assert kept == {ids[key] for key, keep in ages.items() if keep}


# --- 11. the relay loop ------------------------------------------------------------------------


def _listening_relays(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query = :listen"
            ),
            {"listen": f"LISTEN {CHANNEL}"},
        ).scalar_one()


def test_the_relay_loop_delivers_a_mail_recorded_while_it_runs(
    app: Flask, client: FlaskClient, outbox: list, durable_queue: None, is_postgres: bool
):
    # On PostgreSQL the relay polls only every 30 s: a delivery within seconds is the NOTIFY.
    poll = 30.0 if is_postgres else 0.05
    slug = _petition(app)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(app, stop, poll), daemon=True)
    thread.start()
    try:
        if is_postgres:
            deadline = time.monotonic() + 10
            while not _listening_relays(app) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _listening_relays(app) == 1
        else:
            time.sleep(0.1)  # a few empty rounds first

        assert _sign(client, slug).status_code == 303
        signed = time.monotonic()
        while not outbox and time.monotonic() - signed < 10:  # the queue's consumer
            if not _run_jobs(app):
                time.sleep(0.02)
        elapsed = time.monotonic() - signed
    finally:
        stop.set()
        if is_postgres:
            with app.app_context():  # wake the relay so that it sees the stop at once
                db.session.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
                db.session.commit()
        thread.join(timeout=10)

    assert not thread.is_alive()
    assert [m.recipients for m in outbox] == [["jeanne@example.org"]]
    assert elapsed < 10
    assert _only_row(app).status is OutboxStatus.SENT


def test_a_process_sends_a_notice_at_most_every_notify_every_seconds():
    throttle = outbox._NoticeThrottle()
    assert [throttle.due(), throttle.due(), throttle.due()] == [True, False, False]
    time.sleep(outbox.NOTIFY_EVERY * 1.5)
    assert throttle.due() is True


@pytest.mark.postgres_only
def test_a_signing_right_after_another_sends_no_notice(
    app: Flask, client: FlaskClient, durable_queue: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(outbox, "NOTIFY_EVERY", 60.0)  # however slow this machine is
    slug = _petition(app)
    forms = [_sign_data(client, slug, f"{name}@example.org") for name in ("a", "b")]
    statements = _statements_during(
        app, lambda: [client.post(f"/petitions/{slug}", data=form) for form in forms]
    )
    signings = [s for s in statements if "INSERT INTO signatures" in s]
    assert ["pg_notify" in s for s in signings] == [True, False]
    assert len(_rows(app)) == 2


@pytest.mark.postgres_only
def test_a_busy_relay_looks_again_for_mails_whose_signing_sent_no_notice(
    app: Flask, client: FlaskClient, durable_queue: None, monkeypatch: pytest.MonkeyPatch
):
    """After a round that found mails the relay looks again BUSY_SECONDS later, woken or
    not: a signing within a web process's NOTIFY_EVERY of the last notice is mailed all
    the same, well before the next poll."""
    monkeypatch.setattr(relay, "BUSY_SECONDS", 1.0)  # room for this machine's pace
    slug = _petition(app)
    forms = [_sign_data(client, slug, f"{name}@example.org") for name in ("a", "b")]
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(app, stop, 30.0), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not _listening_relays(app) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.post(f"/petitions/{slug}", data=forms[0]).status_code == 303  # notifies
        while _statuses(app) != [OutboxStatus.QUEUED] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _statuses(app) == [OutboxStatus.QUEUED]  # woken by the notice
        monkeypatch.setattr(outbox._notices, "due", lambda: False)
        assert client.post(f"/petitions/{slug}", data=forms[1]).status_code == 303  # silent
        signed = time.monotonic()
        while OutboxStatus.PENDING in _statuses(app) and time.monotonic() - signed < 10:
            time.sleep(0.02)
        elapsed = time.monotonic() - signed
    finally:
        stop.set()
        with app.app_context():  # wake the relay so that it sees the stop at once
            db.session.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
            db.session.commit()
        thread.join(timeout=10)
    assert _statuses(app) == [OutboxStatus.QUEUED, OutboxStatus.QUEUED]
    assert elapsed < 5  # the poll would have taken 30 s


def _statuses(app: Flask) -> list[OutboxStatus]:
    return [row.status for row in _rows(app)]


# --- 11. one SMTP connection per worker thread ---------------------------------------------


def _payload(n: int) -> dict[str, str]:
    return {"to": f"p{n}@example.org", "subject": f"Sujet {n}", "text": "t", "html": "<p>h</p>"}


def test_a_worker_thread_sends_mail_after_mail_on_one_connection(app: Flask, smtp: _Sink):
    with app.app_context():
        for n in range(3):
            mail_module.send_now(_payload(n))
    assert len(smtp.messages) == 3
    assert len(set(smtp.peers)) == 1


def test_a_connection_that_dropped_is_opened_again_for_the_same_mail(app: Flask, smtp: _Sink):
    with app.app_context():
        mail_module.send_now(_payload(1))
        # The held connection dies (a server closing idle clients, a network cut).
        mail_module._smtp.held[1].host.sock.shutdown(socket.SHUT_RDWR)
        mail_module.send_now(_payload(2))
    assert [m["To"] for m in smtp.messages] == ["p1@example.org", "p2@example.org"]
    assert len(set(smtp.peers)) == 2  # a second connection, for the second mail


def test_the_relay_hands_rows_over_a_few_to_a_job_and_each_is_sent_once(
    app: Flask,
    client: FlaskClient,
    smtp: _Sink,
    durable_queue: None,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(outbox, "HAND_OVER_BATCH", 2)
    slug = _petition(app)
    for n in range(5):
        _sign(client, slug, f"p{n}@example.org")
    with app.app_context():
        assert hand_over_due() == 5
    assert huey.pending_count() == 3  # 2 + 2 + 1
    assert _run_jobs(app) == 3
    assert sorted(m["To"] for m in smtp.messages) == [f"p{n}@example.org" for n in range(5)]
    assert {r.status for r in _rows(app)} == {OutboxStatus.SENT}


def test_a_job_claims_its_rows_in_one_statement_and_skips_those_another_job_has(
    app: Flask, client: FlaskClient, smtp: _Sink, durable_queue: None
):
    slug = _petition(app)
    for n in range(4):
        _sign(client, slug, f"q{n}@example.org")
    ids = [row.id for row in _rows(app)]
    with app.app_context():
        assert hand_over_due() == 4
        huey.dequeue()  # the relay's job, run by hand below
        assert outbox.deliver(ids[1], mail_module.send_now) == OutboxStatus.SENT  # another job

        def job() -> None:
            with app.app_context():
                outcomes.update(outbox.deliver_many(ids, mail_module.send_now))

        outcomes: dict[int, OutboxStatus] = {}
        statements = _statements_during(app, job)
    claims = [s for s in statements if s.lstrip().upper().startswith("UPDATE OUTBOX SET STATUS")]
    assert len(claims) == 1 + 3  # one claim for the four ids, one outcome per sent row
    assert outcomes == {
        ids[0]: OutboxStatus.SENT,
        ids[2]: OutboxStatus.SENT,
        ids[3]: OutboxStatus.SENT,
    }
    assert sorted(m["To"] for m in smtp.messages) == [f"q{n}@example.org" for n in range(4)]


def test_a_slow_smtp_server_keeps_the_claim_of_the_rows_still_to_send(
    app: Flask,
    client: FlaskClient,
    smtp: _Sink,
    durable_queue: None,
    monkeypatch: pytest.MonkeyPatch,
):
    """Each send takes more than half a lease: the job renews the leases of the rows it has
    yet to send, so that the relay never hands them to a second job meanwhile."""
    slug = _petition(app)
    for n in range(3):
        _sign(client, slug, f"r{n}@example.org")
    ids = [row.id for row in _rows(app)]
    elapsed = [0.0]
    monkeypatch.setattr(outbox.time, "monotonic", lambda: elapsed[0])
    leases: list[datetime | None] = []

    def slow_send(mail: outbox.MailPayload) -> None:
        mail_module.send_now(mail)
        elapsed[0] += LEASE.total_seconds() / 2 + 1
        leases.append(_rows(app)[-1].lease_until)  # the last row's claim, seen by the relay

    with app.app_context():
        assert hand_over_due() == 3
        huey.dequeue()
        started = utcnow()
        assert set(outbox.deliver_many(ids, slow_send).values()) == {OutboxStatus.SENT}
    first, second, _ = leases
    assert first is not None and second is not None
    assert second > first >= started  # renewed before the second and third sends
    assert second >= utcnow() + LEASE - timedelta(seconds=5)
    assert len(smtp.messages) == 3
