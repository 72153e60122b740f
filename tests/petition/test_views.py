"""The HTTP layer of signing: pages, form errors in French, cross-site refusal, honeypot and
time trap, duplicates that disclose nothing, confirmation links, JSON counts, security
headers, cookies and rate limits."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from campaign.console.models import Role
from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.petition.consent import consent_text
from campaign.petition.models import Petition, PetitionStatus, Signature
from tests.conftest import PUBLIC_URL
from tests.console.helpers import sign_in
from tests.factories import FORM_STAMP, comparable, confirmation_link, make_petition, path_of

VALID = {
    "started": FORM_STAMP,
    "first_name": "Jeanne",
    "last_name": "Dupont",
    "email": "jeanne.dupont@example.org",
    "country": "FR",
    "postcode": "75011",
    "consent": "y",
}
CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
HIDDEN_INPUT = re.compile(r'<input[^>]*name="(\w+)"[^>]*type="hidden"[^>]*value="([^"]*)"')
CROSS_SITE_MESSAGE = "Ce formulaire a été envoyé depuis un autre site"
CLOSED_MESSAGE = "Cette pétition est close : elle ne recueille plus de signatures."
UPCOMING_MESSAGE = "Cette pétition n’est pas encore ouverte aux signatures."
RESEND_FLASH = "Demande enregistrée : si cette adresse a signé la pétition, un nouvel e-mail part"


# --- helpers ---------------------------------------------------------------------------


def new_petition(app: Flask, **kwargs: Any) -> str:
    """Create a petition in its own app context, commit, and return its slug."""
    with app.app_context():
        petition = make_petition(**kwargs)
        db.session.commit()
        slug = petition.slug
        db.session.remove()
    return slug


def text_of(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def hidden_fields(response: TestResponse) -> dict[str, str]:
    """The hidden inputs of a page's forms (the time trap's `started`, the URL's tags)."""
    return {
        name: html.unescape(value)
        for name, value in HIDDEN_INPUT.findall(response.get_data(as_text=True))
    }


def form_page(client: FlaskClient, path: str, **kwargs: Any) -> dict[str, str]:
    """GET a page that has a form, as a person opens it, and return what its form sends
    besides the visible fields: the time trap's stamp (no CSRF token: a public form has
    none, its origin is checked instead)."""
    response = client.get(path, **kwargs)
    assert response.status_code == 200, response.status
    assert not CSRF_INPUT.search(response.get_data(as_text=True)), "a public form has no token"
    started = hidden_fields(response).get("started")
    return {"started": started} if started else {}


