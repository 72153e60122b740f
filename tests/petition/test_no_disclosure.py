"""Signing and resending do the same work whatever the address's history, so neither the
page nor its timing tells a stranger whether an address has signed."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from campaign.extensions import db
from campaign.petition import services
from tests.factories import (
    FORM_STAMP,
    confirmation_link,
    csrf_from,
    make_petition,
    notice_due,
    outbox_rows,
    path_of,
    run_worker,
)

FORM = {
    "started": FORM_STAMP,
    "first_name": "Jeanne",
    "last_name": "Dupont",
    "country": "FR",
    "postcode": "75011",
    "consent": "y",
}


def _observe(app: Flask, client: FlaskClient, path: str, data: dict) -> tuple:
    """(status, Location, SQL statements run, mails recorded) for one POST."""
    page = client.get(path.replace("/renvoyer", "/merci") if "renvoyer" in path else path)
    token = csrf_from(page.text)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    queued = outbox_rows(app)
    notice_due()
    try:
        response = client.post(path, data={**data, "csrf_token": token})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return (
        response.status_code,
        response.headers.get("Location"),
        statements,
        outbox_rows(app) - queued,
    )


def _run_jobs(app: Flask) -> None:
    run_worker(app)


def test_signing_looks_the_same_for_new_pending_and_confirmed_addresses(
    app: Flask, client: FlaskClient, outbox, durable_queue
):
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    path = f"/petitions/{slug}"

    first = _observe(app, client, path, {**FORM, "email": "jeanne@example.org"})
    other_new = _observe(app, client, path, {**FORM, "email": "paul@example.org"})
    again_pending = _observe(app, client, path, {**FORM, "email": "Jeanne@Example.org"})
    _run_jobs(app)
    with app.app_context():
        services.confirm(path_of(confirmation_link(outbox[0])).rsplit("/", 1)[1])
        db.session.commit()
    again_confirmed = _observe(app, client, path, {**FORM, "email": "jeanne@example.org"})

    assert first[3] == 1  # one outbox row, whose mail the worker decides later
    assert first == other_new == again_pending == again_confirmed


def test_resend_looks_the_same_for_signed_and_unknown_addresses(
    app: Flask, client: FlaskClient, outbox, durable_queue
):
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    _observe(app, client, f"/petitions/{slug}", {**FORM, "email": "jeanne@example.org"})
    path = f"/petitions/{slug}/renvoyer"

    signed = _observe(app, client, path, {"email": "jeanne@example.org"})
    unknown = _observe(app, client, path, {"email": "nobody@example.org"})

    assert signed == unknown
    _run_jobs(app)
    assert [m.recipients for m in outbox] == [["jeanne@example.org"]] * 2
