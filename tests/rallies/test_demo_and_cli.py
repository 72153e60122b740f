"""The demo's mobilisation days, faithful to the call, and the `flask rallies` commands."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from campaign.extensions import db
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus, Rsvp, RsvpStatus
from tests.factories import make_rally

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
SEVEN = ["Paris", "Rennes", "Lille", "Strasbourg", "Lyon", "Marseille", "Toulouse"]
# INSEE codes of the seven cities (the whole city, not an arrondissement).
CODES = {
    "Paris": "75056",
    "Rennes": "35238",
    "Lille": "59350",
    "Strasbourg": "67482",
    "Lyon": "69123",
    "Marseille": "13055",
    "Toulouse": "31555",
}


def _seed(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output


def test_the_demo_has_the_15_may_2025_day_with_its_seven_cities_to_be_specified(app: Flask):
    _seed(app)
    with app.app_context():
        day = db.session.execute(
            select(MobilisationDay).where(MobilisationDay.date == date(2025, 5, 15))
        ).scalar_one()
        rallies = {r.city: r for r in day.rallies}
        assert sorted(rallies) == sorted(SEVEN)
        for city, rally in rallies.items():
            assert rally.commune_insee == CODES[city]
            assert rally.status is RallyStatus.PUBLISHED
            assert rally.venue == "" and rally.start_time is None  # « à préciser »
            assert rally.date == day.date
        # The other day the call names has no city: no rally is made up for it.
        earlier = db.session.execute(
            select(MobilisationDay).where(MobilisationDay.date == date(2024, 9, 25))
        ).scalar_one()
        assert earlier.rallies == []


def test_a_demo_rally_page_says_what_is_still_to_be_specified(app: Flask, client):
    _seed(app)
    with app.app_context():
        lyon = db.session.execute(select(Rally).where(Rally.city == "Lyon")).scalar_one()
    page = client.get(f"/rassemblements/{lyon.id}").text
    assert "Lieu à préciser" in page
    assert "horaire à préciser" in page
    assert "15 mai 2025" in page


@pytest.mark.skipif(not SEEDS.exists(), reason="the source documents are not beside the repo")
def test_the_seven_cities_are_those_of_the_call():
    # The PDF's text breaks lines anywhere: compare with whitespace collapsed.
    call = " ".join((SEEDS / "000_b94de7aff5c06292.txt").read_text(encoding="utf-8").split())
    named = re.search(r"sept grandes villes : ([^.]+)\.", call)
    assert named, "the call no longer names its seven cities"
    cities = re.split(r",\s*|\s+et\s+", " ".join(named.group(1).split()))
    assert cities == SEVEN


def test_add_day_announces_a_day_once(app: Flask):
    _seed(app)
    runner = app.test_cli_runner()
    args = ["rallies", "add-day", "--date", "2030-05-15", "--title", "Journée du 15 mai 2030"]
    first = runner.invoke(args=args)
    again = runner.invoke(args=args)
    bad_date = runner.invoke(args=["rallies", "add-day", "--date", "15/05/2030", "--title", "X"])

    assert first.exit_code == 0, first.output
    assert "/mobilisations/journee-du-15-mai-2030" in first.output
    assert again.exit_code != 0 and "exists already" in again.output
    assert bad_date.exit_code != 0
    with app.app_context():
        day = db.session.execute(
            select(MobilisationDay).where(MobilisationDay.slug == "journee-du-15-mai-2030")
        ).scalar_one()
        assert day.date == date(2030, 5, 15)


def test_add_day_needs_a_collective(app: Flask):
    result = app.test_cli_runner().invoke(
        args=["rallies", "add-day", "--date", "2030-05-15", "--title", "Journée"]
    )
    assert result.exit_code != 0 and "No collective" in result.output


def test_list_prints_every_rally_with_its_status(app: Flask):
    _seed(app)
    output = app.test_cli_runner().invoke(args=["rallies", "list"]).output
    lines = output.strip().splitlines()
    assert len(lines) == 7
    assert all("\tpublished\t" in line and "15-mai-2025" in line for line in lines)


def test_purge_deletes_stale_pending_rsvps_and_keeps_the_rest(app: Flask):
    with app.app_context():
        rally = make_rally()
        long_ago = datetime.now(UTC) - timedelta(days=60)
        for n, status in enumerate([RsvpStatus.PENDING, RsvpStatus.CONFIRMED]):
            db.session.add(
                Rsvp(
                    rally_id=rally.id,
                    name="Jeanne Dupont",
                    email=f"p{n}@example.org",
                    email_canonical=f"p{n}@example.org",
                    consent_version="v",
                    status=status,
                    token_nonce="0" * 32,
                    token_hash=f"{n}" * 64,
                    token_expires_at=long_ago,
                )
            )
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["purge-unconfirmed"])

    assert "1 unconfirmed RSVPs" in result.output
    with app.app_context():
        left = db.session.execute(select(Rsvp.status)).scalars().all()
        assert left == [RsvpStatus.CONFIRMED]
