"""Races, for real: threads released at the same instant, each with its own session."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask

from campaign.extensions import db


def run_at_once(app: Flask, works: list[Callable[[], object]]) -> list[object]:
    """Run each work in its own thread; returns their results (in finishing order)."""
    barrier = threading.Barrier(len(works))
    results: list[object] = []
    errors: list[BaseException] = []

    def run(work: Callable[[], object]) -> None:
        with app.app_context():
            try:
                barrier.wait()
                results.append(work())
                db.session.commit()
            except BaseException as exc:  # reported below, not swallowed
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    return results
