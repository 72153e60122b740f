"""An organiser in the console, in a real browser: password, TOTP code, dashboard, CSV.

The organiser signs in with a password and a code from their authenticator app (TOTP is
required here: the account has it set up), reads the dashboard's figures, and downloads
the counts per département as a CSV that French Excel opens (`;`, UTF-8 BOM).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from campaign.console import auth
from campaign.console.models import Role
from campaign.extensions import db
from campaign.petition.models import Signature
from tests.factories import make_collective, make_petition

pytestmark = pytest.mark.browser

PASSWORD = "une phrase de passe pour la console"


def _campaign(app: Flask) -> tuple[str, str, str]:
    """A petition with 3 confirmed signatures (two in the Rhône, one in Paris), 1 pending,
    and an organiser with TOTP set up. Returns (petition slug, email, TOTP secret)."""
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        now = datetime.now(UTC)
        for n, (departement, confirmed) in enumerate(
            [("69", True), ("69", True), ("75", True), ("13", False)]
        ):
            db.session.add(
                Signature(
                    petition_id=petition.id,
                    first_name="Jeanne",
                    last_name=f"Dupont {n}",
                    email=f"p{n}@example.org",
                    email_canonical=f"p{n}@example.org",
                    postcode=f"{departement}001",
                    departement=departement,
                    consent_version="v",
                    token_nonce="0" * 32,
                    token_hash=f"{n}" * 64,
                    token_expires_at=now + timedelta(days=1),
                    confirmed_at=now if confirmed else None,
                )
            )
        petition.signature_count = 3
        organiser, _ = auth.invite("orga@example.org", "Camille Martin", Role.ORGANISER)
        auth.set_password(organiser, PASSWORD)
        organiser.invite_nonce = None
        organiser.totp_secret = pyotp.random_base32()
        db.session.commit()
        return petition.slug, organiser.email, organiser.totp_secret


def test_an_organiser_signs_in_with_totp_reads_the_dashboard_and_downloads_a_csv(
    app: Flask, page: Page
) -> None:
    slug, email, secret = _campaign(app)

    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/connexion"))
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()

    expect(page.get_by_role("heading", name="Code de vérification")).to_be_visible()
    page.get_by_label("Code à 6 chiffres").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Valider").click()

    # The dashboard: three confirmed signatures, one pending.
    expect(page.get_by_role("navigation", name="Console")).to_contain_text("Camille Martin")
    page.goto("/console/tableau-de-bord")
    body = page.locator("main")
    expect(body).to_contain_text("3")
    expect(body.locator("svg").first).to_be_visible()

    page.goto("/console/exports")
    link = page.locator(f'a[href$="/console/exports/{slug}/departements.csv"]')
    expect(link).to_have_count(1)
    with page.expect_download() as download_info:
        link.click()
    content = download_info.value.path().read_bytes()

    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    counts = {row[0]: row[1] for row in rows[1:] if row and row[0] in {"69", "75", "13"}}
    assert counts == {"69": "2", "75": "1"}  # the pending one is not counted
