"""What a proxy or a supervisor asks: is the process alive, is this instance ready?

`/healthz` answers without any I/O: the process serves requests. `/readyz` checks what a
request needs (the database, at the migrations' head; Redis and the job queue) and says
how the mail outbox and the queue workers are doing; 503 when a check fails, so that a
proxy takes the instance out of its pool until it passes again. A mail backlog, or no live
worker, is reported, never a failure: the site still serves while the workers catch up or
restart.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from campaign.core import outbox, workers
from campaign.core.db import utcnow
from campaign.core.queue import huey
from campaign.extensions import db

bp = Blueprint("probes", __name__)


def _answer(payload: dict[str, Any], status: int) -> Response:
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return _answer({"status": "ok"}, 200)


def _head() -> str | None:
    head = current_app.extensions.get("migrations_head")
    if head is None:
        directory = current_app.extensions["migrate"].directory
        head = current_app.extensions["migrations_head"] = ScriptDirectory(
            directory
        ).get_current_head()
    return head


def _database() -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        db.session.rollback()
        failure = {"ok": False, "error": type(exc).__name__}
        return failure, {"ok": False, "error": "database unreachable"}
    head = _head()
    return {"ok": True}, {"ok": current == head, "current": current, "head": head}


def _redis() -> dict[str, Any]:
    url = current_app.config["REDIS_URL"]
    if not url:
        return {"ok": True, "configured": False}
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "configured": True, "error": type(exc).__name__}
    finally:
        client.close()
    return {"ok": True, "configured": True}


def _queue() -> dict[str, Any]:
    try:
        return {"ok": True, "pending_jobs": huey.pending_count()}
    except Exception as exc:  # any storage (Redis, SQLite) error: the queue is unreachable
        return {"ok": False, "error": type(exc).__name__}


def _outbox() -> dict[str, Any]:
    counts = outbox.status_counts()
    oldest = outbox.oldest_waiting()
    return {
        "backlog": sum(counts[s] for s in outbox.UNSENT),
        "failed": counts[outbox.OutboxStatus.FAILED],
        "oldest_unsent_seconds": _seconds_since(oldest),
    }


def _seconds_since(moment: Any) -> int | None:
    return round((utcnow() - moment).total_seconds()) if moment is not None else None


def _workers() -> dict[str, Any]:
    found = workers.state()
    return {
        "alive": found.alive,
        "last_seen_seconds": _seconds_since(found.last_seen),
        "newest_started_seconds": _seconds_since(found.newest_start),
    }


@bp.get("/readyz")
def readyz() -> Response:
    started = time.perf_counter()
    database, migrations = _database()
    checks: dict[str, Any] = {
        "database": database,
        "migrations": migrations,
        "redis": _redis(),
        "queue": _queue(),
    }
    ready = all(check["ok"] for check in checks.values())
    payload: dict[str, Any] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if database["ok"]:
        for name, reading in (("outbox", _outbox), ("workers", _workers)):
            try:
                payload[name] = reading()
            except SQLAlchemyError as exc:  # a table yet to be migrated
                db.session.rollback()
                payload[name] = {"error": type(exc).__name__}
    payload["seconds"] = round(time.perf_counter() - started, 4)
    return _answer(payload, 200 if ready else 503)
