"""The public API /api/v1: its OpenAPI description against the code (schemathesis), CORS,
ETags, problem+json, pagination, rate limit, and no personal data in any answer."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings

from campaign.extensions import db, limiter
from campaign.petition.models import Signature
from campaign.rallies.models import Rsvp, RsvpStatus
from tests.factories import make_collective, make_day, make_member, make_petition, make_rally

# What a signer, a participant, a member's contact and a rally's organiser told us:
# none of it may ever appear in an API answer.
PERSONAL = {
    "signer_first": "Philomène",
    "signer_last": "Quatrebarbes",
    "signer_email": "philomene.q@exemple-prive.fr",
    "signer_postcode": "29770",
    "rsvp_name": "Anatole Vingtrinier",
    "rsvp_email": "anatole.v@exemple-prive.fr",
    "rsvp_phone": "0611223344",
    "contact_name": "Sidonie Brocheton",
    "contact_email": "sidonie.b@exemple-prive.fr",
    "contact_phone": "0755667788",
    "rally_contact": "Hippolyte Farjot",
    "rally_email": "hippolyte.f@exemple-prive.fr",
}


def _seed(app: Flask) -> dict[str, str]:
    """A collective with two petitions (one a draft), signatures, a day with two rallies
    (one with an RSVP), two listed members and one not listed."""
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective, slug="ouverte")
        make_petition(collective, slug="brouillon").status = "draft"
        members = [make_member(collective) for _ in range(2)]
        hidden = make_member(collective, "Cachée")
        hidden.listed = False
        hidden.contact_name, hidden.contact_email = (
            PERSONAL["contact_name"],
            PERSONAL["contact_email"],
        )
        hidden.contact_phone = PERSONAL["contact_phone"]
        members[0].contact_name = PERSONAL["contact_name"]
        members[0].contact_email = PERSONAL["contact_email"]
        members[0].contact_phone = PERSONAL["contact_phone"]
        day = make_day(collective)
        rally = make_rally(
            day,
            organisations=[members[0]],
            contact_name=PERSONAL["rally_contact"],
            contact_email=PERSONAL["rally_email"],
        )
        make_rally(day, "75056", venue="Place de la République", address="75011 Paris")
        now = datetime.now(UTC)
        for n, (first, email, postcode) in enumerate(
            [
                (PERSONAL["signer_first"], PERSONAL["signer_email"], PERSONAL["signer_postcode"]),
                ("Jeanne", "jeanne@example.org", "75011"),
            ]
        ):
            db.session.add(
                Signature(
                    petition_id=petition.id,
                    first_name=first,
                    last_name=PERSONAL["signer_last"],
                    email=email,
                    email_canonical=email,
                    postcode=postcode,
                    departement=postcode[:2],
                    consent_version="1",
                    token_nonce=f"{n:032x}",
                    token_hash=f"{n:064x}",
                    token_expires_at=now + timedelta(days=1),
                    confirmed_at=now,
                    petition_version=1,
                )
            )
        petition.signature_count = 2
        db.session.add(
            Rsvp(
                rally_id=rally.id,
                name=PERSONAL["rsvp_name"],
                email=PERSONAL["rsvp_email"],
                email_canonical=PERSONAL["rsvp_email"],
                phone=PERSONAL["rsvp_phone"],
                consent_version="1",
                status=RsvpStatus.CONFIRMED,
                token_nonce="f" * 32,
                token_hash="f" * 64,
                token_expires_at=now + timedelta(days=1),
                confirmed_at=now,
            )
        )
        db.session.commit()
        return {"petition": petition.slug, "day": day.slug}


@pytest.fixture
def seeded(app: Flask) -> dict[str, str]:
    return _seed(app)


def test_every_answer_of_the_api_matches_its_description(app: Flask, seeded: dict[str, str]):
    """schemathesis over every operation: generated parameters (valid and not), each answer
    checked against the description (status, headers, media type, schema)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    limiter.enabled = False  # hundreds of generated requests from one client
    try:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=30,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate()

            check()
    finally:
        limiter.enabled = True


def test_the_description_lists_every_route_of_the_api(app: Flask, client: FlaskClient):
    described = set(client.get("/api/v1/openapi.json").get_json()["paths"])
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.unknown"
    }
    assert described == routes
    assert "/petitions/{slug}/departements" in described


def _every_answer(client: FlaskClient, seeded: dict[str, str]) -> dict[str, str]:
    paths = [
        "/api/v1/",
        "/api/v1/openapi.json",
        "/api/v1/petitions",
        "/api/v1/days",
        "/api/v1/organisations",
        "/api/v1/rallies",
        f"/api/v1/rallies?day={seeded['day']}",
    ]
    for petition in client.get("/api/v1/petitions").get_json()["items"]:
        base = f"/api/v1/petitions/{petition['slug']}"
        paths += [base, f"{base}/departements", f"{base}/days"]
    answers = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        answers[path] = response.get_data(as_text=True)
    return answers


