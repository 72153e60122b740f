"""Degrade, don't fail: with the database unreachable a form gets a French 503 with
Retry-After and comes back filled; a dropped connection is retried, not shown."""

from __future__ import annotations

import re
from html import unescape

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from campaign.extensions import db
from campaign.organisations import services as organisation_services
from campaign.petition import services as petition_services
from campaign.petition.models import Signature
from campaign.rallies import rsvp
from tests.factories import (
    RSVP_FORM,
    SIGN_FORM,
    make_collective,
    make_day,
    make_petition,
    make_rally,
)

JOIN_FORM = {
    "started": SIGN_FORM["started"],
    "name": "Enfance & Familles Rennes",
    "kind": "association",
    "identifier": "W351234567",
    "departement": "35",
    "presentation": "Nous accompagnons les familles.",
    "contact_name": "Léa Martin",
    "contact_email": "lea.martin@example.org",
    "shares_demands": "y",
}


def _unreachable(*args: object, **kwargs: object) -> None:
    raise OperationalError("SELECT 1", {}, Exception("could not connect to server"))


def _hidden_and_text_values(page: str) -> dict[str, str]:
    """What the page's form would send as it is: inputs, selected options, text areas."""
    values = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value:
            values[name.group(1)] = unescape(value.group(1))
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        for attributes in re.findall(r"<option([^>]*)>", options):
            value = re.search(r'value="([^"]*)"', attributes)
            if value and re.search(r"\bselected\b", attributes):
                values[name] = unescape(value.group(1))
    for name, content in re.findall(
        r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S
    ):
        values[name] = unescape(content.strip())
    return values


@pytest.fixture
def forms(app: Flask) -> dict[str, tuple[str, dict[str, str], object, str]]:
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        rally = make_rally(make_day(collective))
        db.session.commit()
        slug, rally_id = petition.slug, rally.id
    return {
        "sign": (
            f"/petitions/{slug}",
            SIGN_FORM,
            (petition_services, "sign"),
            "jeanne@example.org",
        ),
        "rsvp": (
            f"/rassemblements/{rally_id}",
            RSVP_FORM,
            (rsvp, "register"),
            "jeanne@example.org",
        ),
        "join": (
            "/rejoindre",
            JOIN_FORM,
            (organisation_services, "apply"),
            "lea.martin@example.org",
        ),
    }


@pytest.mark.parametrize("form", ["sign", "rsvp", "join"])
def test_a_post_while_the_database_is_down_gets_a_503_with_the_form_filled(
    app: Flask, client: FlaskClient, forms, form: str, monkeypatch: pytest.MonkeyPatch
):
    path, data, (module, name), email = forms[form]
    with monkeypatch.context() as outage:
        outage.setattr(module, name, _unreachable)
        response = client.post(path, data=data)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "Rien n’est perdu" in response.text
    assert f'action="{path}"' in response.text
    given_back = _hidden_and_text_values(response.text)
    assert given_back["email" if form != "join" else "contact_email"] == email
    assert given_back["started"] == data["started"]
    assert given_back["consent" if form != "join" else "shares_demands"] == "y"

    # The database is back: the page's own form, sent as it is, does what the first did.
    again = client.post(path, data=given_back)
    assert again.status_code == 303, again.text[:500]


def test_a_get_while_the_database_is_down_is_a_french_503(
    app: Flask, client: FlaskClient, forms, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(petition_services, "get_petition", _unreachable)
    response = client.get(forms["sign"][0])
    assert response.status_code == 503
    assert "Service momentanément indisponible" in response.text
    assert "<form" not in response.text.split("<main", 1)[1]


def test_a_query_error_that_is_not_an_outage_stays_a_500(
    app: Flask, client: FlaskClient, forms, monkeypatch: pytest.MonkeyPatch
):
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(petition_services, "get_petition", broken)
    assert client.get(forms["sign"][0]).status_code == 500


@pytest.mark.postgres_only
def test_a_signing_on_a_connection_the_server_dropped_is_retried_and_kept(
    app: Flask, client: FlaskClient, forms
):
    """No pre-ping: the pooled connections were killed (a database restart); the signing
    statement finds its connection dead, and is run again once on a fresh one."""
    path = forms["sign"][0]
    client.post(path, data={**SIGN_FORM, "email": "first@example.org"})  # pool warmed
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        database = db.engine.url.database
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
    response = client.post(path, data={**SIGN_FORM, "email": "second@example.org"})
    assert response.status_code == 303
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        emails = db.session.scalars(select(func.count()).select_from(Signature)).one()
    assert emails == 2
