"""The console's mail outbox page (/console/envois): counts, failures, retries, the warning.

Failed rows are made as the worker makes them: the mail job (core/outbox.py `deliver`) tries
a send that the SMTP server refuses, MAX_ATTEMPTS times. A retried mail then leaves through
the relay and the mail job, as in `flask worker` (tests/factories.py `run_worker`).
"""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from campaign.console.models import AuditEntry, Role
from campaign.core import outbox, workers
from campaign.core.db import utcnow
from campaign.core.outbox import MAX_ATTEMPTS, MailPayload, OutboxMessage, OutboxStatus
from campaign.extensions import db
from tests.console.helpers import sign_in
from tests.factories import run_worker
from tests.pages import flashed, text_of

ALL_FINE = "Tout va bien : les e-mails partent."


def _text(response: TestResponse) -> str:
    """The page's text without its tags, French non-breaking spaces as plain ones."""
    return re.sub(r"<[^>]+>", "", text_of(response)).replace("\u00a0", " ")


def _row(
    app: Flask, status: OutboxStatus, to: str = "jeanne@example.org", age_minutes: int = 0
) -> int:
    """A "mail" row in `status`, asked for `age_minutes` ago (added as is: nothing sends it)."""
    with app.app_context():
        row = OutboxMessage(
            kind="mail",
            payload={
                "to": to,
                "subject": "Votre signature",
                "text": "Merci.",
                "html": "<p>Merci.</p>",
            },
            status=status,
            recipient=to,
            subject="Votre signature",
            created_at=utcnow() - timedelta(minutes=age_minutes),
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def _worker(app: Flask, seen_minutes_ago: int = 0) -> None:
    """A queue worker's heartbeat (core/workers.py), as `flask worker` writes it."""
    now = utcnow()
    with app.app_context():
        workers.beat(
            f"host:{seen_minutes_ago}",
            started_at=now - timedelta(hours=1),
            now=now - timedelta(minutes=seen_minutes_ago),
        )
        db.session.commit()


def _failed_mail(app: Flask, to: str) -> int:
    """A mail the SMTP server refused at each of its MAX_ATTEMPTS tries: status "failed"."""

    def refuse(mail: MailPayload) -> None:
        reply = (550, f"5.1.1 <{mail['to']}>: Recipient address rejected".encode())
        raise smtplib.SMTPRecipientsRefused({mail["to"]: reply})

    message_id = _row(app, OutboxStatus.PENDING, to)
    with app.app_context():
        for attempt in range(1, MAX_ATTEMPTS + 1):  # each try once its wait is over
            outbox.deliver(message_id, refuse, now=utcnow() + timedelta(days=attempt))
        row = db.session.get_one(OutboxMessage, message_id)
        assert (row.status, row.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
        assert to in (row.last_error or "")  # the address is in the error the row keeps
    return message_id


def _status(app: Flask, message_id: int) -> tuple[OutboxStatus, int]:
    with app.app_context():
        row = db.session.get_one(OutboxMessage, message_id)
        return row.status, row.attempts


def _retry_audit(app: Flask) -> list[tuple[str, str, str, int | None]]:
    with app.app_context():
        entries = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "outbox.retry").order_by(AuditEntry.id)
        ).scalars()
        return [(e.who, e.action, e.what, e.rows) for e in entries]


def _counts_shown(page: str) -> dict[str, int]:
    rows = re.findall(r'<tr data-status="(\w+)">.*?data-value="(\d+)"', page)
    return {status: int(n) for status, n in rows}


# --- what the page shows --------------------------------------------------------------------


def test_the_counts_per_status_are_those_of_the_rows(app: Flask, client: FlaskClient):
    wanted = {"pending": 2, "queued": 1, "sending": 1, "sent": 4, "skipped": 1, "failed": 3}
    for status, n in wanted.items():
        for _ in range(n):
            _row(app, OutboxStatus(status), age_minutes=3)
    sign_in(app, client, Role.ORGANISER)

    response = client.get("/console/envois")

    assert response.status_code == 200
    assert _counts_shown(response.text) == wanted
    text = _text(response)
    for label in (
        "en attente",
        "confié au service d’envoi",
        "en cours d’envoi",
        "envoyé",
        "sans objet",
        "échec",
    ):
        assert f'<th scope="row">{label}</th>' in response.text
    assert "Le plus ancien e-mail à envoyer attend depuis 3 min." in text
    assert "3 e-mails en échec après 8 essais" in text
    assert ALL_FINE not in text


