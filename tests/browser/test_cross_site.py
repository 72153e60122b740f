"""A form on another site that posts to our signing form, in a real browser: refused.

The other site is a local server on another port, reached as `localhost` while the app is
`127.0.0.1`: another origin and another site. It copies the real form, with a fresh time
stamp, and submits it as a forged page would; Chromium's own Fetch Metadata decides.
"""

from __future__ import annotations

import re
from html import escape

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from campaign.extensions import db
from campaign.petition.models import Signature
from tests.factories import SIGN_FORM, make_petition

pytestmark = pytest.mark.browser


def _signatures(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Signature)) or 0


def test_a_form_posted_from_another_site_is_refused_in_french(
    app: Flask, live_server: str, other_site: tuple[str, list[str]], page: Page
):
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    # The forged page copies everything the real one has, the time stamp included.
    page.goto(f"/petitions/{slug}")
    stamp = page.locator('input[name="started"]').get_attribute("value")
    assert stamp
    fields = {**SIGN_FORM, "started": stamp, "email": "victime@example.org"}
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    url, page_html = other_site
    page_html[0] = (
        f'<!doctype html><form id="f" method="post" action="{live_server}/petitions/{slug}">'
        f'{inputs}<button type="submit">Gagner un cadeau</button></form>'
    )

    page.goto(url)
    with page.expect_response(re.compile(rf"/petitions/{slug}$")) as answer:
        page.get_by_role("button", name="Gagner un cadeau").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    expect(page.get_by_text("envoyé depuis un autre site")).to_be_visible()
    assert _signatures(app) == 0

    # The same browser, on the site itself, signs fine: only the forged origin was refused.
    page.goto(f"{live_server}/petitions/{slug}")
    for name, value in {
        "first_name": "Camille",
        "last_name": "Martin",
        "email": "camille@example.org",
        "postcode": "69001",
    }.items():
        page.locator(f'input[name="{name}"]').fill(value)
    page.locator('input[name="consent"]').check()
    page.get_by_role("button", name=re.compile("Je signe")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("boîte")
    assert _signatures(app) == 1
