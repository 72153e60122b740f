"""The signing widget on a member organisation's own site, in a real browser.

The member's site is a local server on another port, reached as `localhost` while the app
is `127.0.0.1`: another site. Its page holds the snippet the kit gives (the frame with the
member's referral code, and embed.js); the visitor signs inside the frame.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask_mail import Message
from playwright.sync_api import Page, expect
from sqlalchemy import select

from campaign.extensions import db
from campaign.petition.models import Signature
from campaign.petition.widget import snippet
from tests.conftest import PUBLIC_URL
from tests.factories import confirmation_link, make_collective, make_member, make_petition

pytestmark = pytest.mark.browser


def test_a_visitor_signs_in_the_widget_on_a_members_site(
    app: Flask,
    live_server: str,
    other_site: tuple[str, list[str]],
    page: Page,
    outbox: list[Message],
):
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        member = make_member(collective)
        slug, code, member_id = petition.slug, member.referral_code, member.id
        db.session.commit()
        with app.test_request_context():
            # As the kit gives it; the site's PUBLIC_URL is this test's live server.
            html = snippet(slug, code).replace(PUBLIC_URL, live_server)
    url, page_html = other_site
    page_html[0] = f"<!doctype html><h1>Le site du membre</h1>{html}"
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))

    page.goto(url)
    frame = page.frame_locator("iframe[data-campaign-widget]")
    expect(frame.locator("h1")).to_have_text("Pétition d’essai")
    expect(frame.locator("details.demands summary")).to_be_visible()
    # embed.js sized the frame to its content (no inner scrollbar).
    page.wait_for_function("() => parseInt(document.querySelector('iframe').style.height) > 400")
    frame.get_by_role("textbox", name="Prénom").fill("Lucie")
    frame.get_by_role("textbox", name="Nom", exact=True).fill("Bernard")
    frame.get_by_role("textbox", name="Adresse e-mail").fill("lucie@example.org")
    frame.get_by_role("textbox", name="Code postal").fill("69003")
    frame.locator('input[name="consent"]').check()
    frame.get_by_role("button", name="Je signe").click()

    expect(frame.locator("#merci")).to_contain_text("cliquez sur le lien")
    assert page.url == url  # the visitor never left the member's page
    # Nothing asked of a third site, and no cookie set (third-party cookies may be off).
    assert {u.split("/")[2] for u in seen} <= {url.split("/")[2], live_server.split("/")[2]}
    assert page.context.cookies() == []
    [message] = [m for m in outbox if m.recipients == ["lucie@example.org"]]
    assert "/signature/confirmer/" in confirmation_link(message)
    with app.app_context():
        signature = db.session.execute(
            select(Signature).where(Signature.email == "lucie@example.org")
        ).scalar_one()
        assert signature.organisation_id == member_id  # credited to the member