def post_signature(
    client: FlaskClient,
    slug: str,
    token_page: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> TestResponse:
    """Fill in the signing form as a person would (the page opened first: `token_page`,
    else the petition's); fields=None leaves a field out."""
    headers = headers or {}
    drawn = form_page(client, token_page or f"/petitions/{slug}", headers=headers)
    data = {**VALID, **drawn, **fields}
    data = {key: value for key, value in data.items() if value is not None}
    return client.post(f"/petitions/{slug}", data=data, headers=headers)


def signatures(app: Flask) -> list[Signature]:
    with app.app_context():
        rows = list(db.session.execute(select(Signature).order_by(Signature.id)).scalars())
        db.session.expunge_all()
        db.session.remove()
    return rows


def signature_count(app: Flask) -> int:
    with app.app_context():
        count = db.session.execute(select(func.count(Signature.id))).scalar_one()
        db.session.remove()
    return count


def field_error(response: TestResponse, field: str) -> str | None:
    """The error paragraph rendered next to a field, or None."""
    match = re.search(
        rf'<p class="error" id="{field}-error">(.*?)</p>', response.get_data(as_text=True), re.S
    )
    return html.unescape(match.group(1)) if match else None


def shown_count(response: TestResponse) -> str:
    match = re.search(r"<strong data-count>([^<]*)</strong>", response.get_data(as_text=True))
    assert match, "no count on the page"
    return match.group(1)


# --- the petition page -----------------------------------------------------------------


def test_petition_page_shows_the_petition_and_an_unticked_form(app, client):
    slug = new_petition(app)
    response = client.get(f"/petitions/{slug}")
    page = text_of(response)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "<h1>Pétition d’essai</h1>" in page
    assert "Les pouvoirs publics" in page
    for i in range(1, 5):
        assert f"Revendication {i}" in page
        assert f"Texte de la revendication {i}." in page
    assert shown_count(response) == "0"
    assert "sur un objectif de 1\u202f000" in page  # French thousands separator
    assert consent_text("Collectif d’essai") in page
    assert f'action="/petitions/{slug}"' in page
    assert "Je signe" in page
    for box in ("consent", "optin_collective"):
        tag = re.search(rf'<input[^>]*name="{box}"[^>]*>', page)
        assert tag, box
        assert 'type="checkbox"' in tag.group(0)
        assert "checked" not in tag.group(0)
    # No session token: the same page for everyone, and a signed time stamp for the trap.
    assert not CSRF_INPUT.search(page)
    assert hidden_fields(response)["started"]
    assert "Set-Cookie" not in response.headers


def test_the_honeypot_field_is_present_but_hidden_from_people(app, client):
    slug = new_petition(app)
    page = client.get(f"/petitions/{slug}").get_data(as_text=True)
    hidden = re.search(r'<div class="hp" aria-hidden="true">(.*?)</div>', page, re.S)
    assert hidden, "no hidden honeypot block"
    website = re.search(r'<input[^>]*name="website"[^>]*>', hidden.group(1))
    assert website, "the website input is not inside the hidden block"
    assert 'tabindex="-1"' in website.group(0)
    assert 'autocomplete="off"' in website.group(0)
    assert 'value=""' in website.group(0)


def test_source_tags_in_the_url_are_carried_into_hidden_fields(app, client):
    slug = new_petition(app)
    response = client.get(f"/petitions/{slug}?source=qr-flyer-lyon&utm_medium=print")
    hidden = dict(HIDDEN_INPUT.findall(response.get_data(as_text=True)))
    assert hidden["source"] == "qr-flyer-lyon"
    assert hidden["utm_medium"] == "print"
    assert hidden["utm_source"] == ""
    assert hidden["utm_campaign"] == ""


def test_a_signature_posted_with_its_tags_stores_source_and_referrer_data(app, client):
    slug = new_petition(app)
    page = client.get(f"/petitions/{slug}?source=qr-flyer-lyon&utm_medium=print")
    # Post back every hidden field exactly as the browser would.
    data = {**dict(HIDDEN_INPUT.findall(page.get_data(as_text=True))), **VALID}
    response = client.post(f"/petitions/{slug}", data=data)

    assert response.status_code == 303
    [signature] = signatures(app)
    assert signature.source == "qr-flyer-lyon"
    assert signature.referrer_data == {"utm_medium": "print"}


def test_utm_source_is_the_source_when_there_is_no_source(app, client):
    slug = new_petition(app)
    response = post_signature(client, slug, utm_source="Newsletter-Mars", utm_campaign="rentree")
    assert response.status_code == 303
    [signature] = signatures(app)
    assert signature.source == "newsletter-mars"
    assert signature.referrer_data == {"utm_source": "newsletter-mars", "utm_campaign": "rentree"}


def test_markup_in_url_tags_is_escaped_on_the_page(app, client):
    slug = new_petition(app)
    response = client.get(f'/petitions/{slug}?source="><script>alert(1)</script>')
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.get_data(as_text=True)


@pytest.mark.parametrize("field", ["source", "utm_source", "utm_medium", "utm_campaign"])
def test_overlong_or_odd_tags_are_dropped_not_refused(app, client, field):
    slug = new_petition(app)
    response = post_signature(client, slug, **{field: "a" * 10_000})
    assert response.status_code == 303
    [signature] = signatures(app)
    assert signature.source is None
    assert not signature.referrer_data


# --- a valid signature, its email and its confirmation -----------------------------------


def test_a_valid_signature_redirects_stores_a_pending_row_and_mails_a_public_link(
    app, client, outbox
):
    slug = new_petition(app)
    response = post_signature(client, slug)

    assert response.status_code == 303
    assert response.headers["Location"] == f"/petitions/{slug}/merci"
    [signature] = signatures(app)
    assert signature.confirmed_at is None
    assert (signature.first_name, signature.last_name) == ("Jeanne", "Dupont")
    assert signature.email == "jeanne.dupont@example.org"
    assert (signature.country, signature.postcode, signature.departement) == ("FR", "75011", "75")
    assert signature.optin_collective is False
    assert signature.consent_version

    [message] = outbox
    assert message.recipients == ["jeanne.dupont@example.org"]
    assert message.subject == "Confirmez votre signature : Pétition d’essai"
    assert confirmation_link(message).startswith(PUBLIC_URL + "/signature/confirmer/")

    merci = client.get(response.headers["Location"])
    assert merci.status_code == 200
    assert "Vérifiez votre boîte mail" in text_of(merci)


def test_the_optional_opt_in_is_stored_when_ticked(app, client):
    slug = new_petition(app)
    assert post_signature(client, slug, optin_collective="y").status_code == 303
    [signature] = signatures(app)
    assert signature.optin_collective is True


def test_opening_the_link_confirms_and_counts_once(app, client, outbox):
    slug = new_petition(app)
    post_signature(client, slug)
    link_path = path_of(confirmation_link(outbox[0]))
    assert shown_count(client.get(f"/petitions/{slug}")) == "0"
    assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 0

    first = client.get(link_path)
    assert first.status_code == 200
    assert "Votre signature est confirmée" in text_of(first)
    assert "Merci Jeanne" in text_of(first)
    assert shown_count(first) == "1"
    assert shown_count(client.get(f"/petitions/{slug}")) == "1"
    assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 1

    again = client.get(link_path)
    assert again.status_code == 200
    assert "Votre signature est confirmée" in text_of(again)
    assert shown_count(client.get(f"/petitions/{slug}")) == "1"
    assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 1
    [signature] = signatures(app)
    assert signature.confirmed_at is not None


# --- duplicates disclose nothing ---------------------------------------------------------


def test_signing_twice_with_the_same_address_looks_like_signing_once(app, client, outbox):
    slug = new_petition(app)
    first = post_signature(client, slug)
    second = post_signature(client, slug)

    assert comparable(second) == comparable(first)
    assert signature_count(app) == 1
    assert len(outbox) == 2
    assert confirmation_link(outbox[1]) == confirmation_link(outbox[0])
    assert outbox[1].recipients == outbox[0].recipients


@pytest.mark.parametrize(
    "variant",
    [
        "Jeanne.Dupont@gmail.com",
        "JEANNE.DUPONT@GMAIL.COM",
        "jeannedupont@gmail.com",
        "j.e.a.n.n.e.dupont@gmail.com",
        "jeanne.dupont+petition@gmail.com",
        "Jeanne.Dupont+x@googlemail.com",
    ],
)
def test_a_stranger_typing_a_signed_address_gets_the_same_answer_as_a_new_signer(
    app, outbox, variant
):
    slug = new_petition(app)
    owner, stranger, newcomer = app.test_client(), app.test_client(), app.test_client()
    assert post_signature(owner, slug, email="Jeanne.Dupont@gmail.com").status_code == 303

    duplicate = post_signature(stranger, slug, email=variant)
    fresh = post_signature(newcomer, slug, email="someone.else@example.org")

    assert comparable(duplicate) == comparable(fresh)
    assert duplicate.headers["Location"] == f"/petitions/{slug}/merci"
    merci_duplicate = stranger.get(f"/petitions/{slug}/merci")
    merci_fresh = newcomer.get(f"/petitions/{slug}/merci")
    assert merci_duplicate.status_code == merci_fresh.status_code == 200
    assert merci_duplicate.get_data() == merci_fresh.get_data()

    rows = signatures(app)
    assert [r.email_canonical for r in rows].count("jeannedupont@gmail.com") == 1
    assert len(rows) == 2
    # The reminder goes to the address that signed, never to the variant typed by someone else.
    first, reminder, _ = outbox
    assert reminder.recipients == ["Jeanne.Dupont@gmail.com"]
    assert confirmation_link(reminder) == confirmation_link(first)


def test_after_confirmation_a_duplicate_gets_an_already_signed_email(app, outbox):
    slug = new_petition(app)
    owner, stranger, newcomer = app.test_client(), app.test_client(), app.test_client()
    post_signature(owner, slug)
    owner.get(path_of(confirmation_link(outbox[0])))

    duplicate = post_signature(stranger, slug, email="JEANNE.DUPONT@example.org")
    fresh = post_signature(newcomer, slug, email="someone.else@example.org")

    assert comparable(duplicate) == comparable(fresh)
    assert signature_count(app) == 2
    already = outbox[1]
    assert already.recipients == ["jeanne.dupont@example.org"]
    assert already.subject == "Vous avez déjà signé : Pétition d’essai"
    assert "/signature/confirmer/" not in already.body
    assert owner.get(f"/petitions/{slug}/count.json").json["signature_count"] == 1


# --- bad input: 422, a French message next to the field, nothing stored ------------------

BAD_INPUT = [
    # emails
    ("email", "pas-une-adresse", "Adresse e-mail invalide"),
    ("email", "jeanne@", "Adresse e-mail invalide"),
    ("email", "@exemple.fr", "Adresse e-mail invalide"),
    ("email", "jeanne dupont@exemple.fr", "Adresse e-mail invalide"),
    ("email", "jeanne@exemple", "Adresse e-mail invalide"),
    ("email", "jeanne@@exemple.fr", "Adresse e-mail invalide"),
    ("email", "jeanne@exemple..fr", "Adresse e-mail invalide"),
    ("email", "jeanne@exemple.fr\r\nBcc: autre@exemple.fr", "Adresse e-mail invalide"),
    ("email", "jeanne@exemple.fr, autre@exemple.fr", "Adresse e-mail invalide"),
    ("email", "", "Ce champ est obligatoire."),
    # postcodes
    ("postcode", "ABCDE", "Code postal invalide"),
    ("postcode", "00000", "Code postal invalide"),
    ("postcode", "1234", "Code postal invalide"),
    ("postcode", "96000", "Code postal invalide"),
    ("postcode", "", "Indiquez votre code postal"),
    # names that would become links or spreadsheet formulas
    ("first_name", "http://x.fr", "Un nom ne peut pas contenir d’adresse web."),
    ("last_name", "http://x.fr", "Un nom ne peut pas contenir d’adresse web."),
    ("first_name", "www.exemple.com", "Un nom ne peut pas contenir d’adresse web."),
    ("last_name", "www.exemple.com", "Un nom ne peut pas contenir d’adresse web."),
    ("first_name", "=HYPERLINK(1)", "Un nom ne peut pas commencer par =, +, - ou @."),
    ("last_name", "=1+1", "Un nom ne peut pas commencer par =, +, - ou @."),
    ("first_name", "+Jeanne", "Un nom ne peut pas commencer par =, +, - ou @."),
    ("last_name", "-Dupont", "Un nom ne peut pas commencer par =, +, - ou @."),
    ("first_name", "@Jeanne", "Un nom ne peut pas commencer par =, +, - ou @."),
    ("last_name", " =Dupont", "Un nom ne peut pas commencer par =, +, - ou @."),
    ("first_name", "", "Ce champ est obligatoire."),
    ("last_name", "   ", "Ce champ est obligatoire."),
    # control characters
    ("first_name", "\x00", "caractères invisibles ou de contrôle"),
    ("first_name", "Jeanne\x00", "caractères invisibles ou de contrôle"),
    ("last_name", "Dupont\x1b[31m", "caractères invisibles ou de contrôle"),
    ("first_name", "\x1b[31mJeanne", "caractères invisibles ou de contrôle"),
    ("last_name", "Dup\u202etnod", "caractères invisibles ou de contrôle"),
    ("postcode", "75\x00011", "caractères invisibles ou de contrôle"),
    ("postcode", "\u202e75011", "caractères invisibles ou de contrôle"),
    ("email", "jeanne\x00@exemple.fr", "Adresse e-mail invalide"),
    ("email", "jeanne\x1b[31m@exemple.fr", "Adresse e-mail invalide"),
    ("email", "jeanne\u202e@exemple.fr", "Adresse e-mail invalide"),
    # 10 000 characters in every text field
    ("first_name", "a" * 10_000, "100 caractères au maximum."),
    ("last_name", "a" * 10_000, "100 caractères au maximum."),
    ("email", "a" * 9_990 + "@exemple.fr", "254 caractères au maximum."),
    ("postcode", "7" * 10_000, "12 caractères au maximum."),
    ("country", "F" * 10_000, "Choisissez un pays dans la liste."),
    # missing consent, unknown country
    ("consent", None, "Vous devez accepter ces conditions pour que votre signature compte."),
    ("consent", "", "Vous devez accepter ces conditions pour que votre signature compte."),
    ("country", "XX", "Choisissez un pays dans la liste."),
    ("country", "fr", "Choisissez un pays dans la liste."),
]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    BAD_INPUT,
    ids=[f"{f}-{v!r:.30}" for f, v, _ in BAD_INPUT],
)
def test_bad_input_is_refused_in_french_next_to_the_field(
    app, client, outbox, field, value, message
):
    slug = new_petition(app)
    response = post_signature(client, slug, **{field: value})

    assert response.status_code == 422
    error = field_error(response, field)
    assert error is not None, f"no error shown next to {field}"
    assert message in error
    # The input itself points at its message, for screen readers.
    assert re.search(
        rf'<(input|select)[^>]*aria-describedby="[^"]*\b{field}-error"[^>]*name="{field}"',
        response.get_data(as_text=True),
    )
    assert "Le formulaire contient" in text_of(response)
    # The form shown again keeps its time stamp so that the person can correct and resend.
    assert hidden_fields(response).get("started")
    assert signature_count(app) == 0
    assert outbox == []


