"""Which queue workers are alive: each `flask worker` writes a heartbeat row.

A worker killed with -9 says nothing: its row just stops being refreshed, and after
ALIVE it no longer counts. A worker that stops cleanly removes its row. `/readyz`, the
metrics and the console's « Envois » page read these rows, so that « no worker has run for
ten minutes » is seen without reading a log.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from prometheus_client.core import Metric
from sqlalchemy import String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from campaign.core import health, metrics
from campaign.core.db import UTCDateTime, utcnow
from campaign.extensions import db

logger = logging.getLogger(__name__)
BEAT = timedelta(seconds=5)  # how often a worker writes its row
ALIVE = timedelta(seconds=20)  # a row older than this is a worker that died
FORGOTTEN = timedelta(days=1)  # a dead worker's row is removed after this


class WorkerBeat(db.Model):
    __tablename__ = "worker_beats"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(name: str, started_at: datetime, now: datetime | None = None) -> None:
    """Record that `name` is alive; forget the long-dead. The caller commits."""
    now = now or utcnow()
    row = db.session.get(WorkerBeat, name)
    if row is None:
        db.session.add(WorkerBeat(name=name, started_at=started_at, seen_at=now))
    else:
        row.seen_at = now
    db.session.execute(delete(WorkerBeat).where(WorkerBeat.seen_at < now - FORGOTTEN))


def gone(name: str) -> None:
    """A worker stopping cleanly. The caller commits."""
    db.session.execute(delete(WorkerBeat).where(WorkerBeat.name == name))


@dataclass(frozen=True)
class Workers:
    alive: int
    last_seen: datetime | None  # the most recent heartbeat of any worker
    newest_start: datetime | None  # when the most recently started live worker started


NONE = Workers(alive=0, last_seen=None, newest_start=None)  # no worker has ever run


def state(now: datetime | None = None) -> Workers:
    now = now or utcnow()
    rows = db.session.execute(select(WorkerBeat.started_at, WorkerBeat.seen_at)).all()
    live = [started for started, seen in rows if now - seen <= ALIVE]
    return Workers(
        alive=len(live),
        last_seen=max((seen for _, seen in rows), default=None),
        newest_start=max(live, default=None),
    )


@metrics.reading
def _figures() -> Iterable[Metric]:
    alive = metrics.gauge("campaign_workers_alive", "Queue workers with a recent heartbeat")
    alive.add_metric([], state().alive)
    return [alive]


def _beating(app: Flask, stop: threading.Event, name: str) -> None:
    started = utcnow()
    while True:
        try:
            with app.app_context():
                if stop.is_set():
                    gone(name)
                else:
                    beat(name, started)
                db.session.commit()
        except Exception as exc:  # the database, down for now: the next beat tries again
            health.warn(logger, "worker-beat", "Worker heartbeat not recorded: %s", exc)
        if stop.is_set():
            return
        stop.wait(BEAT.total_seconds())


def start(app: Flask) -> tuple[threading.Event, threading.Thread]:
    """Beat every BEAT in a daemon thread; set the event and join the thread to stop
    (the row is then removed)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=_beating, args=(app, stop, this_worker()), name="worker-beat", daemon=True
    )
    thread.start()
    return stop, thread
