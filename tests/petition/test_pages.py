"""Markup details of the petition page that screen readers and sharers depend on."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import pytest
from flask import Flask

from campaign.extensions import db
from tests.conftest import PUBLIC_URL
from tests.factories import make_petition


def _slug(app: Flask) -> str:
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    return slug


def test_no_attribute_reads_none_and_errors_are_wired_to_their_fields(app: Flask, client):
    slug = _slug(app)
    fresh = client.get(f"/petitions/{slug}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', fresh).group(1)
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
    "headers",
    [{"Host": "a" * 64}, {"Host": "bad host"}, {"X-Forwarded-Host": "a..b"}],
)
def test_a_malformed_host_gets_a_french_400_not_a_crash(client, headers):
    response = client.get("/", headers=headers)
    assert response.status_code in {200, 400}
    if response.status_code == 400:
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