def test_all_fine_when_nothing_waits_long_and_nothing_failed(app: Flask, client: FlaskClient):
    _row(app, OutboxStatus.SENT, age_minutes=60 * 24)
    _row(app, OutboxStatus.PENDING, age_minutes=14)  # late after 15 min, not before
    _worker(app)
    sign_in(app, client, Role.ORGANISER)

    text = _text(client.get("/console/envois"))

    assert ALL_FINE in text
    assert "Services d’envoi actifs : 1." in text
    assert "Le plus ancien e-mail à envoyer attend depuis 14 min." in text
    assert "Aucun e-mail en échec." in text


def test_no_live_queue_worker_is_called_out_with_how_long_ago_one_was_seen(
    app: Flask, client: FlaskClient
):
    sign_in(app, client, Role.ORGANISER)
    assert ALL_FINE in _text(client.get("/console/envois"))  # nothing to send, none ever ran

    _row(app, OutboxStatus.PENDING)
    text = _text(client.get("/console/envois"))
    assert "Aucun service d’envoi (flask worker) n’a encore tourné" in text
    assert "Services d’envoi actifs : 0 (aucun n’a encore tourné)." in text

    _worker(app, seen_minutes_ago=10)  # killed 10 minutes ago: its heartbeat stopped
    text = _text(client.get("/console/envois"))
    assert "n’a donné signe de vie depuis 10 min : les e-mails attendent qu’il reparte." in text
    assert "Services d’envoi actifs : 0." in text

    _worker(app)  # restarted
    text = _text(client.get("/console/envois"))
    assert ALL_FINE in text and "signe de vie" not in text
    assert "Services d’envoi actifs : 1." in text


def test_mails_waiting_longer_than_a_quarter_of_an_hour_are_called_out(
    app: Flask, client: FlaskClient
):
    _row(app, OutboxStatus.QUEUED, age_minutes=20)
    _row(app, OutboxStatus.PENDING, age_minutes=2 * 60 + 5)
    sign_in(app, client, Role.ORGANISER)

    text = _text(client.get("/console/envois"))

    assert (
        "Des e-mails attendent depuis plus de 15 min (le plus ancien depuis 2 h 05) : "
        "le service d’envoi (flask worker) tourne-t-il ?"
    ) in text
    assert "attend depuis 2 h 05." in text
    assert ALL_FINE not in text


def test_the_failed_list_shows_the_error_but_never_the_address(app: Flask, client: FlaskClient):
    message_id = _failed_mail(app, "jeanne.dupont@example.org")
    sign_in(app, client, Role.ORGANISER)

    response = client.get("/console/envois")

    text = _text(response)
    [row] = re.findall(rf'<tr id="envoi-{message_id}">(.*?)</tr>', response.text, re.S)
    assert "<code>mail</code>" in row
    assert f'<td class="num">{MAX_ATTEMPTS}</td>' in row
    assert "SMTPRecipientsRefused" in text
    assert "550" in text and "Recipient address rejected" in text
    assert "j…@example.org" in text  # masked, in the recipient column and in the error
    assert "jeanne" not in text.lower() and "dupont" not in text.lower()
    assert "E-mails en échec (1)" in text


def test_only_the_hundred_most_recent_failures_are_listed_with_the_total(
    app: Flask, client: FlaskClient
):
    ids = [_row(app, OutboxStatus.FAILED, f"p{n}@example.org") for n in range(103)]
    sign_in(app, client, Role.ORGANISER)

    response = client.get("/console/envois")

    listed = [int(n) for n in re.findall(r'<tr id="envoi-(\d+)">', response.text)]
    assert listed == sorted(ids, reverse=True)[:100]
    assert "E-mails en échec (103)" in _text(response)
    assert "Les 100 plus récents." in _text(response)


# --- retrying -------------------------------------------------------------------------------


def test_an_admin_retries_one_failed_mail_and_it_goes_out(
    app: Flask, client: FlaskClient, outbox: list
):
    first = _failed_mail(app, "jeanne@example.org")
    second = _failed_mail(app, "paul@example.org")
    me = sign_in(app, client, Role.ADMIN)

    response = client.post(
        f"/console/envois/{first}/relancer", data={"csrf_token": me.csrf(client)}
    )

    assert "1 e-mail relancé : départ dans la minute." in flashed(client, response)
    assert _status(app, first) == (OutboxStatus.PENDING, 0)  # a new series of tries
    assert _status(app, second) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    assert _retry_audit(app) == [(me.who, "outbox.retry", f"e-mail {first}", 1)]

    assert outbox == []  # it leaves from the worker
    run_worker(app)
    assert [m.recipients for m in outbox] == [["jeanne@example.org"]]
    assert _status(app, first) == (OutboxStatus.SENT, 1)
    assert _status(app, second) == (OutboxStatus.FAILED, MAX_ATTEMPTS)


