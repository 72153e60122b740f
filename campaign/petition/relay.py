"""Relayed petitions: visitors sent on to the official platform, counted on the way.

Every « Signer sur le site officiel » button and every printed QR code of a relayed petition
points to /petitions/<slug>/signer-officiel, which records one RelayClick (what brought the
visitor: a source tag, a member organisation's referral code, a rally) and redirects.
Anyone can write these URLs: unknown or odd values are stored as NULL, never refused.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from sqlalchemy import func, insert, select

from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.organisations.models import Organisation
from campaign.organisations.services import referring_organisation_id
from campaign.petition.forms import clean_tag
from campaign.petition.models import Petition, RelayClick
from campaign.petition.services import PetitionRef
from campaign.rallies.models import Rally
from campaign.rallies.services import visible_rally_id

SOURCE_LENGTH = 64  # RelayClick.source, as Signature.source
# Control characters (NUL is refused by PostgreSQL) and the invisible format ones.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def clean_source(value: str | None) -> str | None:
    """The source tag as typed, without what cannot be stored or shown, cut to 64."""
    value = _UNPRINTABLE.sub("", value or "").strip()[:SOURCE_LENGTH].strip()
    return value or None


def record_click(
    petition: Petition | PetitionRef,
    source: str | None,
    org_code: str | None,
    rally_id: str | int | None,
) -> None:
    """One visitor sent to the official platform: a single INSERT (the referral code and
    the rally are resolved through the same short-lived caches signing uses).

    An organisation counts only if approved, a rally only if shown to the public
    (published, or cancelled but still listed), as for signatures; otherwise NULL.
    """
    rally_tag = str(rally_id) if isinstance(rally_id, int) else rally_id
    db.session.execute(
        insert(RelayClick).values(
            petition_id=petition.id,
            source=clean_source(source),
            organisation_id=referring_organisation_id(clean_tag(org_code)),
            rally_id=visible_rally_id(clean_tag(rally_tag)),
            at=utcnow(),
        )
    )


def click_total(petition_id: int) -> int:
    """Visitors this site sent to the official platform (the public page shows it)."""
    return db.session.execute(
        select(func.count(RelayClick.id)).where(RelayClick.petition_id == petition_id)
    ).scalar_one()


def click_counts(petition_id: int) -> dict[str, Any]:
    """The clicks of one petition for the console, in one GROUP BY:

    {"total": n,
     "by_source": {source or None: n},
     "by_organisation": {organisation name or None: n},
     "by_rally": {"Lyon (15/05/2026)" or None: n}}

    each dict ordered by count, largest first (None: no tag, or an unknown one).
    """
    rows = db.session.execute(
        select(
            RelayClick.source,
            Organisation.name,
            Rally.city,
            Rally.date,
            func.count(RelayClick.id),
        )
        .outerjoin(Organisation, Organisation.id == RelayClick.organisation_id)
        .outerjoin(Rally, Rally.id == RelayClick.rally_id)
        .where(RelayClick.petition_id == petition_id)
        .group_by(RelayClick.source, Organisation.name, Rally.id, Rally.city, Rally.date)
    ).all()
    sources: Counter[str | None] = Counter()
    organisations: Counter[str | None] = Counter()
    rallies: Counter[str | None] = Counter()
    for source, organisation, city, day, n in rows:
        sources[source] += n
        organisations[organisation] += n
        rallies[f"{city} ({day:%d/%m/%Y})" if city else None] += n
    return {
        "total": sum(sources.values()),
        "by_source": dict(sources.most_common()),
        "by_organisation": dict(organisations.most_common()),
        "by_rally": dict(rallies.most_common()),
    }
