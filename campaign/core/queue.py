"""The durable job queue (Huey).

SQLite storage in the instance folder by default, so `make run` needs no other
service; Redis when REDIS_URL is set. Tests switch it to immediate mode.
The queue is built at import time because task decorators need it; it reads the same
environment variables as the app config.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, has_app_context
from huey import Huey, RedisHuey, SqliteHuey

from campaign.config import instance_path


def _make_huey() -> Huey:
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        return RedisHuey("campaign", url=redis_url)
    path = Path(os.environ.get("QUEUE_DB_PATH") or instance_path() / "queue.sqlite3")
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("campaign", filename=str(path))


huey = _make_huey()

# The worker's own app, for tasks run outside any app context (the Huey consumer).
_worker_app: Flask | None = None


def set_worker_app(app: Flask) -> None:
    global _worker_app
    _worker_app = app


@contextlib.contextmanager
def app_context() -> Iterator[None]:
    """Run a task inside an app context: the caller's (tests), else the worker's."""
    if has_app_context():
        yield
        return
    global _worker_app
    if _worker_app is None:
        from campaign import create_app

        _worker_app = create_app()
    with _worker_app.app_context():
        yield
