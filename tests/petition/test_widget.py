"""The signing widget's pages: framable by any site (and only they), signing inside the
frame, errors and closed petitions shown in the frame, small and self-contained."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mail import Message
from sqlalchemy import select

from campaign.extensions import db
from campaign.petition.models import PetitionStatus, Signature
from campaign.petition.widget import snippet
from tests.conftest import PUBLIC_URL
from tests.factories import SIGN_FORM, make_collective, make_member, make_petition


def test_only_the_widget_may_be_framed_by_another_site(client: FlaskClient, slug: str):
    widget = client.get(f"/petitions/{slug}/widget")
    policy = widget.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in policy and "object-src 'none'" in policy
    assert "X-Frame-Options" not in widget.headers
    assert "Set-Cookie" not in widget.headers
    for path in (f"/petitions/{slug}", "/console/connexion", "/", "/api/v1/petitions"):
        response = client.get(path)
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path


def test_the_widget_shows_the_petition_its_count_its_demands_and_the_form(
    client: FlaskClient, slug: str
):
    page = client.get(f"/petitions/{slug}/widget?org=abc12").get_data(as_text=True)
    assert "Pétition d’essai" in page and 'class="progress"' in page
    assert "<details" in page and "<summary>" in page
    assert f'action="/petitions/{slug}/widget"' in page
    assert 'name="org" type="hidden" value="abc12"' in page
    # Self-contained: every address it loads is the site's own.
    for address in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert address.startswith(("/", PUBLIC_URL)), address
    assert len(page.encode()) < 20_000  # most of it the list of countries


def test_signing_in_the_widget_thanks_inside_it_and_credits_the_member(
    app: Flask, client: FlaskClient, outbox: list[Message]
):
    with app.app_context():
        collective = make_collective()
        slug = make_petition(collective).slug
        member = make_member(collective)
        code, member_id = member.referral_code, member.id
        db.session.commit()
    response = client.post(
        f"/petitions/{slug}/widget", data={**SIGN_FORM, "org": code, "email": "w@example.org"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/petitions/{slug}/widget/merci"
    thanks = client.get(response.headers["Location"])
    assert thanks.status_code == 200 and "cliquez sur le lien" in thanks.get_data(as_text=True)
    assert "frame-ancestors *" in thanks.headers["Content-Security-Policy"]
    assert [m.recipients for m in outbox] == [["w@example.org"]]
    with app.app_context():
        signature = db.session.execute(select(Signature)).scalar_one()
        assert signature.organisation_id == member_id


def test_errors_show_in_the_widget_with_what_was_typed(client: FlaskClient, slug: str):
    response = client.post(
        f"/petitions/{slug}/widget", data={**SIGN_FORM, "email": "pas-une-adresse"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Adresse e-mail invalide" in page and 'value="pas-une-adresse"' in page
    assert 'class="widget"' in page  # the widget again, not the site's page


def test_a_closed_petition_says_so_in_the_widget(app: Flask, client: FlaskClient):
    with app.app_context():
        slug = make_petition(status=PetitionStatus.CLOSED).slug
        db.session.commit()
    page = client.get(f"/petitions/{slug}/widget").get_data(as_text=True)
    assert "Cette pétition est close" in page and "<form" not in page
    response = client.post(f"/petitions/{slug}/widget", data=SIGN_FORM)
    assert response.status_code == 409


def test_a_cross_site_post_to_the_widget_is_refused(app: Flask, slug: str):
    bare = FlaskClient(app)  # not the suite's same-origin client: headers as given
    response = bare.post(
        f"/petitions/{slug}/widget", data=SIGN_FORM, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    with app.app_context():
        assert db.session.execute(select(Signature)).first() is None


def test_unknown_petitions_have_no_widget(client: FlaskClient):
    assert client.get("/petitions/inconnue/widget").status_code == 404
    assert client.get("/petitions/inconnue/widget/merci").status_code == 404


def test_the_snippet_frames_the_widget_with_the_referral_code(app: Flask, slug: str):
    with app.test_request_context():
        html = snippet(slug, "abc12")
    assert f'src="{PUBLIC_URL}/petitions/{slug}/widget?org=abc12"' in html
    assert f'<script src="{PUBLIC_URL}/static/js/embed.js' in html
    assert "data-campaign-widget" in html


def test_the_kit_gives_the_snippet_of_each_open_petition(app: Flask, client: FlaskClient):
    with app.app_context():
        collective = make_collective()
        open_slug = make_petition(collective).slug
        closed_slug = make_petition(collective, status=PetitionStatus.CLOSED).slug
        db.session.commit()
    page = client.get("/kit/").get_data(as_text=True)
    assert "Le formulaire de signature sur votre site" in page
    assert f"/petitions/{open_slug}/widget" in page
    assert f"/petitions/{closed_slug}/widget" not in page
    assert f'data-copy="widget-{open_slug}"' in page


def test_the_page_and_the_widget_share_one_signing_allowance(
    app: Flask, client: FlaskClient, slug: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(app.config, "SIGN_RATE_LIMIT", "1 per minute")
    assert client.post(f"/petitions/{slug}", data=SIGN_FORM).status_code == 303
    refused = client.post(f"/petitions/{slug}/widget", data=SIGN_FORM)
    assert refused.status_code == 429
    assert "frame-ancestors *" in refused.headers["Content-Security-Policy"]  # shown in the frame
    page = refused.get_data(as_text=True)
    assert 'class="widget"' in page and "Retour à l’accueil" not in page  # the widget's frame


def test_a_refusal_in_the_widget_still_shows_in_the_frame(app: Flask, slug: str):
    response = FlaskClient(app).post(
        f"/petitions/{slug}/widget", data=SIGN_FORM, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