def test_every_field_too_long_at_once_gives_422_not_500(app, client, outbox):
    slug = new_petition(app)
    long = "a" * 10_000
    response = post_signature(
        client,
        slug,
        first_name=long,
        last_name=long,
        email=long,
        postcode=long,
        country=long,
        consent=long,
        optin_collective=long,
        source=long,
        utm_source=long,
        utm_medium=long,
        utm_campaign=long,
    )
    assert response.status_code == 422
    for field in ("first_name", "last_name", "email", "postcode", "country"):
        assert field_error(response, field), field
    assert signature_count(app) == 0
    assert outbox == []


VALID_EDGE_CASES = [
    ({"first_name": "Jean-Pierre"}, {"first_name": "Jean-Pierre"}),
    ({"last_name": "O’Connor"}, {"last_name": "O’Connor"}),
    ({"last_name": "N'Diaye"}, {"last_name": "N'Diaye"}),
    ({"first_name": "Åsa"}, {"first_name": "Åsa"}),
    (
        {"first_name": "Éloïse", "last_name": "Lefèvre-Çelik"},
        {"first_name": "Éloïse", "last_name": "Lefèvre-Çelik"},
    ),
    ({"first_name": "  Marie   Anne  "}, {"first_name": "Marie Anne"}),
    ({"postcode": "20000"}, {"postcode": "20000", "departement": "2A"}),
    ({"postcode": "20200"}, {"postcode": "20200", "departement": "2B"}),
    ({"postcode": "97100"}, {"postcode": "97100", "departement": "971"}),
    ({"postcode": "97600"}, {"postcode": "97600", "departement": "976"}),
    ({"postcode": " 75011 "}, {"postcode": "75011", "departement": "75"}),
    (
        {"country": "BE", "postcode": ""},
        {"country": "BE", "postcode": None, "departement": None},
    ),
    (
        {"country": "BE", "postcode": None},
        {"country": "BE", "postcode": None, "departement": None},
    ),
    (
        {"country": "DE", "postcode": "10115"},
        {"country": "DE", "postcode": "10115", "departement": None},
    ),
    ({"email": "Jeanne.Dupont@Exemple.FR"}, {"email": "Jeanne.Dupont@exemple.fr"}),
]


