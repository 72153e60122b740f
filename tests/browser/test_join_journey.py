"""In Chromium: an organisation applies with its logo, confirms its email, an organiser
approves it, and it appears in the directory with its logo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask_mail import Message
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select

from campaign.extensions import db
from campaign.organisations.models import Organisation
from tests.factories import make_collective, path_of

CONFIRM_LINK = re.compile(r"https?://\S+/organisations/confirmer/\d+/[A-Za-z0-9_-]+")


@pytest.mark.browser
def test_an_organisation_joins_and_appears_in_the_directory(
    app: Flask, page: Page, outbox: list[Message], tmp_path: Path
):
    with app.app_context():
        make_collective("Les 400 000")
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

    with app.app_context():
        organisation_id = db.session.execute(select(Organisation.id)).scalar_one()
    result = app.test_cli_runner().invoke(
        args=["organisations", "approve", str(organisation_id), "--by", "Camille"]
    )
    assert result.exit_code == 0, result.output

    page.goto("/organisations")
    expect(page.get_by_text("1 organisation membre")).to_be_visible()
    image = page.get_by_role("img", name="Logo de Enfance Ensemble Rennes")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 240
    page.get_by_role("link", name="Enfance Ensemble Rennes").click()
    expect(page.get_by_role("heading", name="Enfance Ensemble Rennes")).to_be_visible()
