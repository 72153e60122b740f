"""Counts: exact from the ledger, folded in batches, reconciled with COUNT(*), and race-free."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import func, select, update

from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.petition import counting, services
from campaign.petition.models import Petition, Signature, SignatureCountDelta
from campaign.petition.services import SignatureInput
from tests.concurrency import run_at_once
from tests.factories import confirmation_link, make_petition, path_of


def _sign_and_confirm(petition: Petition, outbox: list, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        services.sign(
            petition, SignatureInput(first_name="Ana", last_name="Lima", email=f"p{i}@example.org")
        )
        db.session.commit()
        token = path_of(confirmation_link(outbox[-1])).rsplit("/", 1)[1]
        services.confirm(token)
        db.session.commit()


def _confirmed(petition: Petition) -> int:
    return db.session.execute(
        select(func.count(Signature.id)).where(
            Signature.petition_id == petition.id, Signature.confirmed_at.is_not(None)
        )
    ).scalar_one()


def _ledger_rows() -> int:
    return db.session.execute(select(func.count(SignatureCountDelta.id))).scalar_one()


def test_a_confirmation_appends_to_the_ledger_and_leaves_the_petition_row_alone(ctx, outbox):
    petition = make_petition()
    db.session.commit()
    _sign_and_confirm(petition, outbox, 3)
    db.session.refresh(petition)
    assert petition.signature_count == 0  # no per-signature UPDATE of the hot row
    assert _ledger_rows() == 3
    assert counting.count(petition) == 3 == _confirmed(petition)


def test_rollup_folds_the_ledger_without_changing_the_count(ctx, outbox):
    petition = make_petition()
    other = make_petition(petition.collective)
    db.session.commit()
    _sign_and_confirm(petition, outbox, 4)
    _sign_and_confirm(other, outbox, 2, start=100)

    assert counting.rollup() == 6
    db.session.commit()

    db.session.refresh(petition)
    assert petition.signature_count == 4
    assert _ledger_rows() == 0
    assert counting.counts([petition.id, other.id]) == {petition.id: 4, other.id: 2}
    _sign_and_confirm(petition, outbox, 1, start=200)
    assert counting.count(petition) == 5


def test_reconcile_reports_and_repairs_drift(ctx, outbox):
    petition = make_petition()
    db.session.commit()
    _sign_and_confirm(petition, outbox, 3)
    counting.rollup()
    # Simulate drift: a count edited by hand, plus a confirmation still in the ledger.
    db.session.execute(update(Petition).values(signature_count=10))
    db.session.commit()
    _sign_and_confirm(petition, outbox, 1, start=50)

    drifts = counting.reconcile(fix=False)
    assert [(d.slug, d.counted, d.actual) for d in drifts] == [(petition.slug, 11, 4)]
    db.session.rollback()

    counting.reconcile(fix=True)
    db.session.commit()
    assert counting.count(petition) == 4 == _confirmed(petition)
    assert counting.reconcile(fix=False) == []
    # The ledger row survived the repair: folding it now keeps the count exact.
    counting.rollup()
    db.session.commit()
    assert counting.count(petition) == 4


def test_the_public_count_is_cached_for_a_few_seconds(app: Flask, ctx, outbox, monkeypatch):
    monkeypatch.setitem(app.config, "COUNT_CACHE_SECONDS", 60)
    petition = make_petition()
    db.session.commit()
    assert counting.count(petition) == 0
    db.session.add(SignatureCountDelta(petition_id=petition.id, delta=1))
    db.session.commit()
    assert counting.count(petition) == 0  # served from the cache
    counting.forget_cached(petition.id)
    assert counting.count(petition) == 1


def test_twenty_concurrent_signatures_with_one_email_store_one_row(app: Flask, outbox):
    with app.app_context():
        petition_id = make_petition().id
        db.session.commit()

    def sign() -> None:
        petition = db.session.get(Petition, petition_id)
        return services.sign(
            petition,
            SignatureInput(first_name="Jeanne", last_name="Dupont", email="jeanne@example.org"),
        )

    outcomes = run_at_once(app, [sign] * 20)

    with app.app_context():
        rows = db.session.execute(
            select(func.count(Signature.id)).where(Signature.petition_id == petition_id)
        ).scalar_one()
    assert rows == 1
    # Every attempt asked for an email; the cap holds however many raced.
    assert len(outcomes) == 20
    assert 1 <= len(outbox) <= services.MAX_EMAILS


def test_twenty_concurrent_clicks_on_one_link_count_once(app: Flask, outbox):
    with app.app_context():
        petition = make_petition()
        services.sign(
            petition, SignatureInput(first_name="Léa", last_name="Roux", email="lea@example.org")
        )
        db.session.commit()
        petition_id = petition.id
    token = path_of(confirmation_link(outbox[0])).rsplit("/", 1)[1]

    results = run_at_once(app, [lambda: services.confirm(token).status] * 20)

    assert results.count(services.ConfirmStatus.CONFIRMED) == 1
    assert set(results) == {services.ConfirmStatus.CONFIRMED, services.ConfirmStatus.ALREADY}
    with app.app_context():
        petition = db.session.get(Petition, petition_id)
        assert counting.count(petition) == 1
        confirmed_at = db.session.execute(select(Signature.confirmed_at)).scalar_one()
        assert confirmed_at <= utcnow()


def test_the_count_commands_report_and_repair(app: Flask, outbox):
    with app.app_context():
        petition = make_petition()
        db.session.commit()
        _sign_and_confirm(petition, outbox, 2)
        db.session.execute(update(Petition).values(signature_count=7))
        db.session.commit()
        slug, petition_id = petition.slug, petition.id
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["reconcile-counts", "--dry-run"])
    assert dry.exit_code == 0
    assert f"{slug}: counted 9, actual 2" in dry.output
    fixed = runner.invoke(args=["reconcile-counts"])
    assert "set to 2" in fixed.output
    assert "All counts match" in runner.invoke(args=["reconcile-counts"]).output

    rolled = runner.invoke(args=["rollup-counts"])
    assert rolled.exit_code == 0 and "Folded 2 ledger rows" in rolled.output
    with app.app_context():
        assert counting.count(db.session.get(Petition, petition_id)) == 2


def test_reconcile_and_rollup_running_together_keep_the_count_exact(app: Flask, outbox):
    with app.app_context():
        petition = make_petition()
        db.session.commit()
        petition_id = petition.id
    for round_ in range(5):
        with app.app_context():
            petition = db.session.get(Petition, petition_id)
            _sign_and_confirm(petition, outbox, 2, start=10 * round_)
            db.session.execute(update(Petition).values(signature_count=100))  # drift to repair
            db.session.commit()
        jobs = iter([counting.rollup, lambda: counting.reconcile(fix=True)])
        lock = threading.Lock()

        def next_job(jobs=jobs, lock=lock) -> object:  # type: ignore[no-untyped-def]
            with lock:
                job = next(jobs)
            return job()

        run_at_once(app, [next_job] * 2)
        with app.app_context():
            expected = 2 * (round_ + 1)
            assert counting.count(db.session.get(Petition, petition_id)) == expected
            assert counting.reconcile(fix=False) == []
