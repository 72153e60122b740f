"""Days and rallies: creating, proposing, deciding, cancelling, reading. Flush, never commit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from campaign.content.models import Collective
from campaign.core.db import utcnow
from campaign.core.mail import queue_mail
from campaign.core.queue import defer
from campaign.core.ttlcache import TTLCache
from campaign.core.urls import public_url_for
from campaign.extensions import db
from campaign.organisations.models import Organisation
from campaign.places.gazetteer import Commune
from campaign.rallies import tasks
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
    db.session.flush()
    defer(tasks.tell_participants_cancelled, rally.id)
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
