"""A member organisation manages its presentation and logo through a one-use emailed link."""

from __future__ import annotations

import io
import re

from flask import Flask
from PIL import Image

from campaign.extensions import db
from campaign.organisations import services
from campaign.organisations.models import Organisation
from campaign.organisations.views import LINK_SENT
from tests.conftest import PUBLIC_URL
from tests.factories import csrf_from, make_petition
from tests.organisations.test_moderation import _pending

MANAGE_LINK = re.compile(r"https?://\S+/organisations/gerer/[A-Za-z0-9_.-]+")


def _member(app: Flask) -> int:
    organisation_id = _pending(app, "Enfance Ensemble")
    with app.app_context():
        services.decide(organisation_id, True, decided_by="Camille")
        db.session.commit()
    return organisation_id


def _open(client, link: str):  # type: ignore[no-untyped-def]
    path = link.removeprefix(PUBLIC_URL)
    page = client.get(path)
    assert page.status_code == 200  # only asks: a mail scanner spends nothing
    return client.post(path, data={"csrf_token": csrf_from(page.text)})


def test_the_approval_email_opens_the_space_once(app: Flask, client, outbox):
    organisation_id = _member(app)
    link = MANAGE_LINK.search(outbox[-1].body).group(0)

    opened = _open(client, link)
    assert opened.status_code == 303
    space = client.get("/organisations/espace")
    assert space.status_code == 200
    assert "<h1>Enfance Ensemble</h1>" in space.text
    assert "<strong>0</strong> signature confirmée" in space.text

    reused = _open(app.test_client(), link)
    assert reused.status_code == 410
    assert "Lien expiré ou déjà utilisé" in reused.text

    token = csrf_from(space.text)
    png = io.BytesIO()
    Image.new("RGB", (100, 100), (0, 0, 0)).save(png, format="PNG")
    saved = client.post(
        "/organisations/espace",
        data={
            "csrf_token": token,
            "presentation": "Nouvelle présentation.",
            "logo": (io.BytesIO(png.getvalue()), "l.png"),
        },
    )
    assert saved.status_code == 303
    with app.app_context():
        organisation = db.session.get(Organisation, organisation_id)
        assert organisation.presentation == "Nouvelle présentation."
        assert organisation.logo_filename


def test_a_new_link_can_be_asked_for_without_disclosing_who_is_a_member(app: Flask, client, outbox):
    _member(app)
    sent_before = len(outbox)
    for email in ("enfance.ensemble@example.org", "stranger@example.org"):
        page = client.get("/organisations/gerer")
        response = client.post(
            "/organisations/gerer", data={"csrf_token": csrf_from(page.text), "email": email}
        )
        assert response.status_code == 303
        assert LINK_SENT in client.get(response.headers["Location"]).text
    assert len(outbox) == sent_before + 1
    assert _open(client, MANAGE_LINK.search(outbox[-1].body).group(0)).status_code == 303


def test_expired_and_forged_links_do_not_open_anything(app: Flask, client, outbox, monkeypatch):
    _member(app)
    link = MANAGE_LINK.search(outbox[-1].body).group(0)
    monkeypatch.setitem(app.config, "MANAGE_LINK_HOURS", -1)  # every link is now too old
    assert _open(client, link).status_code == 410
    monkeypatch.setitem(app.config, "MANAGE_LINK_HOURS", 48)
    assert _open(client, link[:-3] + "abc").status_code == 410
    assert client.get("/organisations/espace").status_code == 302  # no session: ask for a link


def test_odd_session_values_open_no_space(app: Flask, client):
    organisation_id = _member(app)
    for values in (
        {"managed_until": "abc", "managed_organisation": organisation_id},
        {"managed_until": None, "managed_organisation": organisation_id},
        {"managed_until": 10**12, "managed_organisation": str(organisation_id)},
    ):
        with client.session_transaction() as session:
            session.update(values)
        assert client.get("/organisations/espace").status_code == 302, values
    with client.session_transaction() as session:
        session.update({"managed_until": 10**12, "managed_organisation": organisation_id})
    assert client.get("/organisations/espace").status_code == 200  # what the link writes


def test_the_space_gives_the_signing_widget_with_the_members_referral_code(
    app: Flask, client, outbox
):
    organisation_id = _member(app)
    with app.app_context():
        organisation = db.session.get(Organisation, organisation_id)
        slug = make_petition(organisation.collective).slug
        code = organisation.referral_code
        db.session.commit()
    _open(client, MANAGE_LINK.search(outbox[-1].body).group(0))
    space = client.get("/organisations/espace").text
    assert "Le formulaire de signature sur votre site" in space
    assert f"/petitions/{slug}/widget?org={code}" in space
    assert 'data-copy="widget-' in space
