"""Markdown on paper (kits/css/print.css): a list written inside a demand stays part of
that demand; it neither takes a circled number nor shifts the numbers of the next ones."""

from __future__ import annotations

import io
import re

import pypdf
from flask import Flask
from sqlalchemy import select

from campaign.extensions import db
from campaign.kits import cache
from campaign.petition.models import Petition
from tests.factories import make_collective, make_petition
from tests.kits.test_pdfs import pdf_of, text_of


def test_a_list_inside_a_demand_does_not_number_the_demands(app: Flask, client):
    with app.app_context():
        for path in cache.folder().iterdir():
            path.unlink()
        slug = make_petition(make_collective()).slug
        petition = db.session.execute(select(Petition).where(Petition.slug == slug)).scalar_one()
        petition.demands[0].text = "Un **accueil** digne :\n\n- premier point\n- second point"
        db.session.commit()
    front = text_of(pypdf.PdfReader(io.BytesIO(pdf_of(client, "/kit/appel.pdf"))), 0)
    assert "premier point" in front and "second point" in front and "**" not in front
    # The four titles « Revendication N » and their four circled numbers, nothing above 4:
    # numbered by a descendant selector, the two list items would have made them 1 to 6.
    standalone = re.findall(r"(?<!\S)\d+(?!\S)", front)
    assert sorted(set(standalone)) == ["1", "2", "3", "4"], front
