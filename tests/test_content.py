"""The demo content: loaded by `flask seed-demo`, faithful to the source documents."""

from __future__ import annotations

import html
import re
import tomllib
import unicodedata
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from campaign.content.models import Collective
from campaign.content.services import DEMO_FILE
from campaign.core.templating import french_spacing
from campaign.extensions import db
from campaign.petition.models import Petition

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
DEMO = tomllib.loads(DEMO_FILE.read_text(encoding="utf-8"))


def _plain(text: str) -> str:
    """Compare words only: PDF extraction broke lines, apostrophes and quote marks."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[’'`«»“”\"]", " ", text)
    return " ".join(re.sub(r"[^\w%]+", " ", text).split())


def test_seed_demo_loads_the_collective_once(app: Flask):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--if-empty"])
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    refused = runner.invoke(args=["seed-demo"])

    assert first.exit_code == 0, first.output
    assert "4 demands" in first.output
    assert again.exit_code == 0 and "nothing loaded" in again.output
    assert refused.exit_code != 0
    with app.app_context():
        assert db.session.execute(select(func.count(Collective.id))).scalar_one() == 1
        petition = db.session.execute(select(Petition)).scalar_one()
        assert petition.is_open()
        assert [d.position for d in petition.demands] == [1, 2, 3, 4]


def test_the_home_page_shows_the_collective_its_demands_and_the_live_count(app: Flask, client):
    app.test_cli_runner().invoke(args=["seed-demo"])
    page = client.get("/").get_data(as_text=True)
    assert "Les 400 000" in page
    for demand in DEMO["demands"]:
        assert french_spacing(demand["title"]) in html.unescape(page)
    assert "data-count" in page and "<progress" in page
    assert "Source :" in page


def test_every_key_figure_names_its_source():
    assert 4 <= len(DEMO["key_figures"]) <= 8
    for figure in DEMO["key_figures"]:
        assert figure["value"] and figure["label"]
        assert len(figure["source"]) > 20


@pytest.mark.skipif(not SEEDS.exists(), reason="the source documents are not beside the repo")
def test_demands_and_presentation_are_quoted_from_the_call():
    call = _plain((SEEDS / "000_b94de7aff5c06292.txt").read_text(encoding="utf-8"))
    assert len(DEMO["demands"]) == 4
    for demand in DEMO["demands"]:
        assert _plain(demand["title"]) in call
        assert _plain(demand["text"]) in call
    for paragraph in DEMO["collective"]["presentation"].split("\n\n"):
        if paragraph.strip():
            assert _plain(paragraph) in call


@pytest.mark.skipif(not SEEDS.exists(), reason="the source documents are not beside the repo")
def test_key_figures_appear_in_their_documents():
    corpus = _plain(" ".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("00*.txt"))))
    for figure in DEMO["key_figures"]:
        number = re.search(r"\d[\d ,]*", figure["value"]).group(0).strip()
        assert _plain(number) in corpus, figure["value"]
