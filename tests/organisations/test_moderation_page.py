"""The interim moderation page: signed in through a link printed by a `flask` command."""

from __future__ import annotations

import html

from flask import Flask
from sqlalchemy import select

from campaign.extensions import db
from campaign.organisations.models import ModerationDecision, Organisation, OrganisationStatus
from tests.conftest import PUBLIC_URL
from tests.factories import csrf_from
from tests.organisations.test_moderation import _pending


def _sign_in(app: Flask, client) -> str:  # type: ignore[no-untyped-def]
    """Sign in as « Camille »; returns a CSRF token of the session."""
    printed = app.test_cli_runner().invoke(
        args=["organisations", "moderation-link", "--by", "Camille"]
    )
    path = printed.output.strip().removeprefix(PUBLIC_URL)
    ask = client.get(path)
    assert "en tant que <strong>Camille</strong>" in ask.text
    assert client.post(path, data={"csrf_token": csrf_from(ask.text)}).status_code == 303
    return csrf_from(client.get("/moderation").text)


def _status(app: Flask, organisation_id: int) -> OrganisationStatus:
    with app.app_context():
        return db.session.get(Organisation, organisation_id).status


def test_only_a_signed_in_moderator_sees_and_decides(app: Flask, client, outbox):
    organisation_id = _pending(app)
    assert client.get("/moderation").status_code == 403
    anonymous = csrf_from(client.get("/rejoindre").text)  # a valid token, but no moderator
    decision = {"csrf_token": anonymous, "decision": "approve"}
    assert client.post(f"/moderation/{organisation_id}", data=decision).status_code == 403
    assert client.get("/moderation/connexion/forged-token").status_code == 404

    token = _sign_in(app, client)
    assert "Enfance Ensemble" in client.get("/moderation").text

    refused = client.post(
        f"/moderation/{organisation_id}", data={"csrf_token": token, "decision": "reject"}
    )
    assert "motif du refus" in html.unescape(client.get(refused.headers["Location"]).text)
    assert _status(app, organisation_id) is OrganisationStatus.PENDING

    client.post(f"/moderation/{organisation_id}", data={"csrf_token": token, "decision": "approve"})
    assert _status(app, organisation_id) is OrganisationStatus.APPROVED
    again = client.post(
        f"/moderation/{organisation_id}", data={"csrf_token": token, "decision": "approve"}
    )
    assert "déjà été traitée" in html.unescape(client.get(again.headers["Location"]).text)
    with app.app_context():
        [decision] = db.session.execute(select(ModerationDecision)).scalars().all()
        assert (decision.decided_by, decision.status) == ("Camille", OrganisationStatus.APPROVED)
    assert "rejoint le collectif" in outbox[-1].subject


def test_a_refusal_with_a_reason_is_recorded_and_sent(app: Flask, client, outbox):
    organisation_id = _pending(app)
    token = _sign_in(app, client)
    client.post(
        f"/moderation/{organisation_id}",
        data={"csrf_token": token, "decision": "reject", "reason": "Hors du champ du collectif"},
    )
    assert _status(app, organisation_id) is OrganisationStatus.REJECTED
    assert "Hors du champ du collectif" in outbox[-1].body


def test_an_unknown_decision_is_refused_and_odd_sessions_are_signed_out(app: Flask, client, outbox):
    organisation_id = _pending(app)
    token = _sign_in(app, client)
    odd = client.post(f"/moderation/{organisation_id}", data={"csrf_token": token, "decision": "x"})
    assert odd.status_code == 400
    assert _status(app, organisation_id) is OrganisationStatus.PENDING

    for values in (
        {"moderator_until": "abc"},
        {"moderator_until": None},
        {"moderator": ["Camille"]},
    ):
        with client.session_transaction() as session:
            session.update(values)
        assert client.get("/moderation").status_code == 403
    with client.session_transaction() as session:
        session.update({"managed_until": "abc", "managed_organisation": "1"})
    assert client.get("/organisations/espace").status_code == 302
