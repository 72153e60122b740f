"""A coalition runs its own campaign, in a real browser: an admin renames the collective and
changes its colour, writes a petition carrying three demands, previews it and opens it; a
citizen signs and confirms by email; the admin closes it, and its page then shows the final
count and no form."""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from flask_mail import Message
from playwright.sync_api import Browser, Page, expect

from campaign.console import auth
from campaign.console.models import Role
from campaign.extensions import db
from tests.factories import confirmation_link, make_collective, path_of

pytestmark = pytest.mark.browser

PASSWORD = "une phrase de passe pour la console"
CITIZEN = "lou.durand@example.org"


def _admin(app: Flask) -> tuple[str, str]:
    with app.app_context():
        make_collective("Collectif d’essai")
        admin, _ = auth.invite("admin@example.org", "Camille Martin", Role.ADMIN)
        auth.set_password(admin, PASSWORD)
        admin.invite_nonce = None
        admin.totp_secret = pyotp.random_base32()
        db.session.commit()
        return admin.email, admin.totp_secret


def _sign_in(page: Page, email: str, secret: str) -> None:
    page.goto("/console/")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Code à 6 chiffres").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_an_admin_runs_a_petition_from_draft_to_closed_and_a_citizen_signs_it(
    app: Flask, page: Page, browser: Browser, live_server: str, outbox: list[Message]
) -> None:
    email, secret = _admin(app)
    _sign_in(page, email, secret)

    # The collective's new name and colour, everywhere at once.
    page.get_by_role("link", name="Le collectif", exact=True).click()
    page.get_by_label("Nom du collectif").fill("Les 400 000")
    page.get_by_label("Couleur principale").fill("#1f4e8c")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Identité du collectif enregistrée.")).to_be_visible()
    expect(page.locator(".site-header .brand")).to_have_text("Les 400 000")
    accent = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
    )
    assert accent == "#1f4e8c"

    # A draft carrying three of the four demands, in the order chosen.
    page.get_by_role("link", name="Pétitions", exact=True).click()
    page.get_by_role("link", name="Nouvelle pétition").click()
    page.get_by_label("Titre", exact=True).fill("Protégeons les enfants")
    page.get_by_label("Destinataire (à qui elle est remise)").fill("Madame la Première ministre")
    page.get_by_label("Texte de la pétition").fill("Nous demandons **quatre** mesures.")
    page.get_by_label("1re revendication").select_option(label="Revendication 3")
    page.get_by_label("2e revendication").select_option(label="Revendication 1")
    page.get_by_label("3e revendication").select_option(label="Revendication 2")
    page.get_by_label("Objectif de signatures (facultatif)").fill("1000")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(page).to_have_url(re.compile(r"/console/petitions/protegeons-les-enfants$"))
    expect(page.get_by_text("Brouillon", exact=True).first).to_be_visible()

    # Its private preview: the text as it will read, nothing to sign.
    page.get_by_role("link", name="Aperçu", exact=True).click()
    expect(page.get_by_text("Aperçu d’un brouillon")).to_be_visible()
    expect(page.locator(".petition-text strong")).to_have_text("quatre")
    demands = page.locator("ol.demands h2")
    expect(demands).to_have_text(["Revendication 3", "Revendication 1", "Revendication 2"])
    expect(page.get_by_role("button", name="Je signe")).to_have_count(0)
    page.go_back()

    page.get_by_role("button", name="Ouvrir aux signatures").click()
    expect(page.get_by_text("La pétition est maintenant ouverte.")).to_be_visible()

    # A citizen, in a browser of their own, signs and confirms.
    citizen_context = browser.new_context(base_url=live_server, locale="fr-FR")
    citizen = citizen_context.new_page()
    try:
        citizen.goto("/")
        call = citizen.get_by_role("region", name="Protégeons les enfants")
        call.get_by_role("link", name="Signez maintenant").click()
        citizen.get_by_label("Prénom", exact=True).fill("Lou")
        citizen.get_by_label("Nom", exact=True).fill("Durand")
        citizen.get_by_label("Adresse e-mail", exact=True).fill(CITIZEN)
        citizen.get_by_label("Code postal", exact=True).fill("69003")
        citizen.locator("#consent").check()
        citizen.get_by_role("button", name="Je signe").click()
        expect(citizen.get_by_role("heading", level=1)).to_have_text("Vérifiez votre boîte mail")
        [message] = [m for m in outbox if m.recipients == [CITIZEN]]
        assert "Les 400 000" in message.html and "#1f4e8c" in message.html
        citizen.goto(path_of(confirmation_link(message)))
        expect(citizen.get_by_role("heading", level=1)).to_have_text(
            "Votre signature est confirmée"
        )

        # The admin closes it: the page keeps the final count, without a form.
        page.reload()
        page.get_by_role("button", name="Clore la pétition").click()
        expect(page.get_by_text("La pétition est maintenant close.")).to_be_visible()
        citizen.goto("/petitions/protegeons-les-enfants")
        final = citizen.locator("#etape")
        expect(final).to_contain_text("Pétition close le")
        expect(final).to_contain_text("1 signature au total")
        expect(citizen.get_by_role("button", name="Je signe")).to_have_count(0)
        expect(citizen.get_by_text("Cette pétition est close")).to_be_visible()
    finally:
        citizen_context.close()