def test_an_admin_retries_every_failed_mail_and_they_all_go_out(
    app: Flask, client: FlaskClient, outbox: list
):
    addresses = ["a@example.org", "b@example.org", "c@example.org"]
    failed = [_failed_mail(app, address) for address in addresses]
    sent = _row(app, OutboxStatus.SENT, "deja@example.org")
    me = sign_in(app, client, Role.ADMIN)

    response = client.post("/console/envois/relancer", data={"csrf_token": me.csrf(client)})

    assert "3 e-mails relancés : départ dans la minute." in flashed(client, response)
    assert [_status(app, m) for m in failed] == [(OutboxStatus.PENDING, 0)] * 3
    assert _retry_audit(app) == [(me.who, "outbox.retry", "tous les e-mails en échec", 3)]
    run_worker(app)
    assert sorted(r for m in outbox for r in m.recipients) == addresses
    assert [_status(app, m) for m in failed] == [(OutboxStatus.SENT, 1)] * 3
    assert _status(app, sent) == (OutboxStatus.SENT, 0)  # untouched
    page = _text(client.get("/console/envois"))
    assert ALL_FINE in page and "Aucun e-mail en échec." in page


def test_retrying_a_mail_no_longer_failed_changes_nothing(app: Flask, client: FlaskClient):
    sent = _row(app, OutboxStatus.SENT)
    me = sign_in(app, client, Role.ADMIN)

    response = client.post(f"/console/envois/{sent}/relancer", data={"csrf_token": me.csrf(client)})

    assert "Aucun e-mail à relancer" in flashed(client, response)
    assert _status(app, sent) == (OutboxStatus.SENT, 0)
    assert _retry_audit(app) == []


def test_an_organiser_sees_the_failures_but_may_not_retry_them(app: Flask, client: FlaskClient):
    message_id = _failed_mail(app, "jeanne@example.org")
    me = sign_in(app, client, Role.ORGANISER)

    page = client.get("/console/envois").text
    assert f'id="envoi-{message_id}"' in page
    assert "/relancer" not in page  # no retry button
    token = me.csrf(client)
    for path in ("/console/envois/relancer", f"/console/envois/{message_id}/relancer"):
        assert client.post(path, data={"csrf_token": token}).status_code == 403
    assert _status(app, message_id) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    assert _retry_audit(app) == []


def test_a_rally_organiser_does_not_see_the_page(app: Flask, client: FlaskClient):
    sign_in(app, client, Role.RALLY_ORGANISER)
    assert client.get("/console/envois").status_code == 403
    assert "/console/envois" not in client.get("/console/rassemblements").text  # not in the nav


def test_a_retry_without_its_csrf_token_is_refused(app: Flask, client: FlaskClient, outbox: list):
    message_id = _failed_mail(app, "jeanne@example.org")
    sign_in(app, client, Role.ADMIN)
    assert 'action="/console/envois/relancer"' in client.get("/console/envois").text

    for path in ("/console/envois/relancer", f"/console/envois/{message_id}/relancer"):
        response = client.post(path)
        assert response.status_code == 400
        assert "Le formulaire a expiré" in text_of(response)
    run_worker(app)
    assert _status(app, message_id) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    assert outbox == []
    assert _retry_audit(app) == []


# --- the dashboard's warning ----------------------------------------------------------------


def _dashboard_warnings(client: FlaskClient) -> list[str]:
    page = client.get("/console/tableau-de-bord")
    assert page.status_code == 200
    found = re.findall(r'<p class="flash flash-error envois-alerte">(.*?)</p>', page.text, re.S)
    return [text.replace("\u00a0", " ") for text in found]


def test_the_dashboard_warns_of_failed_and_late_mails_and_links_to_the_page(
    app: Flask, client: FlaskClient
):
    sign_in(app, client, Role.ORGANISER)
    _worker(app)
    _row(app, OutboxStatus.SENT)
    _row(app, OutboxStatus.PENDING, age_minutes=5)
    assert _dashboard_warnings(client) == []

    _failed_mail(app, "jeanne@example.org")
    [failed] = _dashboard_warnings(client)
    assert "1 e-mail en échec après 8 essais" in failed
    assert 'href="/console/envois"' in failed

    _row(app, OutboxStatus.PENDING, age_minutes=16)
    late, failed = _dashboard_warnings(client)
    assert "Des e-mails attendent depuis plus de 15 min" in late
    assert 'href="/console/envois"' in late