def test_no_answer_carries_personal_data(client: FlaskClient, seeded: dict[str, str]):
    answers = _every_answer(client, seeded)
    assert len(answers) >= 10
    for path, body in answers.items():
        for what, value in PERSONAL.items():
            assert value.lower() not in body.lower(), f"{what} in {path}"
    petitions = json.loads(answers["/api/v1/petitions"])["items"]
    assert [p["slug"] for p in petitions] == ["ouverte"]  # the draft is not public
    assert petitions[0]["counts"] == {"confirmed": 2, "paper": 0, "total": 2}
    members = json.loads(answers["/api/v1/organisations"])["items"]
    assert len(members) == 2 and not any("Cachée" in m["name"] for m in members)
    departements = json.loads(answers["/api/v1/petitions/ouverte/departements"])
    assert {r["departement"]: r["count"] for r in departements["rows"]} == {"29": 1, "75": 1}


def test_rallies_are_a_geojson_feature_collection(client: FlaskClient, seeded: dict[str, str]):
    response = client.get(f"/api/v1/rallies?day={seeded['day']}")
    assert response.mimetype == "application/geo+json"
    collection = response.get_json()
    assert collection["type"] == "FeatureCollection" and collection["total"] == 2
    lyon = next(f for f in collection["features"] if f["properties"]["city"] == "Lyon")
    lon, lat = lyon["geometry"]["coordinates"]
    assert 4.7 < lon < 4.9 and 45.7 < lat < 45.8  # longitude first (RFC 7946)
    assert client.get("/api/v1/rallies?day=aucune").status_code == 404


def test_any_site_may_read_it(client: FlaskClient, seeded: dict[str, str]):
    response = client.get("/api/v1/petitions", headers={"Origin": "https://journal.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options(
        "/api/v1/petitions",
        headers={"Origin": "https://journal.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert client.get("/api/v1/nope").headers["Access-Control-Allow-Origin"] == "*"
    refused = client.post("/api/v1/petitions")  # a routing error, before any view ran
    assert refused.status_code == 405 and refused.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


def test_each_answer_has_an_etag_and_revalidates_with_304(
    client: FlaskClient, seeded: dict[str, str]
):
    for path in (
        "/api/v1/petitions",
        "/api/v1/rallies",
        "/api/v1/petitions/ouverte/days",
        "/api/v1/",
    ):
        first = client.get(path)
        assert first.headers["ETag"] and "public" in first.headers["Cache-Control"], path
        again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b"", path
    with client.application.app_context():
        make_petition(slug="nouvelle")
        db.session.commit()
    changed = client.get("/api/v1/petitions", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/api/v1/petitions/inconnue", "GET", 404),
        ("/api/v1/petitions/brouillon", "GET", 404),
        ("/api/v1/rien/du/tout", "GET", 404),
        ("/api/v1/petitions?page=0", "GET", 400),
        ("/api/v1/petitions?per_page=101", "GET", 400),
        ("/api/v1/petitions?page=abc", "GET", 400),
        ("/api/v1/petitions", "POST", 405),
        ("/api/v1/petitions", "DELETE", 405),
    ],
)
def test_errors_are_problem_documents_in_french(
    client: FlaskClient, seeded: dict[str, str], path: str, method: str, status: int
):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_lists_come_in_pages_linked_to_the_next(client: FlaskClient, seeded: dict[str, str]):
    first = client.get("/api/v1/organisations?per_page=1&utm_source=x")
    body = first.get_json()
    assert (body["total"], len(body["items"]), body["page"]) == (2, 1, 1)
    assert first.headers["Link"] == f'<{body["next"]}>; rel="next"'
    assert "utm_source" not in body["next"]  # only what the API reads is carried on
    next_url = urlsplit(body["next"])
    second = client.get(f"{next_url.path}?{next_url.query}")
    page_two = second.get_json()
    assert page_two["page"] == 2 and page_two["next"] is None
    assert page_two["items"][0]["id"] != body["items"][0]["id"]
    assert "Link" not in second.headers


def test_a_client_asking_too_often_is_told_to_wait(
    app: Flask, client: FlaskClient, seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "3 per minute")
    statuses = [client.get(p).status_code for p in ("/api/v1/days", "/api/v1/petitions") * 2]
    assert statuses == [200, 200, 200, 429]  # one allowance for the whole API
    refused = client.get("/api/v1/organisations")
    assert refused.mimetype == "application/problem+json"
    assert refused.headers.get("Retry-After")


def test_the_documentation_page_lists_each_operation(client: FlaskClient, seeded: dict[str, str]):
    page = client.get("/api/v1/").get_data(as_text=True)
    for path in ("/api/v1/petitions", "/api/v1/rallies", "/api/v1/openapi.json"):
        assert path in page
    assert "application/problem+json" in page
