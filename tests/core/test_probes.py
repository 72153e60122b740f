"""/healthz and /readyz: what a proxy or a supervisor asks of an instance."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, insert, text
from sqlalchemy.exc import OperationalError

from campaign.core import outbox, workers
from campaign.core.db import utcnow
from campaign.extensions import db


def test_healthz_answers_without_touching_anything(app: Flask, client: FlaskClient):
    seen: list[str] = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = client.get("/healthz")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert seen == []
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_readyz_checks_the_database_its_migrations_and_the_queue(app: Flask, client: FlaskClient):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["migrations"]["current"] == checks["migrations"]["head"] is not None
    assert checks["redis"] == {"ok": True, "configured": False}  # the tests run without Redis
    assert checks["queue"]["ok"] is True
    assert body["outbox"] == {"backlog": 0, "failed": 0, "oldest_unsent_seconds": None}
    assert body["workers"] == {
        "alive": 0,
        "last_seen_seconds": None,
        "newest_started_seconds": None,
    }


def test_readyz_reports_live_and_dead_workers_without_leaving_the_pool(
    app: Flask, client: FlaskClient
):
    now = utcnow()
    with app.app_context():
        workers.beat("host:1", started_at=now - timedelta(hours=1), now=now - timedelta(minutes=5))
        workers.beat("host:2", started_at=now - timedelta(seconds=30), now=now)
        db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 200  # a dead worker is reported, the site still serves
    assert response.json["workers"]["alive"] == 1  # host:1 stopped beating 5 minutes ago
    assert response.json["workers"]["last_seen_seconds"] <= 5
    assert 30 <= response.json["workers"]["newest_started_seconds"] <= 40


def test_readyz_reports_the_outbox_backlog_and_its_oldest_mail(app: Flask, client: FlaskClient):
    with app.app_context():
        # Written as they are, without waking the tests' immediate delivery.
        for to in ("a@example.org", "b@example.org"):
            payload = {"to": to, "subject": "S", "text": "t", "html": "h"}
            db.session.execute(
                insert(outbox.OutboxMessage.__table__),
                outbox.row_values("mail", payload, to, utcnow()),
            )
        db.session.execute(
            text("UPDATE outbox SET created_at = :then"), {"then": utcnow() - timedelta(minutes=7)}
        )
        db.session.execute(
            text("UPDATE outbox SET status = 'failed' WHERE id = (SELECT max(id) FROM outbox)")
        )
        db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 200  # a backlog is reported, never a reason to leave the pool
    assert response.json["outbox"]["backlog"] == 1
    assert response.json["outbox"]["failed"] == 1
    assert 7 * 60 - 5 <= response.json["outbox"]["oldest_unsent_seconds"] <= 7 * 60 + 60


def test_readyz_is_503_when_migrations_are_behind(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(app.extensions, "migrations_head", "9999_not_applied")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["checks"]["migrations"]["ok"] is False


def test_readyz_is_503_when_the_database_is_unreachable(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
):
    real_execute = db.session.execute

    def unreachable(statement, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "alembic_version" in str(statement):
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return real_execute(statement, *args, **kwargs)

    with app.app_context():
        monkeypatch.setattr(type(db.session), "execute", lambda self, *a, **k: unreachable(*a, **k))
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert "outbox" not in response.json


def test_readyz_is_503_when_redis_is_configured_and_down(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"]["ok"] is False
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:6379/15")
    assert client.get("/readyz").json["checks"]["redis"] == {"ok": True, "configured": True}


def test_readyz_is_503_when_the_job_queue_is_unreachable(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
):
    from campaign.core.queue import huey

    def unreachable() -> int:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(huey, "pending_count", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["queue"] == {"ok": False, "error": "ConnectionError"}
    assert response.json["checks"]["database"]["ok"] is True
