"""The durable job queue (Huey), run by `flask worker`.

SQLite storage in the instance folder by default, so `make run` needs no other
service; Redis when REDIS_URL is set. Tests switch it to immediate mode.
The queue is built at import time because task decorators need it; it reads the same
environment variables as the app config.

Requests never call it: what they want done is a row (an outbox entry for a mail,
core/outbox.py) that the worker's relay turns into jobs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, current_app, has_app_context
from huey import Huey, RedisHuey, SqliteHuey

from campaign.config import instance_path


def _make_huey() -> Huey:
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        # No task returns a result to wait for: storing them was two more Redis calls a job.
        return RedisHuey("campaign", url=redis_url, results=False)
    path = Path(os.environ.get("QUEUE_DB_PATH") or instance_path() / "queue.sqlite3")
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("campaign", filename=str(path), results=False)


huey = _make_huey()


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