@pytest.mark.parametrize(
    ("fields", "stored"), VALID_EDGE_CASES, ids=[repr(f) for f, _ in VALID_EDGE_CASES]
)
def test_real_names_and_addresses_are_accepted(app, client, outbox, fields, stored):
    slug = new_petition(app)
    response = post_signature(client, slug, **fields)

    assert response.status_code == 303, field_error(response, next(iter(fields)))
    assert response.headers["Location"] == f"/petitions/{slug}/merci"
    [signature] = signatures(app)
    for name, value in stored.items():
        assert getattr(signature, name) == value, name
    assert len(outbox) == 1


# --- cross-site posts, honeypot and time trap --------------------------------------------

CROSS_SITE = [
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="fetch-cross-site"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, id="fetch-same-site"),
    # Fetch Metadata wins over an Origin or a Referer that would pass.
    pytest.param(
        {"Sec-Fetch-Site": "cross-site", "Origin": PUBLIC_URL, "Referer": PUBLIC_URL + "/"},
        id="fetch-cross-site-forged-origin",
    ),
    pytest.param({"Origin": "https://evil.example"}, id="origin-evil"),
    pytest.param({"Origin": "null"}, id="origin-null"),
    pytest.param({"Origin": "http://petition.example.org"}, id="origin-other-scheme"),
    pytest.param(
        {"Origin": "https://evil.example", "Referer": PUBLIC_URL + "/"}, id="origin-before-referer"
    ),
    pytest.param({"Referer": "https://evil.example/petitions/x"}, id="referer-evil"),
    pytest.param({"Referer": "https://petition.example.org.evil.example/"}, id="referer-lookalike"),
    pytest.param({}, id="no-header-at-all"),
]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_post_from_another_site_is_refused_in_french(app, outbox, headers):
    slug = new_petition(app)
    post_signature(app.test_client(), slug)  # one signature to resend for
    assert len(outbox) == 1
    # A plain client: it sends no Sec-Fetch-Site of its own, only `headers`.
    forger = FlaskClient(app)
    for path, data in (
        (f"/petitions/{slug}", {**VALID, "email": "victime@example.org"}),
        (f"/petitions/{slug}/renvoyer", {"email": "jeanne.dupont@example.org"}),
    ):
        response = forger.post(path, data=data, headers=headers)
        assert response.status_code == 403, path
        assert CROSS_SITE_MESSAGE in text_of(response), path
        assert '<html lang="fr"' in response.get_data(as_text=True)
    assert signature_count(app) == 1
    assert len(outbox) == 1


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Sec-Fetch-Site": "same-origin"}, id="fetch-same-origin"),
        pytest.param({"Sec-Fetch-Site": "none"}, id="fetch-none"),
        pytest.param({"Origin": PUBLIC_URL}, id="origin"),
        pytest.param({"Origin": PUBLIC_URL.upper()}, id="origin-any-case"),
        pytest.param({"Referer": f"{PUBLIC_URL}/petitions/x?source=qr"}, id="referer"),
    ],
)
def test_a_post_from_our_own_page_needs_no_session_and_sets_no_cookie(app, outbox, headers):
    slug = new_petition(app)
    visitor = FlaskClient(app)
    drawn = form_page(visitor, f"/petitions/{slug}")
    response = visitor.post(f"/petitions/{slug}", data={**VALID, **drawn}, headers=headers)

    assert response.status_code == 303
    assert "Set-Cookie" not in response.headers
    assert signature_count(app) == 1
    assert len(outbox) == 1


