"""A member organisation's referral link tags the signatures it brings, and its page counts them."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from campaign.extensions import db
from campaign.organisations import services
from campaign.organisations.models import Organisation, OrganisationStatus
from campaign.petition.models import Signature
from tests.conftest import PUBLIC_URL
from tests.factories import confirmation_link, make_petition, path_of, sign_through_form
from tests.organisations.test_moderation import _pending


def _member(app: Flask, approve: bool = True) -> tuple[int, str, str]:
    """(organisation id, referral code, petition slug)"""
    organisation_id = _pending(app)
    with app.app_context():
        if approve:
            services.decide(organisation_id, True, decided_by="Camille")
        organisation = db.session.get(Organisation, organisation_id)
        slug = make_petition(organisation.collective).slug
        db.session.commit()
        return organisation_id, organisation.referral_code, slug


def _signature_organisations(app: Flask) -> list[int | None]:
    with app.app_context():
        return list(db.session.execute(select(Signature.organisation_id)).scalars())


def test_the_member_page_gives_the_link_and_counts_what_it_brought(app: Flask, client, outbox):
    organisation_id, code, slug = _member(app)
    page = client.get(f"/organisations/{organisation_id}").text
    link = f"{PUBLIC_URL}/petitions/{slug}?org={code}"
    assert link in page
    assert "<strong>0</strong> signature confirmée" in page

    petition_page = client.get(f"/petitions/{slug}?org={code}").text
    assert f'name="org" type="hidden" value="{code}"' in petition_page
    assert sign_through_form(client, slug, org=code).status_code == 303
    assert _signature_organisations(app) == [organisation_id]
    assert "<strong>0</strong>" in client.get(f"/organisations/{organisation_id}").text  # pending

    client.get(path_of(confirmation_link(outbox[-1])))  # the tag survives the confirmation
    assert (
        "<strong>1</strong> signature confirmée"
        in client.get(f"/organisations/{organisation_id}").text
    )


def test_unknown_or_unapproved_codes_tag_nothing(app: Flask, client, outbox):
    _, code, slug = _member(app, approve=False)
    sign_through_form(client, slug, org=code, email="a@example.org")
    sign_through_form(client, slug, org="nope", email="b@example.org")
    sign_through_form(client, slug, org="<script>", email="c@example.org")
    assert _signature_organisations(app) == [None, None, None]


def test_only_listed_members_have_a_public_page(app: Flask, client, outbox):
    organisation_id, _, _ = _member(app, approve=False)
    assert client.get(f"/organisations/{organisation_id}").status_code == 404
    with app.app_context():
        organisation = db.session.get(Organisation, organisation_id)
        organisation.status = OrganisationStatus.APPROVED
        organisation.listed = False
        db.session.commit()
    assert client.get(f"/organisations/{organisation_id}").status_code == 404
    assert client.get("/organisations/999999").status_code == 404
