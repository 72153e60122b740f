"""Days and rallies: creating, proposing, deciding, cancelling, reading. Flush, never commit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from campaign.content.models import Collective
from campaign.core import outbox
from campaign.core.db import utcnow
from campaign.core.mail import queue_mail
from campaign.core.ttlcache import TTLCache
from campaign.core.urls import public_url_for
from campaign.extensions import db
from campaign.organisations.models import Organisation, OrganisationStatus
from campaign.places.gazetteer import Commune, fold
from campaign.rallies import rsvp
from campaign.rallies.models import (
    VISIBLE,
    MobilisationDay,
    Rally,
    RallyStatus,
    Rsvp,
    RsvpStatus,
    state_of,
    today,
)

CANCELLED = "rallies.cancelled"  # the outbox kind: a participant told of a cancellation


@dataclass(frozen=True)
class RallyInput:
    day_id: int
    commune: Commune
    date: date
    city: str = ""  # shown name; the commune's by default
    venue: str = ""
    address: str = ""
    start_time: time | None = None
    end_time: time | None = None
    description: str = ""
    directions: str = ""
    accessibility: str = ""
    contact_name: str = ""
    contact_email: str = ""
    capacity: int | None = None
    latitude: float | None = None  # the venue's exact position; the commune's by default
    longitude: float | None = None


def _apply(rally: Rally, data: RallyInput) -> None:
    exact = data.latitude is not None and data.longitude is not None
    rally.day_id = data.day_id
    rally.city = data.city or data.commune.name
    rally.commune_insee = data.commune.insee
    rally.departement = data.commune.departement
    rally.latitude = data.latitude if exact else data.commune.lat  # type: ignore[assignment]
    rally.longitude = data.longitude if exact else data.commune.lon  # type: ignore[assignment]
    for name in (
        "date",
        "venue",
        "address",
        "start_time",
        "end_time",
        "description",
        "directions",
        "accessibility",
        "contact_name",
        "contact_email",
        "capacity",
    ):
        setattr(rally, name, getattr(data, name))


def create_rally(
    data: RallyInput,
    status: RallyStatus = RallyStatus.PUBLISHED,
    organisations: list[Organisation] | None = None,
) -> Rally:
    rally = Rally(status=status, organisations=list(organisations or []))
    _apply(rally, data)
    db.session.add(rally)
    db.session.flush()
    return rally


def propose(organisation: Organisation, data: RallyInput) -> Rally:
    """A member organisation proposes a rally: the organisers publish or refuse it."""
    rally = create_rally(data, RallyStatus.PROPOSED, [organisation])
    rally.proposed_by = organisation
    db.session.flush()
    return rally


def update_rally(rally: Rally, data: RallyInput) -> None:
    """Edit a rally (its organisers or the collective's); its status does not change."""
    _apply(rally, data)
    db.session.flush()


class NotProposedError(Exception):
    """The rally was already decided (by another organiser, or in another tab)."""


class PastRallyError(Exception):
    """A proposal whose date has passed cannot be published."""


def decide(rally_id: int, publish: bool, moderator: str, reason: str = "") -> Rally:
    rally = get_rally(rally_id)
    if rally is None or rally.status is not RallyStatus.PROPOSED:
        raise NotProposedError(rally_id)
    if publish and rally.date < today():
        raise PastRallyError(rally_id)
    rally.status = RallyStatus.PUBLISHED if publish else RallyStatus.REFUSED
    rally.status_note = "" if publish else reason.strip()
    rally.decided_by = moderator
    rally.decided_at = utcnow()
    if rally.proposed_by is not None:
        queue_mail(
            rally.proposed_by.contact_email,
            f"Votre rassemblement à {rally.city} est " + ("publié" if publish else "refusé"),
            "rallies/decision",
            rally=rally,
            published=publish,
            rally_url=public_url_for("rallies.show", rally_id=rally.id),
        )
    db.session.flush()
    return rally


def cancel(rally: Rally, by: str, reason: str) -> bool:
    """Cancelled rallies stay on the map, marked; everyone who said they would come is told.
    False when there was nothing to cancel (not published)."""
    if rally.status is not RallyStatus.PUBLISHED:
        return False
    rally.status = RallyStatus.CANCELLED
    rally.status_note = reason.strip()
    rally.decided_by = by
    rally.decided_at = utcnow()
    coming = db.session.execute(
        select(Rsvp.id).where(Rsvp.rally_id == rally.id, Rsvp.status != RsvpStatus.PENDING)
    ).scalars()
    for rsvp_id in coming:  # one mail each, with the cancellation, in its transaction
        outbox.record(CANCELLED, {"rsvp_id": rsvp_id})
    db.session.flush()
    return True


def pending_proposals() -> list[Rally]:
    return list(
        db.session.execute(
            select(Rally)
            .where(Rally.status == RallyStatus.PROPOSED)
            .options(selectinload(Rally.organisations), selectinload(Rally.day))
            .order_by(Rally.created_at)
        ).scalars()
    )


def days(collective: Collective) -> list[MobilisationDay]:
    """Every mobilisation day, the next one first, then the past ones, latest first."""
    found = db.session.execute(
        select(MobilisationDay).where(MobilisationDay.collective_id == collective.id)
    ).scalars()
    now = today()
    return sorted(found, key=lambda d: (d.date < now, abs((d.date - now).days)))


_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


def get_day(slug: str) -> MobilisationDay | None:
    if not _SLUG.match(slug):
        return None
    return db.session.execute(
        select(MobilisationDay).where(MobilisationDay.slug == slug)
    ).scalar_one_or_none()


def visible_rallies(day: MobilisationDay | None = None) -> list[Rally]:
    """Published and cancelled rallies (of one day), by date then city."""
    query = (
        select(Rally)
        .where(Rally.status.in_(VISIBLE))
        .options(selectinload(Rally.organisations), selectinload(Rally.day))
        .order_by(Rally.date, Rally.city)
    )
    if day is not None:
        query = query.where(Rally.day_id == day.id)
    return list(db.session.execute(query).scalars())


def upcoming_by_day(
    days: list[MobilisationDay], today: date, per_day: int = 50
) -> dict[int, tuple[list[Rally], int]]:
    """For each coming day: its first rallies by city, and how many it has in all."""
    coming = [d.id for d in days if d.date >= today]
    if not coming:
        return {}
    totals = dict(
        db.session.execute(
            select(Rally.day_id, func.count())
            .where(Rally.day_id.in_(coming), Rally.status.in_(VISIBLE))
            .group_by(Rally.day_id)
        ).all()
    )
    return {
        day_id: (
            list(
                db.session.execute(
                    select(Rally)
                    .where(Rally.day_id == day_id, Rally.status.in_(VISIBLE))
                    .order_by(Rally.city)
                    .limit(per_day)
                ).scalars()
            ),
            totals.get(day_id, 0),
        )
        for day_id in coming
    }


@dataclass(frozen=True)
class Marker:
    id: int
    city: str
    latitude: float
    longitude: float
    date: date
    status: RallyStatus

    def state(self, today: date) -> str:
        return state_of(self.status, self.date, today)


def markers(day: MobilisationDay | None, today: date) -> list[Marker]:
    """What the map needs, in one light query: a day's rallies, else the upcoming ones."""
    query = select(
        Rally.id, Rally.city, Rally.latitude, Rally.longitude, Rally.date, Rally.status
    ).where(Rally.status.in_(VISIBLE))
    query = query.where(Rally.day_id == day.id) if day else query.where(Rally.date >= today)
    return [Marker(*row) for row in db.session.execute(query)]


def all_rallies() -> list[Rally]:
    return list(
        db.session.execute(
            select(Rally).options(selectinload(Rally.day)).order_by(Rally.date, Rally.city)
        ).scalars()
    )


_MAX_ID = 2**31 - 1  # an integer column: a longer id in a URL matches nothing


def get_rally(rally_id: int) -> Rally | None:
    """The rally with this id; None also for ids no column holds (not a 500 on the query)."""
    return db.session.get(Rally, rally_id) if 0 < rally_id <= _MAX_ID else None


def visible_rally(rally_id: int) -> Rally | None:
    rally = get_rally(rally_id)
    return rally if rally is not None and rally.status in VISIBLE else None


_visible_ids: TTLCache[int | None] = TTLCache()


def visible_rally_id(tag: str | None) -> int | None:
    """The rally a signature came from (?rassemblement=<id> on the petition link)."""
    if not tag or not tag.isdigit() or len(tag) > 9:
        return None

    def load() -> int | None:
        rally = visible_rally(int(tag))
        return rally.id if rally else None

    return _visible_ids.get_or_compute(tag, current_app.config["PAGE_CACHE_SECONDS"], load)


def rallies_of(organisation: Organisation) -> list[Rally]:
    return list(
        db.session.execute(
            select(Rally)
            .where(Rally.organisations.any(Organisation.id == organisation.id))
            .where(Rally.status != RallyStatus.REFUSED)
            .order_by(Rally.date.desc(), Rally.city)
        ).scalars()
    )


def confirmed_counts(rally_ids: list[int]) -> dict[int, int]:
    """Confirmed participants per rally (the waiting list is not counted)."""
    if not rally_ids:
        return {}
    rows = db.session.execute(
        select(Rsvp.rally_id, func.count())
        .where(Rsvp.rally_id.in_(rally_ids), Rsvp.status == RsvpStatus.CONFIRMED)
        .group_by(Rsvp.rally_id)
    )
    return {rally_id: n for rally_id, n in rows}


def participants(rally: Rally) -> list[Rsvp]:
    """Confirmed participants, then the waiting list, each in order of confirmation."""
    return list(
        db.session.execute(
            select(Rsvp)
            .where(Rsvp.rally_id == rally.id, Rsvp.status != RsvpStatus.PENDING)
            .order_by(Rsvp.status, Rsvp.confirmed_at)
        ).scalars()
    )


def can_manage(organisation: Organisation | None, rally: Rally) -> bool:
    return organisation is not None and any(o.id == organisation.id for o in rally.organisations)


# --- the console: days and rallies the collective's organisers create and edit ------------


def get_day_by_id(day_id: int) -> MobilisationDay | None:
    """None also for ids no column holds, as get_rally."""
    return db.session.get(MobilisationDay, day_id) if 0 < day_id <= _MAX_ID else None


def slug_is_valid(slug: str) -> bool:
    """What a day's address may be: lower-case letters, digits and hyphens (80 at most)."""
    return bool(_SLUG.match(slug))


def slug_taken(slug: str, except_day_id: int | None = None) -> bool:
    query = select(MobilisationDay.id).where(MobilisationDay.slug == slug)
    if except_day_id is not None:
        query = query.where(MobilisationDay.id != except_day_id)
    return db.session.execute(query.limit(1)).first() is not None


def day_slug(title: str, when: date, except_day_id: int | None = None) -> str:
    """« Journée pour l’école » on 15/05/2026 -> journee-pour-l-ecole-2026-05-15, with -2,
    -3… when taken. The date keeps next year's day of the same name apart."""
    # 64 + 11 for the date leaves room for a « -999 » within the column's 80.
    stem = re.sub(r"[^a-z0-9]+", "-", fold(title))[:64].strip("-") or "journee"
    base = f"{stem}-{when:%Y-%m-%d}"
    slug, n = base, 2
    while slug_taken(slug, except_day_id):
        slug, n = f"{base}-{n}", n + 1
    return slug


def create_day(
    collective: Collective, title: str, when: date, presentation: str = "", slug: str = ""
) -> MobilisationDay:
    """A new mobilisation day; its address is made from the title and date unless given."""
    day = MobilisationDay(
        collective=collective,
        slug=slug or day_slug(title, when),
        title=title.strip(),
        date=when,
        presentation=presentation.strip(),
    )
    db.session.add(day)
    db.session.flush()
    return day


def update_day(
    day: MobilisationDay, title: str, when: date, presentation: str, slug: str = ""
) -> int:
    """Edit a day (an empty slug keeps its address). Its rallies that were on its old date
    move with it; how many moved. Nobody is emailed: there is no « change » email."""
    moved = 0
    if when != day.date:
        for rally in day.rallies:
            if rally.date == day.date:
                rally.date = when
                moved += 1
    day.title = title.strip()
    day.date = when
    day.presentation = presentation.strip()
    if slug:
        day.slug = slug
    db.session.flush()
    return moved


class DayCancelledError(Exception):
    """The day was cancelled already (another organiser, another tab)."""


def cancel_day(day: MobilisationDay, by: str, reason: str) -> list[Rally]:
    """The day stays visible, marked cancelled with its reason; each of its published rallies
    is cancelled through cancel(), so its participants are emailed. The rallies cancelled."""
    if day.cancelled_at is not None:
        raise DayCancelledError(day.id)
    day.cancelled_at = utcnow()
    day.cancel_reason = reason.strip()
    cancelled = [rally for rally in day.rallies if cancel(rally, by, reason)]
    db.session.flush()
    return cancelled


def rally_counts_by_day(day_ids: list[int]) -> dict[int, dict[RallyStatus, int]]:
    """For each day, how many rallies it has in each status."""
    counts: dict[int, dict[RallyStatus, int]] = {day_id: {} for day_id in day_ids}
    if not day_ids:
        return counts
    rows = db.session.execute(
        select(Rally.day_id, Rally.status, func.count())
        .where(Rally.day_id.in_(day_ids))
        .group_by(Rally.day_id, Rally.status)
    )
    for day_id, status, n in rows:
        counts[day_id][RallyStatus(status)] = n
    return counts


def rallies_of_day(day: MobilisationDay) -> list[Rally]:
    """Every rally of a day, whatever its status, by city (the console's list)."""
    return list(
        db.session.execute(
            select(Rally)
            .where(Rally.day_id == day.id)
            .options(selectinload(Rally.organisations))
            .order_by(Rally.city, Rally.id)
        ).scalars()
    )


def approved_organisations(collective: Collective) -> list[Organisation]:
    """The members a rally can be held by: approved, listed in the directory or not."""
    return list(
        db.session.execute(
            select(Organisation)
            .where(
                Organisation.collective_id == collective.id,
                Organisation.status == OrganisationStatus.APPROVED,
            )
            .order_by(Organisation.name_key)
        ).scalars()
    )


def publish_from_console(data: RallyInput, by: str, holder: Organisation | None = None) -> Rally:
    """A rally the collective's organisers add: published at once, decided by them."""
    rally = create_rally(data, RallyStatus.PUBLISHED, [holder] if holder else [])
    rally.decided_by = by
    rally.decided_at = utcnow()
    db.session.flush()
    return rally


def holder_of(rally: Rally) -> Organisation | None:
    """The organisation the console shows as holding the rally: its first one."""
    return rally.organisations[0] if rally.organisations else None


def update_from_console(rally: Rally, data: RallyInput, holder: Organisation | None) -> int:
    """Edit any rally from the console (its status does not change). A new holder takes
    the place of the one before; co-organisers stay. More places move the waiting list
    up (each person promoted is emailed); how many were promoted."""
    update_rally(rally, data)
    before = holder_of(rally)
    if (holder.id if holder else None) != (before.id if before else None):
        others = [o for o in rally.organisations[1:] if holder is None or o.id != holder.id]
        rally.organisations = ([holder] if holder else []) + others
    promoted = 0
    while rsvp.promote_waiting(rally.id):
        promoted += 1
    db.session.flush()
    return promoted
