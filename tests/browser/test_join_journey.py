"""In Chromium: an organisation applies with its logo, confirms its email, an organiser
approves it in the console (reached through an old /moderation bookmark), and it appears
in the directory with its logo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask_mail import Message
from PIL import Image
from playwright.sync_api import Page, expect

from campaign.console import auth
from campaign.console.models import Role
from campaign.extensions import db
from tests.factories import make_collective, path_of

CONFIRM_LINK = re.compile(r"https?://\S+/organisations/confirmer/\d+/[A-Za-z0-9_-]+")
PASSWORD = "une phrase de passe pour la console"


@pytest.mark.browser
def test_an_organisation_joins_and_appears_in_the_directory(
    app: Flask, page: Page, outbox: list[Message], tmp_path: Path
):
    with app.app_context():
        make_collective("Les 400 000")
        organiser, _ = auth.invite("camille@example.org", "Camille Martin", Role.ORGANISER)
        auth.set_password(organiser, PASSWORD)
        organiser.invite_nonce = None  # the invitation is used
        db.session.commit()
    logo = tmp_path / "logo.png"
    Image.new("RGB", (240, 120), (20, 90, 160)).save(logo)

    page.goto("/")
    page.get_by_role("link", name="Rejoindre le collectif").first.click()
    expect(page.get_by_role("heading", name="Rejoindre le collectif Les 400 000")).to_be_visible()
    page.get_by_label("Nom de l’organisation").fill("Enfance Ensemble Rennes")
    page.get_by_label("Type d’organisation").select_option("association")
    page.get_by_label("Numéro RNA ou SIREN (facultatif)").fill("W351234567")
    page.get_by_label("Département").select_option("35")
    page.get_by_label("Présentation en quelques lignes").fill("Soutien aux familles à Rennes.")
    page.get_by_label("Logo (facultatif)").set_input_files(str(logo))
    page.get_by_label("Personne à contacter").fill("Léa Martin")
    page.get_by_label("Son adresse e-mail").fill("lea@example.org")
    page.get_by_label(re.compile("partage les revendications")).check()
    page.get_by_label(re.compile("annuaire public")).check()
    page.get_by_role("button", name="Envoyer la demande").click()
    expect(page.get_by_role("heading", name="Vérifiez votre boîte mail")).to_be_visible()

    [message] = outbox
    page.goto(path_of(CONFIRM_LINK.search(message.body).group(0)))
    expect(page.get_by_role("heading", name="Demande transmise")).to_be_visible()

    # An organiser's old bookmark of the interim page leads to the console's sign-in.
    page.goto("/moderation")
    expect(page).to_have_url(re.compile(r"/console/connexion"))
    page.get_by_label("Adresse e-mail").fill("camille@example.org")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Modération").click()
    application = page.locator("article", has_text="Enfance Ensemble Rennes")
    expect(application).to_contain_text("Léa Martin · lea@example.org")
    application.get_by_role("button", name="Approuver").click()
    expect(page.get_by_text("Demande de « Enfance Ensemble Rennes » approuvée.")).to_be_visible()
    expect(page.get_by_text("Aucune demande en attente.")).to_be_visible()
    approved = outbox[-1]
    assert approved.recipients == ["lea@example.org"]
    assert approved.subject == "Votre organisation rejoint le collectif Les 400 000"

    page.goto("/organisations")
    expect(page.get_by_text("1 organisation membre")).to_be_visible()
    image = page.get_by_role("img", name="Logo de Enfance Ensemble Rennes")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 240
    page.get_by_role("link", name="Enfance Ensemble Rennes").click()
    expect(page.get_by_role("heading", name="Enfance Ensemble Rennes")).to_be_visible()
