"""The database itself refuses a second application from the same organisation."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.exc import IntegrityError

from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.organisations.models import NATIONAL, Organisation, OrganisationKind
from tests.factories import make_collective

_codes = itertools.count(1)


def _organisation(collective, name_key: str, departement: str, **kwargs) -> Organisation:  # type: ignore[no-untyped-def]
    values = {
        "collective": collective,
        "name": name_key.title(),
        "name_key": name_key,
        "kind": OrganisationKind.ASSOCIATION,
        "departement": departement,
        "contact_name": "Ana Lima",
        "contact_email": "contact@example.org",
        "shares_demands_at": utcnow(),
        "referral_code": f"ref-{next(_codes)}",
        "token_nonce": "0" * 32,
        **kwargs,
    }
    organisation = Organisation(**values)
    db.session.add(organisation)
    return organisation


def test_same_name_in_another_departement_is_another_organisation(ctx):
    collective = make_collective()
    _organisation(collective, "enfance ensemble", "35")
    _organisation(collective, "enfance ensemble", NATIONAL)
    db.session.commit()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            {"name_key": "enfance ensemble", "departement": "35"},
            {"name_key": "enfance ensemble", "departement": "35"},
        ),
        (
            {"name_key": "a", "departement": "35", "identifier": "W751234567"},
            {"name_key": "b", "departement": "69", "identifier": "W751234567"},
        ),
    ],
)
def test_a_second_application_is_refused_by_the_database(ctx, first, second):
    collective = make_collective()
    _organisation(collective, **first)
    db.session.commit()
    _organisation(collective, **second)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
