"""The durable job queue (Huey), and jobs deferred until the database commits.

SQLite storage in the instance folder by default, so `make run` needs no other
service; Redis when REDIS_URL is set. Tests switch it to immediate mode.
The queue is built at import time because task decorators need it; it reads the same
environment variables as the app config.

`defer(task, *args)` parks a job on the database session; it reaches the queue only when
that session commits, so no job ever acts on a row that was rolled back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey, RedisHuey, SqliteHuey
from sqlalchemy import event
from sqlalchemy.orm import Session

from campaign.config import instance_path
from campaign.extensions import db

logger = logging.getLogger(__name__)
_DEFERRED = "campaign_deferred_jobs"


def _make_huey() -> Huey:
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        return RedisHuey("campaign", url=redis_url)
    path = Path(os.environ.get("QUEUE_DB_PATH") or instance_path() / "queue.sqlite3")
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("campaign", filename=str(path))


huey = _make_huey()


def defer(task: Any, *args: Any) -> None:
    """Queue `task(*args)` once the current database transaction commits."""
    db.session.info.setdefault(_DEFERRED, []).append((task, args))


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    for task, args in session.info.pop(_DEFERRED, []):
        try:
            task(*args)
        except Exception:
            # The rows are committed already: a 500 now would only hide that from the
            # visitor, who can ask again (the signing page offers to resend the email).
            logger.exception("Could not queue %s", getattr(task, "name", task))


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_DEFERRED, None)


# The worker's own app, for tasks run outside any app context (the Huey consumer).
_worker_app: Flask | None = None


def set_worker_app(app: Flask) -> None:
    global _worker_app
    _worker_app = app


@contextlib.contextmanager
def app_context() -> Iterator[None]:
    """A fresh app context, and so a fresh database session, for each task.

    Tests run tasks immediately, from inside the request's commit: the task must not
    reuse the session that is committing.
    """
    global _worker_app
    if has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    else:
        if _worker_app is None:
            from campaign import create_app

            _worker_app = create_app()
        app = _worker_app
    with app.app_context():
        yield
