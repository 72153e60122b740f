"""Signatures collected on paper, and which petition the console shows. Flush, never commit."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from campaign.console.models import PaperSignatures
from campaign.extensions import db
from campaign.petition import services as petition_services
from campaign.petition.models import Petition

MAX_BATCH = 1_000_000
MAX_NOTE = 1000


def chosen_petition(petitions: list[Petition], slug: str | None) -> Petition | None:
    """The petition named by `slug` among `petitions`, else the first open one, else the
    first; None when `slug` names none of them (or there are none)."""
    if slug:
        return next((p for p in petitions if p.slug == slug), None)
    return next((p for p in petitions if p.is_open()), petitions[0] if petitions else None)


def public_petitions() -> list[Petition]:
    """Petitions the console deals with: every one but the drafts, oldest first."""
    return petition_services.public_petitions()


def add_batch(
    petition: Petition, count: int, collected_on: date, note: str, added_by: str
) -> PaperSignatures:
    """Record a batch of paper signatures and add it to the petition's public count.

    The batch and the petition's paper_count change in the caller's transaction; the
    increment is done by the database (paper_count = paper_count + n), so two batches
    added at once both count. After the commit, call counting.forget_cached(petition.id).
    """
    if not 1 <= count <= MAX_BATCH:
        raise ValueError(f"count out of range: {count}")
    batch = PaperSignatures(
        petition_id=petition.id,
        count=count,
        collected_on=collected_on,
        note=note.strip()[:MAX_NOTE],
        added_by=added_by[:200],
    )
    db.session.add(batch)
    db.session.execute(
        update(Petition)
        .where(Petition.id == petition.id)
        .values(paper_count=Petition.paper_count + count)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    db.session.expire(petition, ["paper_count"])
    return batch


def batches(limit: int = 500) -> list[PaperSignatures]:
    """The latest batches, every petition, most recently collected first."""
    return list(
        db.session.execute(
            select(PaperSignatures)
            .options(selectinload(PaperSignatures.petition))
            .order_by(
                PaperSignatures.collected_on.desc(),
                PaperSignatures.created_at.desc(),
                PaperSignatures.id.desc(),
            )
            .limit(limit)
        ).scalars()
    )