@pytest.mark.parametrize("started", [None, ""], ids=["missing", "empty"])
def test_a_post_without_the_time_stamp_looks_like_success_but_stores_nothing(app, outbox, started):
    slug = new_petition(app)
    bot, person = app.test_client(), app.test_client()
    data = {**VALID, "email": "bot@example.org", "started": started}
    caught = bot.post(f"/petitions/{slug}", data={k: v for k, v in data.items() if v is not None})
    accepted = post_signature(person, slug, email="someone.else@example.org")

    assert comparable(caught) == comparable(accepted)
    assert [s.email for s in signatures(app)] == ["someone.else@example.org"]
    assert [m.recipients for m in outbox] == [["someone.else@example.org"]]


def test_a_post_sooner_than_the_minimum_delay_is_dropped_quietly(app, outbox, monkeypatch):
    monkeypatch.setitem(app.config, "FORM_MIN_SECONDS", 3600)
    slug = new_petition(app)
    caught = post_signature(app.test_client(), slug)
    assert caught.status_code == 303
    assert caught.headers["Location"] == f"/petitions/{slug}/merci"
    assert signature_count(app) == 0
    assert outbox == []


def test_a_filled_honeypot_looks_like_success_but_stores_and_mails_nothing(app, outbox):
    slug = new_petition(app)
    bot, person = app.test_client(), app.test_client()
    caught = post_signature(bot, slug, website="http://spam.example")
    accepted = post_signature(person, slug, email="someone.else@example.org")

    assert caught.status_code == 303
    assert comparable(caught) == comparable(accepted)
    assert [s.email for s in signatures(app)] == ["someone.else@example.org"]
    assert [m.recipients for m in outbox] == [["someone.else@example.org"]]


