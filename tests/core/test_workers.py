"""Queue workers' heartbeats (core/workers.py): who is alive, who died, read by /readyz,
the metrics and the console."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from campaign.core import workers
from campaign.core.db import utcnow
from campaign.core.workers import ALIVE, FORGOTTEN, WorkerBeat
from campaign.extensions import db


def _names(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(WorkerBeat.name).order_by(WorkerBeat.name)))


def _wait_for(names: list[str], app: Flask) -> bool:
    deadline = time.monotonic() + 5
    while _names(app) != names and time.monotonic() < deadline:
        time.sleep(0.05)
    return _names(app) == names


def test_a_running_worker_beats_and_removes_its_row_when_it_stops(app: Flask):
    stop, thread = workers.start(app)
    try:
        assert _wait_for([workers.this_worker()], app)
        with app.app_context():
            assert workers.state().alive == 1
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert _names(app) == []


def test_a_worker_that_stops_beating_is_no_longer_alive_and_is_forgotten_after_a_day(app: Flask):
    now = utcnow()
    with app.app_context():
        workers.beat("host:1", started_at=now - timedelta(hours=2), now=now)
        workers.beat("host:2", started_at=now - timedelta(hours=1), now=now)
        db.session.commit()

        later = now + ALIVE + timedelta(seconds=1)
        workers.beat("host:2", started_at=now - timedelta(hours=1), now=later)  # host:1 died
        db.session.commit()
        found = workers.state(now=later)
        assert (found.alive, found.last_seen) == (1, later)
        assert found.newest_start == now - timedelta(hours=1)

        much_later = later + FORGOTTEN + timedelta(seconds=1)
        workers.beat("host:3", started_at=much_later, now=much_later)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(WorkerBeat)) == 1
    assert _names(app) == ["host:3"]


def test_the_metrics_count_the_live_workers(app: Flask, client: FlaskClient):
    now = utcnow()
    with app.app_context():
        workers.beat("host:1", started_at=now, now=now)
        workers.beat("host:2", started_at=now, now=now - ALIVE - timedelta(seconds=1))
        db.session.commit()
    body = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).text
    assert "campaign_workers_alive 1.0" in body.splitlines()
