"""Exact public counts without a hot row.

A confirmation appends +1 to the `signature_count_deltas` ledger in its own transaction.
The public count is the petition's rolled-up `signature_count` plus the ledger rows not
yet rolled up, so it is exact the moment the confirmation commits. `rollup()` (every
minute, from the worker) folds the ledger into the petitions; `reconcile()` compares
with COUNT(*) and repairs any drift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from prometheus_client.core import Metric
from sqlalchemy import delete, func, select, update

from campaign.core import metrics
from campaign.core.ttlcache import TTLCache
from campaign.extensions import db
from campaign.petition.models import Petition, Signature, SignatureCountDelta

# petition id -> count, for hot pages.
_cache: TTLCache[int] = TTLCache()


def record_change(petition_id: int, delta: int) -> None:
    """+1 for a confirmation, -1 for a confirmed signature withdrawn."""
    db.session.add(SignatureCountDelta(petition_id=petition_id, delta=delta))


def _pending_sum(petition_id_column):  # type: ignore[no-untyped-def]
    return (
        select(func.coalesce(func.sum(SignatureCountDelta.delta), 0))
        .where(SignatureCountDelta.petition_id == petition_id_column)
        .scalar_subquery()
    )


def counts(petition_ids: list[int]) -> dict[int, int]:
    """The public total per petition: confirmed signatures, exact as of now (or the
    cache's few seconds), plus those collected on paper."""
    ttl = current_app.config["COUNT_CACHE_SECONDS"]
    result = {pid: hit for pid in petition_ids if (hit := _cache.get(pid)) is not None}
    missing = [pid for pid in petition_ids if pid not in result]
    if missing:
        rows = db.session.execute(
            select(
                Petition.id,
                Petition.signature_count + Petition.paper_count + _pending_sum(Petition.id),
            ).where(Petition.id.in_(missing))
        )
        for pid, value in rows:
            result[pid] = _cache.set(pid, int(value), ttl)
    return result


def online_counts(petition_ids: list[int]) -> dict[int, int]:
    """Confirmed online signatures per petition, exact, read with the petitions' rows (so
    that a reader adding paper_count from those rows gets the same total as counts())."""
    rows = db.session.execute(
        select(Petition.id, Petition.signature_count + _pending_sum(Petition.id)).where(
            Petition.id.in_(petition_ids)
        )
    )
    return {pid: int(value) for pid, value in rows}


@metrics.reading
def _figures() -> Iterable[Metric]:
    """Each petition's public total as /metrics reads it: confirmed online, and on paper."""
    total = metrics.gauge(
        "campaign_petition_signatures", "Signatures counted per petition", ["petition", "channel"]
    )
    rows = db.session.execute(
        select(
            Petition.slug,
            Petition.signature_count + _pending_sum(Petition.id),
            Petition.paper_count,
        )
    )
    for slug, online, paper in rows:
        total.add_metric([slug, "online"], int(online))
        total.add_metric([slug, "paper"], int(paper))
    return [total]


def count(petition: Petition) -> int:
    return counts([petition.id])[petition.id]


def forget_cached(petition_id: int | None = None) -> None:
    _cache.forget(petition_id)


def _lock_petitions() -> None:
    """Serialise rollup() and reconcile() (PostgreSQL; SQLite has one writer anyway).

    Each takes the petition rows first, so neither reads the ledger on a snapshot the
    other is about to change.
    """
    db.session.execute(select(Petition.id).order_by(Petition.id).with_for_update()).all()


def rollup() -> int:
    """Fold the ledger into the petitions; returns how many ledger rows were folded.

    DELETE … RETURNING takes exactly the rows it removes, so a confirmation committed
    meanwhile stays in the ledger for the next run instead of being lost.
    """
    _lock_petitions()
    folded = db.session.execute(
        delete(SignatureCountDelta).returning(
            SignatureCountDelta.petition_id, SignatureCountDelta.delta
        )
    ).all()
    totals: dict[int, int] = defaultdict(int)
    for petition_id, delta in folded:
        totals[petition_id] += delta
    for petition_id, delta in totals.items():
        db.session.execute(
            update(Petition)
            .where(Petition.id == petition_id)
            .values(signature_count=Petition.signature_count + delta)
        )
    return len(folded)


@dataclass(frozen=True)
class Drift:
    petition_id: int
    slug: str
    counted: int  # what the public count says
    actual: int  # COUNT(*) of confirmed signatures


def _confirmed_count(petition_id_column):  # type: ignore[no-untyped-def]
    return (
        select(func.count(Signature.id))
        .where(Signature.petition_id == petition_id_column, Signature.confirmed_at.is_not(None))
        .scalar_subquery()
    )


def reconcile(fix: bool = True) -> list[Drift]:
    """Compare each public count with COUNT(*); with fix, repair the ones that differ.

    The repair is one UPDATE whose subqueries share one snapshot, taken after the petition
    rows are locked, so confirmations that commit meanwhile are neither lost nor counted
    twice, and a concurrent rollup() waits its turn.
    """
    if fix:
        _lock_petitions()
    rows = db.session.execute(
        select(
            Petition.id,
            Petition.slug,
            Petition.signature_count + _pending_sum(Petition.id),
            _confirmed_count(Petition.id),
        )
    ).all()
    drifts = [Drift(pid, slug, int(c), int(a)) for pid, slug, c, a in rows if int(c) != int(a)]
    if fix:
        for drift in drifts:
            db.session.execute(
                update(Petition)
                .where(Petition.id == drift.petition_id)
                .values(signature_count=_confirmed_count(Petition.id) - _pending_sum(Petition.id))
            )
            forget_cached(drift.petition_id)
    return drifts
