"""Organisers approve or reject applications (from the command line here; the console's
queues: tests/console/test_dashboard.py); members are listed."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from campaign.content.models import Collective
from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.organisations import services
from campaign.organisations.models import (
    ModerationDecision,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
)
from campaign.organisations.services import Application
from tests.factories import make_collective


def _pending(app: Flask, name: str = "Enfance Ensemble", **kwargs) -> int:  # type: ignore[no-untyped-def]
    """An application whose contact email is confirmed."""
    values = {
        "name": name,
        "kind": OrganisationKind.ASSOCIATION,
        "departement": "35",
        "contact_name": "Léa Martin",
        "contact_email": f"{services.name_key(name).replace(' ', '.')}@example.org",
        "presentation": f"Présentation de {name}.",
        "listed": True,
        **kwargs,
    }
    with app.app_context():
        collective = db.session.execute(select(Collective)).scalar() or make_collective()
        organisation = services.apply(collective, Application(**values))
        organisation.status = OrganisationStatus.PENDING
        organisation.confirmed_at = utcnow()
        db.session.commit()
        return organisation.id


def test_the_command_lists_approves_and_rejects(app: Flask, outbox):
    first, second = _pending(app, "Enfance Ensemble"), _pending(app, "Autre Association")
    runner = app.test_cli_runner()

    listing = runner.invoke(args=["organisations", "pending"])
    assert "Enfance Ensemble" in listing.output and "Autre Association" in listing.output

    approved = runner.invoke(args=["organisations", "approve", str(first), "--by", "Camille"])
    rejected = runner.invoke(
        args=["organisations", "reject", str(second), "--by", "Camille", "--reason", "Hors sujet"]
    )
    again = runner.invoke(args=["organisations", "approve", str(first), "--by", "Camille"])

    assert approved.exit_code == 0 and "approved" in approved.output
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    assert again.exit_code != 0 and "not pending" in again.output
    with app.app_context():
        decisions = db.session.execute(select(ModerationDecision)).scalars().all()
        assert [(d.organisation_id, d.status, d.decided_by, d.reason) for d in decisions] == [
            (first, OrganisationStatus.APPROVED, "Camille", ""),
            (second, OrganisationStatus.REJECTED, "Camille", "Hors sujet"),
        ]
    subjects = [m.subject for m in outbox[-2:]]
    assert subjects[0] == "Votre organisation rejoint le collectif Collectif d’essai"
    assert "demande d’adhésion" in subjects[1]
    assert "Hors sujet" in outbox[-1].body


def test_an_unconfirmed_application_cannot_be_decided(app: Flask, outbox):
    organisation_id = _pending(app)
    with app.app_context():
        db.session.get(Organisation, organisation_id).status = OrganisationStatus.UNCONFIRMED
        db.session.commit()
        with pytest.raises(services.NotPendingError):
            services.decide(organisation_id, True, decided_by="Camille")


def test_the_directory_lists_listed_members_with_filters(app: Flask, client, outbox):
    ids = {
        "Enfance Ensemble": _pending(app, "Enfance Ensemble"),
        "Fédération Lyon": _pending(
            app, "Fédération Lyon", kind=OrganisationKind.FEDERATION, departement="69"
        ),
        "Discrète": _pending(app, "Discrète", listed=False),
        "Pas encore": _pending(app, "Pas encore"),
    }
    with app.app_context():
        for name in ("Enfance Ensemble", "Fédération Lyon", "Discrète"):
            services.decide(ids[name], True, decided_by="Camille")
        db.session.commit()

    page = client.get("/organisations").text
    assert "Enfance Ensemble" in page and "Fédération Lyon" in page
    assert "Discrète" not in page  # a member, but it did not agree to be listed
    assert "Pas encore" not in page  # not approved
    assert "<strong>3</strong> organisations membres" in page  # all members count

    assert "Enfance Ensemble" not in client.get("/organisations?type=federation").text
    assert "Fédération Lyon" not in client.get("/organisations?departement=35").text
    assert "Fédération Lyon" in client.get("/organisations?q=federation").text
    for odd in ("?type=<script>", "?departement=%00", "?q=" + "x" * 5000, "?q=%25_"):
        assert client.get("/organisations" + odd).status_code == 200

    home = client.get("/").text
    assert "<strong>3</strong> organisations membres" in home