# --- petitions that cannot be signed -----------------------------------------------------


@pytest.mark.parametrize("slug", ["nexiste-pas", "%00", "a" * 1000, "%C3%A9t%C3%A9"])
def test_an_unknown_petition_is_a_french_404(app, client, outbox, slug):
    real = new_petition(app)
    drawn = form_page(client, f"/petitions/{real}")

    for response in (
        client.get(f"/petitions/{slug}"),
        client.post(f"/petitions/{slug}", data={**VALID, **drawn}),
        client.get(f"/petitions/{slug}/merci"),
        client.get(f"/petitions/{slug}/count.json"),
        client.post(f"/petitions/{slug}/renvoyer", data={"email": "a@b.fr"}),
    ):
        assert response.status_code == 404
        assert "Page introuvable" in text_of(response)
        assert '<html lang="fr"' in response.get_data(as_text=True)
    assert signature_count(app) == 0
    assert outbox == []


def test_a_draft_petition_is_a_404(app, client, outbox):
    real = new_petition(app)
    draft = new_petition(app, status=PetitionStatus.DRAFT)
    drawn = form_page(client, f"/petitions/{real}")

    for response in (
        client.get(f"/petitions/{draft}"),
        client.post(f"/petitions/{draft}", data={**VALID, **drawn}),
        client.get(f"/petitions/{draft}/merci"),
        client.get(f"/petitions/{draft}/count.json"),
    ):
        assert response.status_code == 404
        assert "Page introuvable" in text_of(response)
    assert signature_count(app) == 0
    assert outbox == []


CLOSED = [
    pytest.param({"status": PetitionStatus.CLOSED}, id="status-closed"),
    pytest.param({"closes_at": utcnow() - timedelta(minutes=1)}, id="closes_at-past"),
]


@pytest.mark.parametrize("kwargs", CLOSED)
def test_a_closed_petition_says_so_and_shows_no_form(app, client, kwargs):
    slug = new_petition(app, **kwargs)
    response = client.get(f"/petitions/{slug}")

    assert response.status_code == 200
    page = text_of(response)
    assert "Cette pétition est close : elle ne recueille plus de signatures." in page
    assert "<h1>Pétition d’essai</h1>" in page
    assert f'action="/petitions/{slug}"' not in page
    assert 'name="first_name"' not in page
    assert "Je signe" not in page


@pytest.mark.parametrize(
    "kwargs", [*CLOSED, pytest.param({"opens_at": utcnow() + timedelta(days=1)}, id="not-yet")]
)
def test_signing_a_closed_petition_is_refused_clearly(app, client, outbox, kwargs):
    slug = new_petition(app, **kwargs)
    # A form left open in a tab: posted after the petition closed.
    response = post_signature(client, slug, token_page=f"/petitions/{slug}/merci")

    assert response.status_code == 409
    expected = UPCOMING_MESSAGE if "opens_at" in kwargs else CLOSED_MESSAGE
    assert expected in text_of(response)
    assert 'name="first_name"' not in response.get_data(as_text=True)
    assert signature_count(app) == 0
    assert outbox == []


def test_a_link_opened_after_the_petition_closed_does_not_count(app, client, outbox):
    slug = new_petition(app)
    post_signature(client, slug)
    with app.app_context():
        db.session.execute(update(Petition).values(status=PetitionStatus.CLOSED))
        db.session.commit()
        db.session.remove()

    response = client.get(path_of(confirmation_link(outbox[0])))
    assert response.status_code == 200
    assert "La pétition est close" in text_of(response)
    assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 0


# --- confirmation links: unknown, expired, resend ----------------------------------------


@pytest.mark.parametrize("token", ["inconnu", "x" * 43, "x" * 5000, "%00", "%C3%A9t%C3%A9"])
def test_an_unknown_link_is_a_french_404(app, client, token):
    new_petition(app)
    response = client.get(f"/signature/confirmer/{token}")
    assert response.status_code == 404
    page = text_of(response)
    assert "Lien inconnu" in page
    assert "Ce lien de confirmation n’est pas valable." in page


