"""Petitions written and corrected from the console (and content files): drafts, the lock
on a signed text, its versions, a private preview link, relayed petitions' official counts.

From a petition's first signature on, what the signers agreed to (title, summary, text,
demands) is locked: changing it makes a new version with its reason, and each signature
keeps the version it was made on. What they did not sign (addressee, call to action,
target, dates, the official platform's address) is edited in place.
Services flush and never commit.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, select

from campaign.content.models import Collective, Demand
from campaign.core.db import utcnow
from campaign.core.tokens import token_for
from campaign.extensions import db
from campaign.petition.models import (
    OfficialCount,
    Petition,
    PetitionStatus,
    PetitionVersion,
    Signature,
)

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG = 80
PREVIEW_PURPOSE = "petition-preview"


@dataclass(frozen=True)
class Draft:
    """What the petition form holds, checked."""

    slug: str
    title: str
    addressee: str
    summary: str
    text: str
    demand_ids: list[int]  # in the petition's order
    call_to_action: str
    target: int
    opens_at: datetime | None  # UTC
    closes_at: datetime | None
    official_url: str | None = None  # set: a relayed petition, signed on that platform


class CorrectionReasonMissingError(ValueError):
    """The signed text changed without a reason for the new version."""


def has_signatures(petition: Petition) -> bool:
    """Signed at least once, confirmed or not: someone agreed to this text."""
    if petition.id is None:
        return False
    return bool(
        db.session.execute(select(exists().where(Signature.petition_id == petition.id))).scalar()
    )


def locked_fields(petition: Petition) -> tuple[Any, ...]:
    """What a signer agreed to: what a correction changes."""
    return (
        petition.title,
        petition.summary,
        petition.text,
        tuple((d.title, d.text) for d in petition.demands),
    )


def slug_taken(slug: str, except_id: int | None = None) -> bool:
    query = select(Petition.id).where(Petition.slug == slug)
    if except_id is not None:
        query = query.where(Petition.id != except_id)
    return db.session.execute(query.limit(1)).first() is not None


def collective_demands(collective: Collective, ids: list[int]) -> list[Demand]:
    """The collective's demands with these ids, in this order (others are ignored)."""
    by_id = {d.id: d for d in collective.demands}
    return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]


def _free_fields(petition: Petition, draft: Draft) -> None:
    petition.addressee = draft.addressee
    petition.call_to_action = draft.call_to_action
    petition.target = draft.target
    petition.opens_at = draft.opens_at
    petition.closes_at = draft.closes_at
    petition.official_url = draft.official_url or None


def _signed_fields(petition: Petition, draft: Draft) -> None:
    petition.title = draft.title
    petition.summary = draft.summary
    petition.text = draft.text
    petition.demands = collective_demands(petition.collective, draft.demand_ids)


def create(collective: Collective, draft: Draft) -> Petition:
    petition = Petition(collective=collective, slug=draft.slug, status=PetitionStatus.DRAFT)
    db.session.add(petition)
    _free_fields(petition, draft)
    _signed_fields(petition, draft)
    db.session.flush()
    return petition


def _snapshot(petition: Petition, number: int, reason: str, by: str) -> PetitionVersion:
    return PetitionVersion(
        number=number,
        title=petition.title,
        summary=petition.summary,
        text=petition.text,
        demands=[{"title": d.title, "text": d.text} for d in petition.demands],
        reason=reason,
        created_by=by,
        created_at=utcnow(),
    )


def update(petition: Petition, draft: Draft, by: str, reason: str = "") -> PetitionVersion | None:
    """Edit a petition. A draft's address may change; once signed, a change of the signed
    text needs `reason` and makes the next version (the first correction also keeps
    version 1, the text as it was). The new version, or None when edited in place."""
    signed = has_signatures(petition)
    before = locked_fields(petition)
    if petition.status is PetitionStatus.DRAFT and not signed:
        petition.slug = draft.slug
    _free_fields(petition, draft)
    _signed_fields(petition, draft)
    if not signed or locked_fields(petition) == before:
        db.session.flush()
        return None
    return correct(petition, before, by, reason)


def correct(petition: Petition, before: tuple[Any, ...], by: str, reason: str) -> PetitionVersion:
    """The signed text has just changed from `before` (locked_fields): make it the next
    version, with its reason. The first correction also keeps version 1, the text as it was
    signed. Also for a demand edited in the collective that a signed petition carries."""
    if not reason.strip():
        raise CorrectionReasonMissingError(petition.slug)
    if not any(v.number == petition.version for v in petition.versions):
        title, summary, text, demands = before
        petition.versions.append(
            PetitionVersion(
                number=petition.version,
                title=title,
                summary=summary,
                text=text,
                demands=[{"title": t, "text": x} for t, x in demands],
                created_at=petition.created_at,
            )
        )
    petition.version += 1
    version = _snapshot(petition, petition.version, reason.strip(), by)
    petition.versions.append(version)
    db.session.flush()
    return version


def preview_token(petition: Petition) -> str:
    """The private preview link's secret: only a console user can hand it out."""
    return token_for(str(petition.id), PREVIEW_PURPOSE)


def preview_allowed(petition: Petition, token: str) -> bool:
    return hmac.compare_digest(preview_token(petition), token)


def add_official_count(
    petition: Petition, count: int, counted_on: date, note: str, by: str
) -> OfficialCount:
    row = OfficialCount(
        petition=petition, count=count, counted_on=counted_on, note=note.strip(), added_by=by
    )
    db.session.add(row)
    db.session.flush()
    return row


def official_counts(petition: Petition) -> list[OfficialCount]:
    """Latest first."""
    return list(
        db.session.execute(
            select(OfficialCount)
            .where(OfficialCount.petition_id == petition.id)
            .order_by(OfficialCount.counted_on.desc(), OfficialCount.id.desc())
        ).scalars()
    )


def collective_petitions(collective: Collective) -> list[Petition]:
    """Every petition of the collective, drafts too, newest first (the console's list)."""
    return list(
        db.session.execute(
            select(Petition)
            .where(Petition.collective_id == collective.id)
            .order_by(Petition.created_at.desc(), Petition.id.desc())
        ).scalars()
    )
