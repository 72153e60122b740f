"""Markdown in the kit's documents: a demand, a day's presentation or a petition's text
written with **bold** and lists prints as its words, with no asterisk and no tag, on the
flyers and in the hand-over dossier, as it reads on the site."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pypdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from campaign.console.models import Role
from campaign.content.models import Demand
from campaign.core.markdown import plain
from campaign.extensions import db
from campaign.kits import cache
from campaign.petition.models import Petition, PetitionStatus, PetitionVersion
from tests.console.helpers import sign_in
from tests.factories import make_collective, make_day, make_member, make_petition, make_rally

DEMAND = "Un **accueil** digne\n\n- premier point\n- second point"
DOSSIER_TEXT = (
    "Nous demandons **solennellement** :\n\n"
    "1. un *premier* engagement\n"
    "2. un second engagement\n\n"
    "Voir [le rapport](https://example.org/rapport)."
)


@pytest.fixture(autouse=True)
def _empty_kit_cache(app: Flask) -> Iterator[None]:
    """The instance folder is shared by the session: each test starts with no kit file."""
    with app.app_context():
        for path in cache.folder().iterdir():
            path.unlink()
    yield


def pdf_text(client: FlaskClient, url: str) -> str:
    with client.get(url) as response:
        assert response.status_code == 200, url
        assert response.mimetype == "application/pdf"
        body = response.get_data()
    reader = pypdf.PdfReader(io.BytesIO(body))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def squeezed(text: str) -> str:
    return "".join(text.split())


def assert_words_without_markup(text: str, *expected: str) -> None:
    """Compared without whitespace: pypdf sometimes drops the space where the font changes
    (« Un résumécourt » from `Un *résumé* **court**`; pypdfium2 reads « Un résumé court »)."""
    for words in expected:
        assert squeezed(words) in squeezed(text), (words, text)
    assert "**" not in text, text
    assert "<" not in text and ">" not in text, text


def set_demand_text(petition_slug: str, text: str) -> None:
    """Edit the petition's first demand in the database, as the console would."""
    petition = db.session.execute(select(Petition).where(Petition.slug == petition_slug)).scalar()
    assert petition is not None
    demand_id = petition.demands[0].id
    db.session.execute(update(Demand).where(Demand.id == demand_id).values(text=text))
    db.session.commit()


@pytest.fixture
def open_petition(app: Flask) -> str:
    with app.app_context():
        petition = make_petition(make_collective())
        db.session.commit()
        return petition.slug


def test_the_call_flyer_prints_a_demand_s_markdown_as_words(app: Flask, client, open_petition):
    with app.app_context():
        set_demand_text(open_petition, DEMAND)
    text = pdf_text(client, "/kit/appel.pdf")
    assert_words_without_markup(text, "Un accueil digne", "premier point", "second point")
    assert "Revendication 1" in text and "Texte de la revendication 2." in text


def test_the_call_flyer_follows_an_edited_demand(app: Flask, client, open_petition):
    before = pdf_text(client, "/kit/appel.pdf")
    assert "Texte de la revendication 1." in before
    with app.app_context():
        set_demand_text(open_petition, DEMAND)
    after = pdf_text(client, "/kit/appel.pdf")
    assert "Texte de la revendication 1." not in after
    assert_words_without_markup(after, "accueil", "premier point", "second point")


def test_the_flyer_and_the_home_page_show_the_same_text(app: Flask, client, open_petition):
    with app.app_context():
        set_demand_text(open_petition, DEMAND)
    home = client.get("/").text
    assert "Un <strong>accueil</strong> digne" in home
    assert "<li>premier point</li>" in home and "<li>second point</li>" in home
    flyer = pdf_text(client, "/kit/appel.pdf")
    for line in plain(DEMAND).splitlines():
        words = line.removeprefix("- ").strip()
        if words:
            assert words in flyer, (words, flyer)


def test_typed_html_in_a_demand_prints_as_its_text_not_as_markup(app: Flask, client, open_petition):
    with app.app_context():
        set_demand_text(open_petition, "Un **accueil** <b>digne</b> <img src=x>")
    text = pdf_text(client, "/kit/appel.pdf")
    assert "accueil" in text and "**" not in text
    assert "<b>digne</b>" in text  # shown as typed, never an element


def test_the_member_flyer_prints_a_demand_s_markdown_as_words(app: Flask, client, open_petition):
    with app.app_context():
        set_demand_text(open_petition, DEMAND)
        petition = db.session.execute(
            select(Petition).where(Petition.slug == open_petition)
        ).scalar_one()
        member_id = make_member(petition.collective).id
        db.session.commit()
    text = pdf_text(client, f"/kit/organisations/{member_id}.pdf")
    assert_words_without_markup(text, "Un accueil digne", "premier point", "second point")


def test_the_day_flyer_prints_its_presentation_s_markdown_as_words(app: Flask, client):
    with app.app_context():
        day = make_day(make_collective())
        day.presentation = (
            "Une journée **nationale** :\n\n- des rassemblements\n- des prises de parole"
        )
        make_rally(day)
        db.session.commit()
        slug = day.slug
    text = pdf_text(client, f"/kit/journees/{slug}.pdf")
    assert_words_without_markup(
        text, "Une journée nationale", "des rassemblements", "des prises de parole"
    )


def test_the_dossier_prints_the_petition_s_markdown_without_tags(app: Flask, client):
    with app.app_context():
        petition = make_petition(status=PetitionStatus.CLOSED)
        petition.text = DOSSIER_TEXT
        petition.summary = "Un *résumé* **court**"
        petition.demands[0].text = DEMAND
        db.session.commit()
        slug = petition.slug
    sign_in(app, client, Role.ADMIN)
    text = pdf_text(client, f"/console/petitions/{slug}/dossier.pdf")
    assert_words_without_markup(
        text,
        "Nous demandons solennellement",
        "un premier engagement",
        "un second engagement",
        "le rapport",
        "Un résumé court",
        "Un accueil digne",
        "premier point",
        "second point",
    )


def test_the_dossier_prints_earlier_versions_without_markup(app: Flask, client):
    with app.app_context():
        petition = make_petition(status=PetitionStatus.CLOSED)
        petition.version = 2
        petition.versions = [
            PetitionVersion(
                number=1,
                title=petition.title,
                text="Le texte **d’abord** signé.",
                demands=[{"title": "Ancienne revendication", "text": "Un **accueil** digne"}],
            ),
            PetitionVersion(number=2, title=petition.title, text=DOSSIER_TEXT, reason="Coquille"),
        ]
        db.session.commit()
        slug = petition.slug
    sign_in(app, client, Role.ADMIN)
    text = pdf_text(client, f"/console/petitions/{slug}/dossier.pdf")
    assert_words_without_markup(
        text, "Le texte d’abord signé.", "Ancienne revendication", "Un accueil digne"
    )
