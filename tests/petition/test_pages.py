"""Markup details of the petition page that screen readers and sharers depend on."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import pytest
from flask import Flask

from campaign.extensions import db
from tests.conftest import PUBLIC_URL
from tests.factories import csrf_from, make_petition, sign_through_form


def _slug(app: Flask) -> str:
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    return slug


def test_no_attribute_reads_none_and_errors_are_wired_to_their_fields(app: Flask, client):
    slug = _slug(app)
    fresh = client.get(f"/petitions/{slug}").get_data(as_text=True)
    token = csrf_from(fresh)
    invalid = client.post(
        f"/petitions/{slug}", data={"csrf_token": token, "postcode": "ABCDE", "country": "FR"}
    ).get_data(as_text=True)

    for page in (fresh, invalid):
        assert '="None"' not in page
    postcode = re.search(r"<input[^>]*id=\"postcode\"[^>]*>", invalid).group(0)
    assert 'aria-invalid="true"' in postcode
    assert 'aria-describedby="postcode-hint postcode-error"' in postcode
    # The summary lists the errors in the order of the fields, each linking to its field.
    links = re.findall(r'<li><a href="#(\w+)">', invalid)
    assert links == ["first_name", "last_name", "email", "postcode", "consent"]


def test_share_links_point_at_the_public_url(app: Flask, client):
    slug = _slug(app)
    page = client.get(f"/petitions/{slug}", headers={"Host": "evil.example"}).text
    nav = page.split('<nav class="share"')[1].split("</nav>")[0]
    targets = [unquote(html.unescape(href)) for href in re.findall(r'href="([^"]+)"', nav)]
    assert len(targets) == 6
    for target in targets:
        assert f"{PUBLIC_URL}/petitions/{slug}" in target
        assert "evil.example" not in target


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "a" * 64}, 400),  # a DNS label is 63 characters at most
        ({"X-Forwarded-Host": "a..b"}, 200),  # not trusted, so not even read
    ],
)
def test_a_malformed_host_gets_a_french_400_not_a_crash(client, headers, status):
    response = client.get("/", headers=headers)
    assert response.status_code == status
    if status == 400:
        assert "Requête invalide" in response.text


def test_forwarded_prefix_and_host_cannot_steer_links(app: Flask, client):
    slug = _slug(app)
    headers = {"X-Forwarded-Prefix": "//evil.example", "X-Forwarded-Host": "evil.example"}
    page = client.get(f"/petitions/{slug}", headers=headers).text
    assert "evil.example" not in page


def test_error_responses_keep_the_headers_clients_need(client):
    response = client.delete("/")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert "Méthode non autorisée" in response.text


def _post(app: Flask, client, **fields: str):  # type: ignore[no-untyped-def]
    return sign_through_form(client, _slug(app), **fields)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"country": "BE", "postcode": "=1+2"}, "postcode", "lettres, chiffres"),
        ({"country": "XA", "postcode": ""}, "country", "Choisissez un pays"),
        ({"postcode": "７５０１１"}, "postcode", "Code postal invalide"),
        ({"email": "jéanne@example.fr"}, "email", "Adresse e-mail invalide"),
    ],
)
def test_input_that_looks_valid_but_is_not_is_refused_by_its_field(
    app: Flask, client, fields, field, message
):
    response = _post(app, client, **fields)
    assert response.status_code == 422
    error = re.search(rf'id="{field}-error">([^<]+)<', response.text)
    assert error and message in html.unescape(error.group(1))


def test_an_accented_domain_is_accepted_and_a_foreign_postcode_kept(app: Flask, client, outbox):
    response = _post(app, client, email="ana@exemple-é.fr", country="BE", postcode="1000")
    assert response.status_code == 303
    assert outbox[0].recipients == ["ana@" + "exemple-é.fr".encode("idna").decode()]
