"""The hand-over dossier: a tagged PDF of the text, its versions and the final counts; the
signatories only when an admin asks, and audited."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime

import pypdf
import pytest
from flask import Flask
from sqlalchemy import select

from campaign.console.models import AuditEntry, PaperSignatures, Role
from campaign.extensions import db
from campaign.petition.models import PetitionStatus, PetitionVersion, Signature
from tests.console.helpers import sign_in
from tests.factories import make_petition

_seq = itertools.count(1)


def _signature(petition_id: int, departement: str, version: int = 1) -> None:
    n = next(_seq)
    db.session.add(
        Signature(
            petition_id=petition_id,
            first_name="Jeanne",
            last_name=f"Dossier{n}",
            email=f"d{n}@example.org",
            email_canonical=f"d{n}@example.org",
            departement=departement,
            consent_version="test",
            token_nonce=f"{n:032x}",
            token_hash=f"{n:064x}",
            token_expires_at=datetime(2030, 1, 1, tzinfo=UTC),
            confirmed_at=datetime(2025, 5, 15, 10, tzinfo=UTC),
            petition_version=version,
        )
    )


@pytest.fixture
def petition_slug(app: Flask) -> str:
    with app.app_context():
        petition = make_petition(status=PetitionStatus.CLOSED)
        petition.version = 2
        petition.versions = [
            PetitionVersion(number=1, title=petition.title, text="Le texte d’abord signé."),
            PetitionVersion(number=2, title=petition.title, text=petition.text, reason="Coquille"),
        ]
        for dep, version in [("69", 1), ("69", 2), ("75", 2)]:
            _signature(petition.id, dep, version)
        db.session.add(
            PaperSignatures(
                petition_id=petition.id,
                count=40,
                collected_on=datetime(2025, 5, 15).date(),
                added_by="x",
            )
        )
        db.session.commit()
        return petition.slug


def _text(body: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_dossier_has_the_text_versions_and_final_counts(app: Flask, client, petition_slug):
    sign_in(app, client, Role.ADMIN)
    answer = client.get(f"/console/petitions/{petition_slug}/dossier.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(answer.data))
    assert reader.trailer["/Root"]["/Lang"] == "fr"
    assert "/StructTreeRoot" in reader.trailer["/Root"]  # tagged
    text = " ".join(_text(answer.data).split())
    assert "DOSSIER DE REMISE" in text and "Le texte d’abord signé." in text
    assert "motif : Coquille" in text
    assert "43" in text  # 3 online + 40 on paper
    assert "Jeanne Dossier" not in text  # no names unless asked
    with app.app_context():
        assert db.session.execute(select(AuditEntry)).first() is None


def test_the_signatories_list_is_added_on_request_and_audited(app: Flask, client, petition_slug):
    me = sign_in(app, client, Role.ADMIN)
    answer = client.get(f"/console/petitions/{petition_slug}/dossier.pdf?signataires=1")
    assert answer.status_code == 200
    text = _text(answer.data)
    assert text.count("Jeanne Dossier") == 3
    with app.app_context():
        (entry,) = db.session.execute(select(AuditEntry)).scalars()
        assert (entry.action, entry.what, entry.rows, entry.who) == (
            "export.dossier.signatories",
            petition_slug,
            3,
            me.who,
        )


@pytest.mark.parametrize("role", [Role.ORGANISER, Role.RALLY_ORGANISER])
def test_only_admins_get_the_dossier(app: Flask, client, petition_slug, role):
    sign_in(app, client, role)
    assert client.get(f"/console/petitions/{petition_slug}/dossier.pdf").status_code == 403


def test_an_unknown_petition_has_no_dossier(app: Flask, client):
    sign_in(app, client, Role.ADMIN)
    assert client.get("/console/petitions/inconnue/dossier.pdf").status_code == 404
    assert client.get(f"/console/petitions/{'x' * 5000}/dossier.pdf").status_code == 404
