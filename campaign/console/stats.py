"""The campaign's figures, straight from the database (GROUP BY, no cache).

Every breakdown counts confirmed signatures of one petition; RSVPs count confirmed
participants. Paper signatures are counted apart and added to the public total.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, cast, func, select

from campaign.console.models import PaperSignatures
from campaign.extensions import db
from campaign.organisations.models import Organisation
from campaign.petition.models import Petition, Signature
from campaign.rallies.models import Rally, Rsvp, RsvpStatus

UNKNOWN = "(inconnu)"  # a breakdown's key when the signature has none (no tag, abroad…)


@dataclass(frozen=True)
class Totals:
    confirmed: int
    pending: int
    paper: int
    target: int

    @property
    def public(self) -> int:
        return self.confirmed + self.paper


def totals(petition: Petition) -> Totals:
    confirmed, pending = db.session.execute(
        select(
            func.count(Signature.confirmed_at),
            func.count() - func.count(Signature.confirmed_at),
        ).where(Signature.petition_id == petition.id)
    ).one()
    paper = db.session.execute(
        select(func.coalesce(func.sum(PaperSignatures.count), 0)).where(
            PaperSignatures.petition_id == petition.id
        )
    ).scalar_one()
    return Totals(int(confirmed), int(pending), int(paper), petition.target)


def _confirmed(petition: Petition):  # type: ignore[no-untyped-def]
    return (Signature.petition_id == petition.id, Signature.confirmed_at.is_not(None))


def per_day(petition: Petition) -> list[tuple[date, int]]:
    """Confirmed signatures per day of confirmation, in UTC whatever the session's zone."""
    if db.session.get_bind().dialect.name == "sqlite":
        day = func.date(Signature.confirmed_at)  # stored as naive UTC
    else:
        day = cast(func.timezone("UTC", Signature.confirmed_at), Date)
    rows = db.session.execute(
        select(day, func.count()).where(*_confirmed(petition)).group_by(day).order_by(day)
    )
    return [(d if isinstance(d, date) else date.fromisoformat(d), n) for d, n in rows]


def per_departement(petition: Petition) -> list[tuple[str, int]]:
    """Confirmed signatures per département (abroad and unknown as UNKNOWN), most first."""
    key = func.coalesce(Signature.departement, UNKNOWN)
    rows = db.session.execute(select(key, func.count()).where(*_confirmed(petition)).group_by(key))
    return sorted(((d, n) for d, n in rows), key=lambda r: (-r[1], r[0]))


def per_source(petition: Petition) -> list[tuple[str, int]]:
    """Per source tag (?source=, utm_source, QR codes: qr-…), most first."""
    key = func.coalesce(Signature.source, UNKNOWN)
    rows = db.session.execute(select(key, func.count()).where(*_confirmed(petition)).group_by(key))
    return sorted(((s, n) for s, n in rows), key=lambda r: (-r[1], r[0]))


def per_organisation(petition: Petition) -> list[tuple[str, int]]:
    """Per member organisation whose referral link brought the signature."""
    rows = db.session.execute(
        select(Organisation.name, func.count())
        .select_from(Signature)
        .join(Organisation, Organisation.id == Signature.organisation_id)
        .where(*_confirmed(petition))
        .group_by(Organisation.id, Organisation.name)
    )
    return sorted(((o, n) for o, n in rows), key=lambda r: (-r[1], r[0]))


def per_rally(petition: Petition) -> list[tuple[str, int]]:
    """Per rally whose page the signer came from (« Lyon (2025-05-15) »)."""
    rows = db.session.execute(
        select(Rally.id, Rally.city, Rally.date, func.count())
        .select_from(Signature)
        .join(Rally, Rally.id == Signature.rally_id)
        .where(*_confirmed(petition))
        .group_by(Rally.id, Rally.city, Rally.date)
    )
    return sorted(
        ((f"{city} ({when:%Y-%m-%d})", n) for _, city, when, n in rows),
        key=lambda r: (-r[1], r[0]),
    )


def rsvps_per_rally() -> list[tuple[Rally, int, int]]:
    """Every rally with its confirmed participants and its waiting list."""
    confirmed = func.sum(func.cast(Rsvp.status == RsvpStatus.CONFIRMED, db.Integer))
    waiting = func.sum(func.cast(Rsvp.status == RsvpStatus.WAITLISTED, db.Integer))
    counts = {
        rally_id: (int(c or 0), int(w or 0))
        for rally_id, c, w in db.session.execute(
            select(Rsvp.rally_id, confirmed, waiting).group_by(Rsvp.rally_id)
        )
    }
    rallies = db.session.execute(select(Rally).order_by(Rally.date, Rally.city)).scalars()
    return [(r, *counts.get(r.id, (0, 0))) for r in rallies]


BREAKDOWNS = {
    "jours": ("Par jour", "Jour", per_day),
    "departements": ("Par département", "Département", per_departement),
    "sources": ("Par source", "Source", per_source),
    "organisations": ("Par organisation membre", "Organisation", per_organisation),
    "rassemblements": ("Par rassemblement", "Rassemblement", per_rally),
}
