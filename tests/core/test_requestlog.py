"""One log line per request with its id, JSON on demand, the id on error pages."""

from __future__ import annotations

import io
import json
import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from campaign.core import requestlog
from campaign.extensions import db
from campaign.petition import services
from tests.factories import make_petition


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="campaign.request")
    return caplog


def _access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "campaign.request"]


def test_every_request_gets_an_id_and_one_line(app: Flask, client: FlaskClient, lines):
    response = client.get("/healthz")
    rid = response.headers["X-Request-ID"]
    assert len(rid) == 16
    [line] = _access(lines)
    assert (line.method, line.path, line.status) == ("GET", "/healthz", "200")
    assert line.ms >= 0
    assert client.get("/healthz").headers["X-Request-ID"] != rid


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("a1b2c3d4e5f6a7b8", True),
        ("req-2026.12.03_42", True),
        ("short", False),
        ("<script>alert(1)</script>", False),
    ],
)
def test_the_proxys_id_is_kept_when_it_is_sane(app: Flask, client: FlaskClient, given, kept):
    rid = client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert (rid == given) is kept


def test_a_page_from_the_cache_in_front_of_flask_is_logged_too(
    app: Flask, client: FlaskClient, lines, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 60)
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    client.get(f"/petitions/{slug}")
    cached = client.get(f"/petitions/{slug}")
    assert "Age" in cached.headers and "X-Request-ID" in cached.headers
    assert [r.path for r in _access(lines)] == [f"/petitions/{slug}"] * 2


def test_json_lines_carry_the_request_id_and_the_fields(app: Flask, client: FlaskClient):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(requestlog.RequestIdFilter())
    handler.setFormatter(requestlog.JsonFormatter())
    logger = logging.getLogger("campaign.request")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        rid = client.get("/healthz").headers["X-Request-ID"]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["request_id"] == rid
    assert (line["level"], line["logger"], line["status"], line["path"]) == (
        "INFO",
        "campaign.request",
        "200",
        "/healthz",
    )
    assert line["message"].startswith("GET /healthz 200")


def test_an_error_page_shows_the_id_a_person_can_quote(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
):
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(services, "get_petition", broken)
    response = client.get("/petitions/quelconque")
    assert response.status_code == 500
    assert f"<code>{response.headers['X-Request-ID']}</code>" in response.text
    assert "Référence de l’incident" in response.text


def test_the_mail_a_request_asked_for_is_logged_under_its_id(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture, monkeypatch
):
    """The outbox row keeps the request's id; a later job's lines carry it, outside any
    request (here, the send fails and is retried by a worker an hour later)."""
    from datetime import timedelta

    from campaign.core import mail, outbox
    from campaign.core.db import utcnow
    from campaign.core.outbox import OutboxMessage
    from tests.factories import SIGN_FORM

    with app.app_context():
        slug = make_petition().slug
        db.session.commit()

    def smtp_down(payload: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(mail, "send_now", smtp_down)
    rid = client.post(f"/petitions/{slug}", data=SIGN_FORM).headers["X-Request-ID"]
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="campaign")
    caplog.handler.addFilter(requestlog.RequestIdFilter())
    assert requestlog.current_request_id() is None  # no request here: a worker's job
    with app.app_context():
        [row] = db.session.query(OutboxMessage).all()
        assert row.request_id == rid
        outbox.deliver(row.id, smtp_down, now=utcnow() + timedelta(hours=1))
    [failure] = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert failure.request_id == rid
