"""The outbox relay: turns due outbox rows into mail jobs, in `flask worker`.

Woken by NOTIFY on PostgreSQL the moment a transaction with mails commits, and every
POLL_SECONDS anyway (the only way on SQLite, and how retries and lost jobs come due); after
a round that found mails, BUSY_SECONDS later (signings send at most a notice per
outbox.NOTIFY_EVERY per process).
Every failure (queue store down, database down) is logged once a minute and the round is
tried again: the rows wait in the database meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

from campaign.core import health, outbox
from campaign.core.mail import hand_over_due
from campaign.extensions import db

logger = logging.getLogger(__name__)
POLL_SECONDS = 1.0
BUSY_SECONDS = 2 * outbox.NOTIFY_EVERY
ROUND_LIMIT = 500


def run(app: Flask, stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> None:
    with app.app_context():
        url = db.engine.url
    waiter = _postgres_waiter(url) if url.get_backend_name() == "postgresql" else None
    try:
        while not stop.is_set():
            handed = _round(app)
            if handed >= ROUND_LIMIT:
                continue  # more are due: no wait
            if handed:
                # Busy: signings within a web process's NOTIFY_EVERY send no notice.
                stop.wait(BUSY_SECONDS)
            elif waiter is None:
                stop.wait(poll_seconds)
            else:
                waiter(poll_seconds)
    finally:
        if waiter is not None:
            waiter.close()  # the LISTEN connection, else left open once stopped


def _round(app: Flask) -> int:
    try:
        with app.app_context():
            return hand_over_due()
    except outbox.QueueUnavailableError as exc:
        health.warn(
            logger, "relay-queue", "Mail queue unreachable, %s mails wait: %s", exc, exc.__cause__
        )
    except Exception as exc:  # the database, most likely: the rows are safe there
        health.warn(logger, "relay-db", "Outbox relay round failed: %s", exc)
    return 0


def _postgres_waiter(url: Any) -> Any:
    """A function waiting up to `timeout` seconds for a NOTIFY on the outbox channel; its
    `close()` closes the listening connection."""
    import psycopg

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    state: dict[str, psycopg.Connection | None] = {"conn": None}

    def wait(timeout: float) -> None:
        try:
            with _listening(state, conninfo) as conn:
                for _ in conn.notifies(timeout=timeout, stop_after=1):
                    pass
        except psycopg.Error as exc:
            health.warn(logger, "relay-listen", "Outbox relay cannot listen, polling: %s", exc)
            threading.Event().wait(timeout)

    def close() -> None:
        conn, state["conn"] = state["conn"], None
        if conn is not None:
            conn.close()

    wait.close = close  # type: ignore[attr-defined]
    return wait


@contextmanager
def _listening(state: dict[str, Any], conninfo: str) -> Iterator[Any]:
    import psycopg

    conn = state["conn"]
    if conn is None or conn.closed:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
        conn.execute(f"LISTEN {outbox.CHANNEL}")
        state["conn"] = conn
    try:
        yield conn
    except psycopg.OperationalError:
        conn.close()
        state["conn"] = None
        raise


def start(app: Flask) -> threading.Event:
    """Run the relay in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run, args=(app, stop), name="outbox-relay", daemon=True).start()
    return stop
