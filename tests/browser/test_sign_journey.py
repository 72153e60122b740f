"""Signing as a person does it, in a real browser: home page, form, email link, count.

The app runs in testing mode: the mail queue sends inside the request thread and
Flask-Mail records instead of sending, so the `outbox` fixture holds the email as soon
as the "check your mailbox" page is shown. Links in emails point at PUBLIC_URL; the
tests open the same path on the live server.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from flask import Flask
from flask_mail import Message
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from campaign.content.services import load_content
from campaign.core.tokens import token_for
from campaign.extensions import db
from campaign.petition import counting, services
from campaign.petition.models import Petition, Signature
from campaign.petition.services import SignatureInput
from tests.conftest import PUBLIC_URL
from tests.factories import confirmation_link, make_collective, make_petition, path_of

pytestmark = pytest.mark.browser

EMAIL = "camille.martin@example.org"
CONSENT_LABEL = "J’accepte que mes nom, prénom"
ALREADY_CONFIRMED = 3


def _confirm_supporters(petition: Petition, how_many: int) -> None:
    """Signatures confirmed through the services, as earlier visitors' would be.

    The first ones are rolled up into the petition's count, the last stays in the
    ledger: the page must add both.
    """
    for i in range(how_many):
        services.sign(
            petition,
            SignatureInput(
                first_name="Soutien",
                last_name=f"Numéro {i + 1}",
                email=f"soutien.{i + 1}@example.org",
                postcode="69001",
            ),
        )
    db.session.commit()
    signatures = db.session.execute(
        select(Signature).where(Signature.petition_id == petition.id).order_by(Signature.id)
    ).scalars()
    for i, signature in enumerate(list(signatures)):
        result = services.confirm(token_for(signature.token_nonce, services.TOKEN_PURPOSE))
        assert result.status is services.ConfirmStatus.CONFIRMED
        db.session.commit()
        if i == how_many - 2:
            counting.rollup()
            db.session.commit()
    counting.forget_cached()
    assert counting.count(petition) == how_many


def _open_petition(app: Flask) -> str:
    """A collective with one open petition that already has a few confirmed signatures."""
    with app.app_context():
        petition = make_petition(make_collective("Collectif d’essai"), target=5000)
        db.session.commit()
        _confirm_supporters(petition, ALREADY_CONFIRMED)
        return petition.slug


def _shown_count(where: Page | Locator) -> int:
    """The count as printed ("1 234" in French, with a no-break space): digits only."""
    counter = where.locator("[data-count]")
    expect(counter).to_have_count(1)
    return int(re.sub(r"\D", "", counter.inner_text()))


def _mail_to(outbox: list[Message], address: str) -> Message:
    [message] = [m for m in outbox if m.recipients == [address]]
    return message


def _signatures(app: Flask, email: str | None = None) -> list[Signature]:
    with app.app_context():
        query = select(Signature)
        if email:
            query = query.where(Signature.email == email)
        signatures = list(db.session.execute(query).scalars())
        db.session.expunge_all()
        return signatures


def _fill_identity(page: Page, *, postcode: str) -> None:
    page.get_by_label("Prénom", exact=True).fill("Camille")
    page.get_by_label("Nom", exact=True).fill("Martin")
    page.get_by_label("Adresse e-mail", exact=True).fill(EMAIL)
    page.get_by_label("Code postal", exact=True).fill(postcode)


def test_sign_from_the_home_page_confirm_by_email_and_see_the_count_grow(
    app: Flask, page: Page, outbox: list[Message]
) -> None:
    slug = _open_petition(app)

    page.goto("/")
    call = page.get_by_role("region", name="Pétition d’essai")
    assert _shown_count(call) == ALREADY_CONFIRMED
    call.get_by_role("link", name="Signez maintenant").click()

    expect(page).to_have_url(re.compile(rf"/petitions/{slug}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Pétition d’essai")
    before = _shown_count(page)
    assert before == ALREADY_CONFIRMED

    _fill_identity(page, postcode="75011")
    page.get_by_label(CONSENT_LABEL).check()
    page.get_by_role("button", name="Je signe").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre boîte mail")
    expect(page).to_have_url(re.compile(rf"/petitions/{slug}/merci$"))
    [pending] = _signatures(app, EMAIL)
    assert pending.confirmed_at is None
    assert (pending.first_name, pending.last_name, pending.postcode) == (
        "Camille",
        "Martin",
        "75011",
    )
    assert pending.departement == "75"

    message = _mail_to(outbox, EMAIL)
    assert "Confirmez votre signature" in message.subject
    link = confirmation_link(message)
    assert link.startswith(PUBLIC_URL + "/signature/confirmer/")
    # Nothing counts before the click in the email.
    page.goto(f"/petitions/{slug}")
    assert _shown_count(page) == before

    page.goto(path_of(link))
    expect(page.get_by_role("heading", level=1)).to_have_text("Votre signature est confirmée")
    expect(page.get_by_text("Merci Camille !")).to_be_visible()
    assert _shown_count(page) == before + 1

    page.get_by_role("link", name="Voir la pétition").click()
    expect(page).to_have_url(re.compile(rf"/petitions/{slug}$"))
    assert _shown_count(page) == before + 1
    page.get_by_role("link", name="Collectif d’essai").click()  # the site's name, to home
    assert _shown_count(page.get_by_role("region", name="Pétition d’essai")) == before + 1
    [confirmed] = _signatures(app, EMAIL)
    assert confirmed.confirmed_at is not None


def test_errors_are_shown_next_to_their_fields_and_typed_values_kept(
    app: Flask, page: Page, outbox: list[Message]
) -> None:
    slug = _open_petition(app)
    page.goto(f"/petitions/{slug}")

    _fill_identity(page, postcode="7501")
    page.get_by_role("button", name="Je signe").click()

    expect(page.get_by_role("alert")).to_contain_text("Le formulaire contient 2 erreurs")
    postcode = page.get_by_label("Code postal", exact=True)
    consent = page.get_by_label(CONSENT_LABEL)
    expect(page.locator("#postcode-error")).to_have_text(
        "Code postal invalide : il faut 5 chiffres d’un code français, par exemple 75011."
    )
    expect(page.locator("#consent-error")).to_have_text(
        "Vous devez accepter ces conditions pour que votre signature compte."
    )
    # Tied to their fields, so a screen reader reads the error with the field.
    expect(postcode).to_have_attribute("aria-invalid", "true")
    expect(postcode).to_have_accessible_description(re.compile("Code postal invalide"))
    expect(consent).to_have_attribute("aria-invalid", "true")
    expect(consent).to_have_accessible_description(re.compile("Vous devez accepter"))
    expect(consent).not_to_be_checked()
    # What was typed is still there.
    expect(page.get_by_label("Prénom", exact=True)).to_have_value("Camille")
    expect(page.get_by_label("Nom", exact=True)).to_have_value("Martin")
    expect(page.get_by_label("Adresse e-mail", exact=True)).to_have_value(EMAIL)
    expect(postcode).to_have_value("7501")
    # Nothing stored, nothing sent.
    assert _signatures(app, EMAIL) == []
    assert [m for m in outbox if m.recipients == [EMAIL]] == []

    postcode.fill("75011")
    consent.check()
    page.get_by_role("button", name="Je signe").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre boîte mail")
    [signature] = _signatures(app, EMAIL)
    assert signature.postcode == "75011"
    assert signature.confirmed_at is None
    _mail_to(outbox, EMAIL)


def test_keyboard_only_signing_never_lands_on_the_honeypot(
    app: Flask, page: Page, outbox: list[Message]
) -> None:
    slug = _open_petition(app)
    page.goto(f"/petitions/{slug}")

    def focused() -> str:
        return page.evaluate(
            "() => document.activeElement.id || document.activeElement.textContent.trim()"
        )

    for _ in range(30):
        page.keyboard.press("Tab")
        if focused() == "first_name":
            break
    else:
        pytest.fail("Tab never reached the first name field")

    # What to do on each element Tab reaches, in order; the honeypot must not be one.
    steps = [
        ("first_name", "Camille"),
        ("last_name", "Martin"),
        ("email", EMAIL),
        ("country", None),  # stays France
        ("postcode", "13001"),
        ("consent", "Space"),
        ("optin_collective", None),
        ("Je signe", "Enter"),
    ]
    visited = []
    for expected, action in steps:
        visited.append(focused())
        assert visited[-1] == expected, f"Tab order so far: {visited}"
        if action in ("Space", "Enter"):
            page.keyboard.press(action)
        elif action:
            page.keyboard.type(action)
        if expected != "Je signe":
            page.keyboard.press("Tab")

    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre boîte mail")
    [signature] = _signatures(app, EMAIL)
    assert (signature.first_name, signature.postcode) == ("Camille", "13001")
    _mail_to(outbox, EMAIL)


@pytest.mark.skipif(
    not os.environ.get("SCREENSHOT_DIR"), reason="set SCREENSHOT_DIR to save a screenshot"
)
def test_screenshot_of_the_demo_petition(app: Flask, page: Page) -> None:
    """For the README: the demo petition at 1280x900, saved to $SCREENSHOT_DIR."""
    with app.app_context():
        collective = load_content()
        db.session.commit()
        [petition] = [
            p
            for p in db.session.execute(select(Petition)).scalars()
            if p.collective_id == collective.id and p.is_open()
        ]
        _confirm_supporters(petition, ALREADY_CONFIRMED)
        slug = petition.slug

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/petitions/{slug}")
    expect(page.get_by_role("button", name="Je signe")).to_be_visible()
    page.evaluate("document.fonts.ready.then(() => true)")
    target = Path(os.environ["SCREENSHOT_DIR"]) / "screenshot-petition.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000