def _expire_links(app: Flask) -> None:
    with app.app_context():
        db.session.execute(update(Signature).values(token_expires_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        db.session.remove()


def test_an_expired_link_offers_a_resend_form_that_mails_the_same_link(app, client, outbox):
    slug = new_petition(app)
    post_signature(client, slug)
    link = confirmation_link(outbox[0])
    _expire_links(app)

    expired = client.get(path_of(link))
    assert expired.status_code == 200
    page = text_of(expired)
    assert "Ce lien a expiré" in page
    assert "Votre signature est confirmée" not in page
    assert f'action="/petitions/{slug}/renvoyer"' in page
    assert 'name="email"' in page
    assert not CSRF_INPUT.search(expired.get_data(as_text=True))
    assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 0

    resent = client.post(
        f"/petitions/{slug}/renvoyer",
        data={"email": "jeanne.dupont@example.org"},
    )
    assert resent.status_code == 303
    assert resent.headers["Location"] == f"/petitions/{slug}/merci?renvoi=ok"
    assert RESEND_FLASH in text_of(client.get(resent.headers["Location"]))
    assert len(outbox) == 2
    assert outbox[1].recipients == ["jeanne.dupont@example.org"]
    assert confirmation_link(outbox[1]) == link

    confirmed = client.get(path_of(link))
    assert "Votre signature est confirmée" in text_of(confirmed)
    assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 1


def test_resend_for_an_address_that_never_signed_looks_the_same_and_mails_nothing(app, outbox):
    slug = new_petition(app)
    post_signature(app.test_client(), slug)
    signer, stranger = app.test_client(), app.test_client()

    def resend(client: FlaskClient, email: str) -> TestResponse:
        form_page(client, f"/petitions/{slug}/merci")
        return client.post(f"/petitions/{slug}/renvoyer", data={"email": email})

    for_signer = resend(signer, "Jeanne.Dupont@example.org")
    for_stranger = resend(stranger, "inconnu@example.org")

    assert for_stranger.status_code == 303
    assert for_stranger.headers["Location"] == f"/petitions/{slug}/merci?renvoi=ok"
    assert (for_stranger.status_code, for_stranger.headers["Location"], for_stranger.data) == (
        for_signer.status_code,
        for_signer.headers["Location"],
        for_signer.data,
    )
    page_signer = signer.get(for_signer.headers["Location"])
    page_stranger = stranger.get(for_stranger.headers["Location"])
    assert RESEND_FLASH in text_of(page_stranger)
    assert page_stranger.data == page_signer.data
    # The original email, then one reminder for the signer; nothing for the stranger.
    assert [m.recipients for m in outbox] == [["jeanne.dupont@example.org"]] * 2


def test_resend_with_an_invalid_address_is_a_french_422(app, client, outbox):
    slug = new_petition(app)
    form_page(client, f"/petitions/{slug}/merci")
    response = client.post(f"/petitions/{slug}/renvoyer", data={"email": "pas-une-adresse"})
    assert response.status_code == 422
    assert "Adresse e-mail invalide" in (field_error(response, "email") or "")
    assert outbox == []


# --- JSON --------------------------------------------------------------------------------


def test_count_json_gives_the_count_and_may_be_cached(app, client, outbox):
    slug = new_petition(app, target=500)
    post_signature(client, slug)
    client.get(path_of(confirmation_link(outbox[0])))

    response = client.get(f"/petitions/{slug}/count.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json == {
        "slug": slug,
        "signature_count": 1,
        "target": 500,
        "status": "open",
    }
    cache_control = response.headers["Cache-Control"]
    assert "public" in cache_control
    assert "max-age=" in cache_control


@pytest.mark.parametrize(
    "headers", [{"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}], ids=str
)
def test_petitions_json_lists_public_petitions_with_public_urls(app, client, outbox, headers):
    open_slug = new_petition(app, target=10)
    closed_slug = new_petition(app, status=PetitionStatus.CLOSED)
    draft_slug = new_petition(app, status=PetitionStatus.DRAFT)
    post_signature(client, open_slug)
    client.get(path_of(confirmation_link(outbox[0])))

    response = client.get("/petitions.json", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    cache_control = response.headers["Cache-Control"]
    assert "public" in cache_control
    assert "max-age=" in cache_control
    listed = {item["slug"]: item for item in response.json}
    assert set(listed) == {open_slug, closed_slug}
    assert draft_slug not in response.get_data(as_text=True)
    assert listed[open_slug] == {
        "slug": open_slug,
        "title": "Pétition d’essai",
        "url": f"{PUBLIC_URL}/petitions/{open_slug}",
        "signature_count": 1,
        "target": 10,
        "status": "open",
    }
    assert listed[closed_slug]["status"] == "closed"
    assert listed[closed_slug]["signature_count"] == 0
    for item in response.json:
        assert item["url"].startswith(PUBLIC_URL + "/")
    assert "evil.example" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    ],
    ids=str,
)
def test_the_confirmation_link_ignores_a_forged_host(app, client, outbox, headers):
    slug = new_petition(app)
    response = post_signature(client, slug, headers=headers)
    assert response.status_code == 303

    [message] = outbox
    assert confirmation_link(message).startswith(PUBLIC_URL + "/signature/confirmer/")
    assert "evil.example" not in message.body
    assert "evil.example" not in message.html


# --- security headers and cookies --------------------------------------------------------


def test_html_pages_carry_security_headers(app, client):
    slug = new_petition(app)
    for path in (f"/petitions/{slug}", f"/petitions/{slug}/merci", "/petitions/nexiste-pas"):
        response = client.get(path)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy"), path
        assert "Strict-Transport-Security" not in response.headers, path


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "https://localhost"},
        {"headers": {"X-Forwarded-Proto": "https"}},
    ],
    ids=["https", "behind-the-proxy"],
)
def test_hsts_only_over_https(app, client, kwargs):
    slug = new_petition(app)
    response = client.get(f"/petitions/{slug}", **kwargs)
    assert response.status_code == 200
    assert "max-age=" in response.headers.get("Strict-Transport-Security", "")


