"""Mobilisation days, their rallies in the cities, and the people who say they will come."""

from __future__ import annotations

import enum
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.content.models import Collective
from campaign.core.db import UTCDateTime, str_enum, utcnow
from campaign.extensions import db
from campaign.organisations.models import Organisation

PARIS = ZoneInfo("Europe/Paris")


def today() -> date:
    """Rallies are French: a day is over at midnight in Paris."""
    return datetime.now(PARIS).date()


class MobilisationDay(db.Model):
    """A national day the collective calls, with rallies in several cities."""

    __tablename__ = "mobilisation_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    collective_id: Mapped[int] = mapped_column(ForeignKey("collectives.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    date: Mapped[date] = mapped_column(Date, index=True)
    presentation: Mapped[str] = mapped_column(Text, default="")
    # A cancelled day stays visible, marked so, with its reason; its rallies are cancelled.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    collective: Mapped[Collective] = relationship()
    rallies: Mapped[list[Rally]] = relationship(
        back_populates="day", order_by="Rally.city", cascade="all, delete-orphan"
    )


class RallyStatus(enum.StrEnum):
    PROPOSED = "proposed"  # by a member organisation, waiting for the organisers
    PUBLISHED = "published"
    REFUSED = "refused"  # never shown
    CANCELLED = "cancelled"  # stays visible, marked as cancelled
    # "past" is not stored: a published rally is past once its day is over (Rally.state).


VISIBLE = (RallyStatus.PUBLISHED, RallyStatus.CANCELLED)


def state_of(status: RallyStatus, when: date, today: date) -> str:
    """proposed, published, refused, cancelled, or past (published and over)."""
    return "past" if status is RallyStatus.PUBLISHED and when < today else status.value


rally_organisations = Table(
    "rally_organisations",
    db.metadata,
    Column("rally_id", ForeignKey("rallies.id", ondelete="CASCADE"), primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
)


class Rally(db.Model):
    """A rally in one city on a mobilisation day. Times are French local time."""

    __tablename__ = "rallies"
    __table_args__ = (
        # The finder asks for visible rallies in a latitude band and filters the rest from
        # the index alone (it holds every column the search reads).
        Index("ix_rallies_finder", "status", "latitude", "longitude", "date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    day_id: Mapped[int] = mapped_column(
        ForeignKey("mobilisation_days.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[RallyStatus] = mapped_column(
        str_enum(RallyStatus, "rally_status"), default=RallyStatus.PROPOSED
    )
    city: Mapped[str] = mapped_column(String(120))  # as shown: « Lyon »
    commune_insee: Mapped[str] = mapped_column(String(5))
    departement: Mapped[str] = mapped_column(String(3), index=True)
    venue: Mapped[str] = mapped_column(String(200), default="")  # "" = à préciser
    address: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    date: Mapped[date] = mapped_column(Date, index=True)
    start_time: Mapped[time | None] = mapped_column(Time)  # None = à préciser
    end_time: Mapped[time | None] = mapped_column(Time)
    description: Mapped[str] = mapped_column(Text, default="")
    directions: Mapped[str] = mapped_column(Text, default="")  # how to get there
    accessibility: Mapped[str] = mapped_column(Text, default="")
    contact_name: Mapped[str] = mapped_column(String(200), default="")  # public
    contact_email: Mapped[str] = mapped_column(String(254), default="")  # public
    capacity: Mapped[int | None]  # None: no limit
    proposed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_note: Mapped[str] = mapped_column(Text, default="")  # refusal or cancellation reason
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    day: Mapped[MobilisationDay] = relationship(back_populates="rallies")
    organisations: Mapped[list[Organisation]] = relationship(
        secondary=rally_organisations, order_by=Organisation.name
    )
    proposed_by: Mapped[Organisation | None] = relationship()

    def starts_at(self) -> datetime:
        """Local start (midnight when the time is still to be set)."""
        return datetime.combine(self.date, self.start_time or time(0), PARIS)

    def ends_at(self) -> datetime:
        """Local end: the end time, else two hours after the start, within the day."""
        last = datetime.combine(self.date, time(23, 59), PARIS)
        if self.end_time:
            return datetime.combine(self.date, self.end_time, PARIS)
        if self.start_time:
            return min(last, self.starts_at() + timedelta(hours=2))
        return last

    def state(self, today: date) -> str:
        return state_of(self.status, self.date, today)

    def is_full(self, confirmed: int) -> bool:
        return self.capacity is not None and confirmed >= self.capacity


class RsvpStatus(enum.StrEnum):
    PENDING = "pending"  # email not confirmed yet
    CONFIRMED = "confirmed"  # counted on the page
    WAITLISTED = "waitlisted"  # confirmed while the rally was full: next in line


class Rsvp(db.Model):
    """« J'y serai »: one person for one rally, counted once confirmed by email."""

    __tablename__ = "rsvps"
    __table_args__ = (
        UniqueConstraint("rally_id", "email_canonical"),
        Index("ix_rsvps_rally_status", "rally_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rally_id: Mapped[int] = mapped_column(ForeignKey("rallies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    email_canonical: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    consent_version: Mapped[str] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(64))  # ?source= (a printed QR code…)
    status: Mapped[RsvpStatus] = mapped_column(
        str_enum(RsvpStatus, "rsvp_status"), default=RsvpStatus.PENDING
    )
    token_nonce: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    emails_sent: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    rally: Mapped[Rally] = relationship()
