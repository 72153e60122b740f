"""Withdrawing a signature (and its data) from the link in any email; purging stale ones."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.petition import counting, services
from campaign.petition.models import Petition, Signature
from campaign.petition.services import SignatureInput
from tests.factories import confirmation_link, make_petition, path_of

WITHDRAW_LINK = re.compile(r"https?://\S+/signature/retirer/[A-Za-z0-9_-]+")


def _signed(app: Flask, outbox: list, *, confirm: bool) -> tuple[int, str]:
    """A petition with one signature; returns (petition id, path of its withdrawal link)."""
    with app.app_context():
        petition = make_petition()
        services.sign(
            petition, SignatureInput(first_name="Ana", last_name="Lima", email="ana@example.org")
        )
        db.session.commit()
        if confirm:
            services.confirm(path_of(confirmation_link(outbox[0])).rsplit("/", 1)[1])
            db.session.commit()
        petition_id = petition.id
    [link] = WITHDRAW_LINK.findall(outbox[0].body)
    assert link in outbox[0].html
    return petition_id, path_of(link)


def _count(app: Flask, petition_id: int) -> tuple[int, int]:
    """(public count, signature rows)"""
    with app.app_context():
        petition = db.session.get(Petition, petition_id)
        rows = db.session.execute(select(func.count(Signature.id))).scalar_one()
        return counting.count(petition), rows


def test_opening_the_link_only_asks_and_posting_deletes(app: Flask, client, outbox):
    petition_id, path = _signed(app, outbox, confirm=True)
    assert _count(app, petition_id) == (1, 1)

    page = client.get(path)  # what a mail scanner does: nothing is deleted
    assert page.status_code == 200
    assert "Retirer ma signature" in page.text
    assert _count(app, petition_id) == (1, 1)

    assert 'name="csrf_token"' not in page.text  # a public form: no session, no token
    done = client.post(path)
    assert done.status_code == 200
    assert "Votre signature a été retirée" in done.text
    assert _count(app, petition_id) == (0, 0)

    again = client.get(path)
    assert again.status_code == 404 and "Lien inconnu" in again.text


def test_withdrawing_a_pending_signature_leaves_the_count_alone(app: Flask, client, outbox):
    petition_id, path = _signed(app, outbox, confirm=False)
    client.get(path)
    client.post(path)
    assert _count(app, petition_id) == (0, 0)


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}, {}],
    ids=["fetch-cross-site", "origin-evil", "no-header"],
)
def test_withdrawing_from_another_site_is_refused(app: Flask, outbox, headers):
    petition_id, path = _signed(app, outbox, confirm=True)
    response = FlaskClient(app).post(path, headers=headers)
    assert response.status_code == 403
    assert "Ce formulaire a été envoyé depuis un autre site" in response.text
    assert _count(app, petition_id) == (1, 1)


def test_the_already_signed_email_also_offers_withdrawal(app: Flask, outbox):
    _signed(app, outbox, confirm=True)
    with app.app_context():
        petition = db.session.execute(select(Petition)).scalar_one()
        services.sign(
            petition, SignatureInput(first_name="Ana", last_name="Lima", email="ana@example.org")
        )
        db.session.commit()
    assert WITHDRAW_LINK.search(outbox[-1].body)


def test_stale_pending_signatures_are_purged_and_confirmed_ones_kept(app: Flask, outbox):
    with app.app_context():
        petition = make_petition()
        for email in ("old@example.org", "kept@example.org"):
            services.sign(petition, SignatureInput(first_name="Ana", last_name="Lima", email=email))
        db.session.commit()
        services.confirm(path_of(confirmation_link(outbox[1])).rsplit("/", 1)[1])
        db.session.commit()

        assert services.purge_unconfirmed(timedelta(days=30)) == 0  # too recent
        later = utcnow() + timedelta(days=40)
        assert services.purge_unconfirmed(timedelta(days=30), now=later) == 1
        db.session.commit()
        emails = db.session.execute(select(Signature.email)).scalars().all()
    assert emails == ["kept@example.org"]


def test_the_privacy_page_states_retention_and_rights(client):
    page = client.get("/donnees-personnelles")
    assert page.status_code == 200
    assert "supprimée automatiquement 30 jours" in page.text
    assert "retirer votre signature" in page.text


def test_two_withdrawals_of_one_signature_count_once(app: Flask, client, outbox):
    petition_id, path = _signed(app, outbox, confirm=True)
    client.get(path)
    first = client.post(path)
    second = client.post(path)  # a double click, a second tab
    assert first.status_code == 200
    assert second.status_code == 404 and "Lien inconnu" in second.text
    assert _count(app, petition_id) == (0, 0)
    with app.app_context():
        assert counting.reconcile(fix=False) == []
