"""The collective edited from the console by admins: its identity, logo and brand colour
(checked for contrast), shown on pages, in emails and in the theme stylesheet; its demands
and key figures added, edited, reordered and removed. Bad input is refused in French
beside the field, with a 422 and nothing saved."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from campaign.console.models import Role
from campaign.content.models import Collective, Demand, KeyFigure
from campaign.core import colour
from campaign.core.audit import AuditEntry
from campaign.extensions import db
from tests.console.helpers import sign_in
from tests.factories import (
    csrf_from,
    make_collective,
    make_member,
    make_petition,
    sign_through_form,
)
from tests.pages import field_error, flashed, text_of

IDENTITY = "/console/collectif"
DEMANDS = "/console/collectif/revendications"
FIGURES = "/console/collectif/chiffres"


def collective_id(app: Flask) -> int:
    with app.app_context():
        collective = make_collective()
        db.session.commit()
        return collective.id


def identity_fields(**fields: object) -> dict[str, object]:
    values: dict[str, object] = {
        "name": "Les 400 000",
        "short_name": "400 000",
        "tagline": "Pour tous les enfants",
        "presentation": "Un collectif **national**.",
        "coordinator": "CNAPE",
        "website": "https://les400000.fr",
        "contact_email": "contact@les400000.fr",
        "brand_colour": "#1f4e8c",
        "link_label_1": "Mastodon",
        "link_url_1": "https://piaille.fr/@les400000",
    }
    values.update(fields)
    return values


def post(client: FlaskClient, path: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/console/connexion").text)  # any page of the session
    return client.post(path, data={**data, "csrf_token": token}, content_type="multipart/form-data")


def saved(app: Flask, cid: int) -> Collective:
    return db.session.get(Collective, cid)


def png(size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (31, 78, 140)).save(out, format="PNG")
    return out.getvalue()


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b'<script>alert(1)</script><rect width="80" height="60" fill="#1f4e8c"/></svg>'
)


# --- identity -----------------------------------------------------------------------------------


def test_an_admin_edits_the_identity_and_every_page_shows_it(app: Flask, client, outbox):
    cid = collective_id(app)
    sign_in(app, client, Role.ADMIN)
    response = post(client, IDENTITY, identity_fields())
    assert "Identité du collectif enregistrée." in flashed(client, response)
    with app.app_context():
        collective = saved(app, cid)
        assert (collective.name, collective.brand_colour) == ("Les 400 000", "#1f4e8c")
        assert collective.social_links == [
            {"label": "Mastodon", "url": "https://piaille.fr/@les400000"}
        ]
        [entry] = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "collective.edit")
        ).scalars()
        assert "nom" in entry.what and "couleur" in entry.what
    home = client.get("/")
    assert '<a class="brand" href="/">Les 400 000</a>' in home.text
    assert '<meta property="og:site_name" content="Les 400 000">' in home.text
    assert "<strong>national</strong>" in home.text
    assert "/theme.css?v=1f4e8c" in home.text
    with app.app_context():
        slug = make_petition(saved(app, cid)).slug
        db.session.commit()
    sign_through_form(app.test_client(), slug)
    assert "Les 400 000" in outbox[-1].html and "#1f4e8c" in outbox[-1].html


def test_the_theme_stylesheet_carries_the_colour_and_revalidates(app: Flask, client):
    cid = collective_id(app)
    with app.app_context():
        saved(app, cid).brand_colour = "#1f4e8c"
        db.session.commit()
    sheet = client.get("/theme.css?v=1f4e8c")
    assert sheet.mimetype == "text/css" and "--accent: #1f4e8c;" in sheet.text
    assert "immutable" in sheet.headers["Cache-Control"]
    again = client.get("/theme.css", headers={"If-None-Match": sheet.headers["ETag"]})
    assert again.status_code == 304


BAD = [
    ("name", "", "Ce champ est obligatoire."),
    ("name", "x" * 201, "200 caractères au maximum."),
    ("tagline", "Une\x00accroche", "caractères invisibles ou de contrôle"),
    ("website", "les400000.fr", "Adresse web invalide"),
    ("website", "javascript:alert(1)", "Adresse web invalide"),
    ("contact_email", "pas-une-adresse", "Adresse e-mail invalide"),
    ("brand_colour", "rouge", "Couleur invalide"),
    ("brand_colour", "#ffcc00", "Contraste insuffisant : 1,5:1 avec le texte blanc"),
    ("brand_colour", "#777777", "il faut au moins 4,5:1"),
    ("link_url_1", "http://piaille.fr/@x", "https://"),
    ("link_label_1", "", "Nommez ce lien"),
]


@pytest.mark.parametrize(
    ("field", "value", "message"), BAD, ids=[f"{f}-{v!r:.12}" for f, v, _ in BAD]
)
def test_bad_identity_input_is_refused_beside_the_field_and_nothing_is_saved(
    app: Flask, client, field: str, value: str, message: str
):
    cid = collective_id(app)
    sign_in(app, client, Role.ADMIN)
    response = post(client, IDENTITY, identity_fields(**{field: value}))
    assert response.status_code == 422
    error = field_error(response, field)
    assert error is not None and message in error, error
    if field != "coordinator":
        assert 'value="CNAPE"' in response.text  # what was typed stays
    with app.app_context():
        assert saved(app, cid).name == "Collectif d’essai"


def test_a_dark_enough_colour_passes_both_contrasts():
    assert colour.brand_problem("#1f4e8c") is None
    assert colour.brand_problem("#b3261e") is None  # the default
    assert colour.contrast("#ffffff", "#000000") == pytest.approx(21)
    assert colour.normalise(" #1F4E8C ") == "#1f4e8c" and colour.normalise("#12345") is None


# --- the logo -----------------------------------------------------------------------------------


def logo_of(app: Flask, cid: int) -> str | None:
    with app.app_context():
        return saved(app, cid).logo


def test_a_png_logo_is_re_encoded_served_as_png_and_removable(app: Flask, client):
    cid = collective_id(app)
    sign_in(app, client, Role.ADMIN)
    post(client, IDENTITY, identity_fields(logo=(io.BytesIO(png()), "logo.png")))
    name = logo_of(app, cid)
    assert name and name.endswith(".png")
    with client.get(f"/organisations/logos/{name}") as served:
        assert served.mimetype == "image/png" and served.data.startswith(b"\x89PNG")
    assert f'src="/organisations/logos/{name}"' in client.get("/").text  # in the header
    post(client, IDENTITY, identity_fields(remove_logo="y"))
    assert logo_of(app, cid) is None


def test_an_svg_logo_is_drawn_into_pixels_and_never_served_as_svg(app: Flask, client):
    cid = collective_id(app)
    sign_in(app, client, Role.ADMIN)
    response = post(client, IDENTITY, identity_fields(logo=(io.BytesIO(SVG), "logo.svg")))
    assert response.status_code == 303, field_error(response, "logo")
    name = logo_of(app, cid)
    with client.get(f"/organisations/logos/{name}") as served:
        assert served.mimetype == "image/png" and b"<script" not in served.data
        picture = Image.open(io.BytesIO(served.data))
    assert picture.format == "PNG" and picture.getpixel((10, 10))[:3] == (31, 78, 140)


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"<html><script>alert(1)</script></html>", "logo.png", "n’est pas une image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "vide.svg", "n’a pas pu être converti"),
        (b"\x89PNG" + b"0" * 100, "casse.png", "n’est pas une image"),
    ],
)
def test_a_file_that_is_not_a_drawable_image_is_refused(
    app: Flask, client, data: bytes, filename: str, message: str
):
    cid = collective_id(app)
    sign_in(app, client, Role.ADMIN)
    response = post(client, IDENTITY, identity_fields(logo=(io.BytesIO(data), filename)))
    assert response.status_code == 422
    assert message in field_error(response, "logo")
    assert logo_of(app, cid) is None


# --- demands and key figures --------------------------------------------------------------------


def demand_titles(app: Flask, cid: int) -> list[str]:
    with app.app_context():
        return [d.title for d in saved(app, cid).demands]


def test_demands_are_added_edited_reordered_and_removed(app: Flask, client):
    cid = collective_id(app)
    sign_in(app, client, Role.ADMIN)
    added = post(client, DEMANDS, {"title": "Une cinquième", "text": "Son *texte*."})
    assert "Revendication ajoutée." in flashed(client, added)
    assert demand_titles(app, cid)[-1] == "Une cinquième"
    with app.app_context():
        ids = [d.id for d in saved(app, cid).demands]
    post(client, f"{DEMANDS}/{ids[-1]}/monter", {})
    assert demand_titles(app, cid)[-2:] == ["Une cinquième", "Revendication 4"]
    post(client, f"{DEMANDS}/{ids[0]}/descendre", {})
    assert demand_titles(app, cid)[:2] == ["Revendication 2", "Revendication 1"]
    post(client, f"{DEMANDS}/{ids[1]}", {"title": "Deuxième, reformulée", "text": "Oui."})
    assert "Deuxième, reformulée" in demand_titles(app, cid)
    post(client, f"{DEMANDS}/{ids[-1]}/supprimer", {})
    assert "Une cinquième" not in demand_titles(app, cid)
    with app.app_context():
        positions = [d.position for d in saved(app, cid).demands]
        assert positions == sorted(positions) and len(set(positions)) == 4


def test_a_demand_of_a_signed_petition_cannot_be_removed(app: Flask, client):
    cid = collective_id(app)
    with app.app_context():
        petition = make_petition(saved(app, cid))
        petition.paper_count = 12  # signed on paper
        demand_id = petition.demands[0].id
        db.session.commit()
    sign_in(app, client, Role.ADMIN)
    page = flashed(client, post(client, f"{DEMANDS}/{demand_id}/supprimer", {}))
    assert "n’a pas été supprimée" in page and "déjà des signatures" in page
    with app.app_context():
        assert db.session.get(Demand, demand_id) is not None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("title", "", "Ce champ est obligatoire."), ("text", "x" * 5001, "5000 caractères")],
)
def test_a_bad_demand_is_refused_and_nothing_saved(
    app: Flask, client, field: str, value: str, message: str
):
    cid = collective_id(app)
    sign_in(app, client, Role.ADMIN)
    response = post(client, DEMANDS, {"title": "Titre", "text": "Texte", field: value})
    assert response.status_code == 422 and message in field_error(response, field)
    assert len(demand_titles(app, cid)) == 4


def test_a_key_figure_without_its_source_is_refused(app: Flask, client):
    cid = collective_id(app)
    sign_in(app, client, Role.ADMIN)
    fields = {"value": "+ de 50", "label": "organisations membres", "source": "", "source_url": ""}
    response = post(client, FIGURES, fields)
    assert response.status_code == 422
    assert "un chiffre sans source ne peut pas être publié" in field_error(response, "source")
    bad_url = post(client, FIGURES, {**fields, "source": "Rapport", "source_url": "ftp://x.fr"})
    assert bad_url.status_code == 422 and "Adresse web invalide" in field_error(
        bad_url, "source_url"
    )
    with app.app_context():
        assert len(saved(app, cid).key_figures) == 1
    done = post(client, FIGURES, {**fields, "source": "Appel du collectif, 2025"})
    assert done.status_code == 303
    with app.app_context():
        figures = saved(app, cid).key_figures
        assert [f.value for f in figures] == ["12", "+ de 50"]
        figure_id = figures[1].id
    post(client, f"{FIGURES}/{figure_id}/monter", {})
    with app.app_context():
        assert [f.value for f in saved(app, cid).key_figures] == ["+ de 50", "12"]
    post(client, f"{FIGURES}/{figure_id}/supprimer", {})
    with app.app_context():
        assert db.session.get(KeyFigure, figure_id) is None
    assert "+ de 50" not in text_of(client.get("/"))


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ORGANISER, Role.RALLY_ORGANISER])
def test_only_admins_change_the_collective(app: Flask, client, role: Role):
    cid = collective_id(app)
    with app.app_context():
        member = make_member(saved(app, cid)).id
        db.session.commit()
    me = sign_in(app, client, role, organisation_id=member)
    token = me.csrf(client)
    for path in (IDENTITY, DEMANDS, FIGURES):
        assert client.get(path).status_code == 403
        answer = client.post(path, data={**identity_fields(name="Pris"), "csrf_token": token})
        assert answer.status_code == 403
    with app.app_context():
        assert saved(app, cid).name == "Collectif d’essai"
    assert re.search(r"Le collectif</a>", client.get("/console/rassemblements").text) is None
