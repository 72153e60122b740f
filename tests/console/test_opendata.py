"""Public open data: counts per département and per day, no personal data, no draft."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from campaign.console import opendata
from campaign.console.models import AuditEntry, PaperSignatures
from campaign.extensions import db
from campaign.petition.models import PetitionStatus, Signature
from tests.factories import make_collective, make_petition

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
URLS = ["departements.csv", "departements.json", "jours.csv", "jours.json"]


def _people(petition_id: int, n: int, confirmed: bool = True) -> list[dict[str, object]]:
    deps = ["75", "75", "69", "13", "2A", "971", None]
    return [
        {
            "petition_id": petition_id,
            "first_name": f"Jeanne{petition_id}x{i}",
            "last_name": f"Durand{petition_id}x{i}",
            "email": f"jeanne.{petition_id}.{i}.{confirmed}@example.org",
            "email_canonical": f"jeanne.{petition_id}.{i}.{confirmed}@example.org",
            "country": "FR" if deps[i % len(deps)] else "DE",
            "postcode": "75011" if deps[i % len(deps)] else None,
            "departement": deps[i % len(deps)],
            "consent_version": "v1",
            "optin_collective": False,
            "source": "qr-secret-source",
            "token_nonce": f"{i:032x}",
            "token_hash": f"{petition_id:04x}{int(confirmed)}{i:059x}",
            "token_expires_at": START + timedelta(days=30),
            "created_at": START,
            "confirmed_at": START + timedelta(hours=7 * i) if confirmed else None,
            "emails_sent": 1,
        }
        for i in range(n)
    ]


@pytest.fixture
def petitions(app: Flask) -> dict[str, object]:
    with app.app_context():
        collective = make_collective()
        public = make_petition(collective)
        draft = make_petition(collective, status=PetitionStatus.DRAFT)
        closed = make_petition(collective, status=PetitionStatus.CLOSED)
        confirmed = _people(public.id, 40)
        db.session.execute(
            insert(Signature),
            confirmed + _people(public.id, 5, confirmed=False) + _people(draft.id, 3),
        )
        db.session.add(
            PaperSignatures(
                petition_id=public.id,
                count=77,
                collected_on=date(2026, 3, 2),
                note="Jeanne Secret",
                added_by="Camille Organisatrice",
            )
        )
        db.session.commit()
        return {
            "slug": public.slug,
            "draft": draft.slug,
            "closed": closed.slug,
            "departements": Counter(r["departement"] for r in confirmed),
            "jours": Counter(r["confirmed_at"].date().isoformat() for r in confirmed),  # type: ignore[union-attr]
            "people": confirmed,
        }


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode()[1:], newline=""), delimiter=";"))


def test_departements_equal_direct_counts(client, petitions):
    rows = _csv(client.get(f"/donnees/{petitions['slug']}/departements.csv").data)
    assert rows[0] == ["Département", "Signatures"]
    expected = {(k or "(inconnu)"): str(n) for k, n in petitions["departements"].items()}
    assert dict(rows[1:]) == expected and len(rows) == len(expected) + 1
    assert [r[0] for r in rows[1:]] == sorted(expected)  # by code

    payload = client.get(f"/donnees/{petitions['slug']}/departements.json").get_json()
    assert {r["departement"]: r["count"] for r in payload["rows"]} == dict(
        petitions["departements"]
    )
    assert payload["confirmed"] == 40 and payload["paper"] == 77
    assert payload["petition"] == petitions["slug"]
    datetime.fromisoformat(payload["generated_at"])


def test_days_equal_direct_counts(client, petitions):
    rows = _csv(client.get(f"/donnees/{petitions['slug']}/jours.csv").data)
    assert rows[0] == ["Jour", "Signatures"]
    assert rows[1:] == [[day, str(n)] for day, n in sorted(petitions["jours"].items())]

    payload = client.get(f"/donnees/{petitions['slug']}/jours.json").get_json()
    assert [(r["jour"], r["count"]) for r in payload["rows"]] == sorted(petitions["jours"].items())
    assert sum(r["count"] for r in payload["rows"]) == 40


@pytest.mark.parametrize("url", URLS)
def test_no_personal_data_anywhere(client, petitions, url: str):
    response = client.get(f"/donnees/{petitions['slug']}/{url}")
    assert response.status_code == 200
    text = response.data.decode()
    assert "@" not in text
    for person in petitions["people"]:
        assert person["first_name"] not in text and person["last_name"] not in text
    for word in ("Jeanne", "Durand", "example.org", "qr-secret", "75011", "Secret", "Camille"):
        assert word not in text
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("url", URLS)
def test_cors_and_caching_headers(client, petitions, url: str):
    response = client.get(f"/donnees/{petitions['slug']}/{url}")
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.mimetype == ("application/json" if url.endswith("json") else "text/csv")


@pytest.mark.parametrize("url", URLS)
def test_drafts_and_unknown_petitions_are_404(app: Flask, client, petitions, url: str):
    assert client.get(f"/donnees/{petitions['draft']}/{url}").status_code == 404
    assert client.get(f"/donnees/inconnue/{url}").status_code == 404
    closed = client.get(f"/donnees/{petitions['closed']}/{url}")
    assert closed.status_code == 200  # a closed petition stays public
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AuditEntry)).scalar() == 0


@pytest.mark.parametrize(
    "path", ["{slug}/regions.csv", "{slug}/jours.xlsx", "{slug}/jours", "{slug}/signataires.csv"]
)
def test_nothing_else_is_open(client, petitions, path: str):
    assert client.get(f"/donnees/{path.format(slug=petitions['slug'])}").status_code == 404


def test_index_lists_public_petitions_only(client, petitions):
    page = client.get("/donnees/")
    assert page.status_code == 200
    assert f"/donnees/{petitions['slug']}/departements.csv" in page.text
    assert f"/donnees/{petitions['closed']}/jours.json" in page.text
    assert petitions["draft"] not in page.text


@pytest.fixture
def page_cache(app: Flask, monkeypatch) -> Iterator[None]:
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 60)
    yield
    opendata._bodies.forget()


def test_cached_for_page_cache_seconds(app: Flask, client, petitions, page_cache, monkeypatch):
    url = f"/donnees/{petitions['slug']}/departements.json"
    before = client.get(url).get_json()["confirmed"]
    with app.app_context():
        db.session.execute(
            Signature.__table__.delete().where(Signature.email.like("jeanne.%.0.True@%"))
        )
        db.session.commit()
    assert client.get(url).get_json()["confirmed"] == before  # the worker's copy
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 0)
    assert client.get(url).get_json()["confirmed"] == before - 1