def test_public_pages_set_no_cookie_and_the_console_cookie_is_httponly_and_samesite_lax(
    app, client, outbox
):
    slug = new_petition(app)
    signed = post_signature(client, slug)
    link = path_of(confirmation_link(outbox[0]))
    for response in (
        client.get(f"/petitions/{slug}"),
        signed,
        client.get(f"/petitions/{slug}/merci"),
        client.post(f"/petitions/{slug}/renvoyer", data={"email": "a@example.org"}),
        client.get(link),
    ):
        assert "Set-Cookie" not in response.headers, response.request.path
    assert not client.get_cookie("session")

    sign_in(app, client, Role.ORGANISER)
    session_cookie = client.get_cookie("session")
    assert session_cookie is not None
    assert session_cookie.http_only
    assert session_cookie.same_site == "Lax"


def test_signing_over_https_behind_the_proxy_works(app, outbox):
    """In production every POST is HTTPS, behind the proxy, which passes the Host header on
    (nginx: proxy_set_header Host $host); a browser without Fetch Metadata sends Origin,
    checked against PUBLIC_URL."""
    slug = new_petition(app)
    client = FlaskClient(app)  # no Sec-Fetch-Site
    headers = {"X-Forwarded-Proto": "https", "Host": "petition.example.org"}
    drawn = form_page(client, f"/petitions/{slug}", headers=headers)
    response = client.post(
        f"/petitions/{slug}",
        data={**VALID, **drawn},
        headers={**headers, "Origin": PUBLIC_URL, "Referer": f"{PUBLIC_URL}/petitions/{slug}"},
    )
    assert response.status_code == 303
    assert signature_count(app) == 1


# --- rate limit and request size ---------------------------------------------------------


def test_signing_is_rate_limited_per_client_address(app, outbox, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_RATE_LIMIT", "2 per minute")
    slug = new_petition(app)
    client = app.test_client()
    assert post_signature(client, slug, email="un@example.org").status_code == 303
    assert post_signature(client, slug, email="deux@example.org").status_code == 303

    limited = post_signature(client, slug, email="trois@example.org")
    assert limited.status_code == 429
    assert "Trop de demandes" in text_of(limited)
    assert "Merci de réessayer dans quelques minutes." in text_of(limited)
    assert [s.email for s in signatures(app)] == ["un@example.org", "deux@example.org"]
    assert len(outbox) == 2

    # Another visitor behind the same reverse proxy is a different address.
    other = app.test_client()
    response = post_signature(
        other, slug, email="quatre@example.org", headers={"X-Forwarded-For": "203.0.113.7"}
    )
    assert response.status_code == 303
    assert signature_count(app) == 3


def test_a_forged_x_forwarded_for_does_not_escape_the_limit(app, monkeypatch):
    """The proxy appends the real address: only the last hop is believed (PROXY_COUNT=1)."""
    monkeypatch.setitem(app.config, "SIGN_RATE_LIMIT", "2 per minute")
    slug = new_petition(app)
    client = app.test_client()
    real = {"X-Forwarded-For": "198.51.100.20"}
    for i in range(2):
        response = post_signature(client, slug, email=f"n{i}@example.org", headers=real)
        assert response.status_code == 303
    forged = {"X-Forwarded-For": "203.0.113.99, 198.51.100.20"}
    response = post_signature(client, slug, email="n2@example.org", headers=forged)
    assert response.status_code == 429
    assert signature_count(app) == 2


def test_an_oversized_request_is_a_french_413(app, client, outbox):
    slug = new_petition(app)
    drawn = form_page(client, f"/petitions/{slug}")
    too_big = app.config["MAX_CONTENT_LENGTH"] + 1024
    response = client.post(
        f"/petitions/{slug}",
        data={**VALID, **drawn, "first_name": "a" * too_big},
    )
    assert response.status_code == 413
    assert "Envoi trop volumineux" in text_of(response)
    assert signature_count(app) == 0
    assert outbox == []
