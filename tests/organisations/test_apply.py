"""An organisation applies to join, confirms its contact email, and reaches the organisers."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import select

from campaign.extensions import db
from campaign.organisations.models import Organisation, OrganisationStatus
from campaign.organisations.views import DUPLICATE_MESSAGE
from tests.conftest import PUBLIC_URL
from tests.factories import csrf_from, make_collective

VALID = {
    "name": "Enfance & Familles Rennes",
    "kind": "association",
    "identifier": "W351234567",
    "website": "https://enfance-familles.example.org",
    "departement": "35",
    "presentation": "Nous accompagnons les familles d’Ille-et-Vilaine.",
    "contact_name": "Léa Martin",
    "contact_email": "lea.martin@example.org",
    "contact_phone": "06 12 34 56 78",
    "shares_demands": "y",
}
CONFIRM_LINK = re.compile(r"https?://\S+/organisations/confirmer/\d+/[A-Za-z0-9_-]+")


@pytest.fixture
def collective(app: Flask) -> None:
    with app.app_context():
        make_collective()
        db.session.commit()


def _apply(client, **fields: str):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/rejoindre").text)
    data = {**VALID, "csrf_token": token, **fields}
    return client.post("/rejoindre", data={k: v for k, v in data.items() if v is not None})


def _organisations(app: Flask) -> list[Organisation]:
    with app.app_context():
        rows = list(db.session.execute(select(Organisation)).scalars())
        db.session.expunge_all()
    return rows


def _error(response, field: str) -> str:  # type: ignore[no-untyped-def]
    match = re.search(rf'id="{field}-error">([^<]+)<', response.text)
    assert match, f"no error shown for {field}"
    return html.unescape(match.group(1))


def test_the_page_lists_the_demands_and_nothing_is_ticked(client, collective):
    page = client.get("/rejoindre").text
    assert "Revendication 1" in page
    assert "checked" not in page
    assert 'name="website_check"' in page  # the honeypot


def test_applying_then_confirming_puts_the_application_in_the_queue(
    app: Flask, client, collective, outbox
):
    response = _apply(client)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/rejoindre/merci")
    [organisation] = _organisations(app)
    assert organisation.status is OrganisationStatus.UNCONFIRMED
    assert organisation.identifier == "W351234567"
    assert organisation.listed is False

    [message] = outbox
    assert message.recipients == ["lea.martin@example.org"]
    link = CONFIRM_LINK.search(message.body).group(0)
    assert link.startswith(PUBLIC_URL)
    path = link.removeprefix(PUBLIC_URL)

    assert "Demande transmise" in client.get(path).text
    assert client.get(path).status_code == 200  # a second click does no harm
    [organisation] = _organisations(app)
    assert organisation.status is OrganisationStatus.PENDING
    assert organisation.confirmed_at is not None

    forged = re.sub(r"/[A-Za-z0-9_-]+$", "/" + "A" * 43, path)
    assert client.get(forged).status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "ENFANCE ET FAMILLES — rennes", "identifier": ""},  # same name, folded
        {"name": "Autre nom", "departement": "69"},  # same RNA number
    ],
)
def test_the_same_organisation_cannot_apply_twice(app: Flask, client, collective, outbox, fields):
    assert _apply(client).status_code == 303
    response = _apply(client, contact_email="someone.else@example.org", **fields)
    assert response.status_code == 409
    assert DUPLICATE_MESSAGE in html.unescape(response.text)
    assert len(_organisations(app)) == 1
    assert len(outbox) == 1
    # Nothing private is disclosed: not the contact, not the status.
    assert "lea.martin" not in response.text


def test_same_name_elsewhere_is_another_organisation(app: Flask, client, collective, outbox):
    _apply(client)
    assert _apply(client, identifier="", departement="69").status_code == 303
    assert len(_organisations(app)) == 2


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"identifier": "W12345"}, "identifier", "Indiquez un numéro RNA"),
        ({"identifier": "732829321"}, "identifier", "clé de contrôle"),
        ({"website": "javascript:alert(1)"}, "website", "https://"),
        ({"website": "ftp://exemple.fr"}, "website", "https://"),
        ({"contact_phone": "12345"}, "contact_phone", "10 chiffres"),
        ({"shares_demands": None}, "shares_demands", "partager ses revendications"),
        ({"kind": "secte"}, "kind", "type d’organisation"),
        ({"departement": "99"}, "departement", "Choisissez un département"),
        ({"name": "=HYPERLINK(1)"}, "name", "ne peut pas commencer"),
        ({"name": "x" * 10_000}, "name", "200 caractères"),
        ({"presentation": "x" * 10_000}, "presentation", "1000 caractères"),
        ({"presentation": "bonjour\x00"}, "presentation", "caractères invisibles"),
        ({"contact_email": "pas-une-adresse"}, "contact_email", "Adresse e-mail invalide"),
        ({"contact_name": "http://spam.example"}, "contact_name", "adresse web"),
    ],
)
def test_bad_input_is_refused_in_french_beside_its_field(
    app: Flask, client, collective, outbox, fields, field, message
):
    response = _apply(client, **fields)
    assert response.status_code == 422
    assert message in _error(response, field)
    assert _organisations(app) == []
    assert outbox == []
    # What was typed in the other fields is kept.
    kept = next(name for name in ("presentation", "contact_name") if name not in fields)
    assert VALID[kept] in html.unescape(response.text)


def test_the_honeypot_looks_like_success_and_stores_nothing(app: Flask, client, collective, outbox):
    response = _apply(client, website_check="http://spam.example")
    assert response.status_code == 303
    assert _organisations(app) == [] and outbox == []


def test_applying_without_csrf_is_refused(app: Flask, client, collective):
    response = client.post("/rejoindre", data=VALID)
    assert response.status_code == 400
    assert "Le formulaire a expiré" in html.unescape(response.text)
    assert _organisations(app) == []


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 120), (180, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def test_a_logo_is_checked_reencoded_stored_apart_and_served(app: Flask, client, collective):
    response = _apply(client, logo=(io.BytesIO(_png()), "logo.png"))
    assert response.status_code == 303
    [organisation] = _organisations(app)
    name = organisation.logo_filename
    assert re.fullmatch(r"[0-9a-f]{32}\.png", name)
    assert "static" not in str(Path(app.instance_path))

    with client.get(f"/organisations/logos/{name}") as served:
        assert served.status_code == 200
        assert served.mimetype == "image/png"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        with Image.open(io.BytesIO(served.data)) as image:
            assert image.size == (300, 120)
    assert client.get("/organisations/logos/..%2Fsecret.png").status_code == 404
    assert client.get("/organisations/logos/" + "0" * 32 + ".png").status_code == 404


@pytest.mark.parametrize(
    "upload",
    [
        (b"<html><script>alert(1)</script></html>", "logo.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "logo.png"),
        (b"%PDF-1.4", "logo.jpg"),
    ],
)
def test_a_file_that_is_not_an_image_is_refused_beside_the_field(
    app: Flask, client, collective, outbox, upload
):
    data, filename = upload
    response = _apply(client, logo=(io.BytesIO(data), filename))
    assert response.status_code == 422
    assert "PNG, JPEG ou WebP" in _error(response, "logo")
    assert VALID["presentation"] in html.unescape(response.text)  # nothing typed is lost
    assert _organisations(app) == [] and outbox == []
