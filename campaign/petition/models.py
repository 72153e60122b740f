"""Petitions, their signatures and the ledger that keeps counts exact without a hot row."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.ext.orderinglist import ordering_list
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.content.models import Collective, Demand
from campaign.core.db import UTCDateTime, utcnow
from campaign.extensions import db


class PetitionStatus(enum.StrEnum):
    """draft → open → closed → handed_over (see petition/lifecycle.py for the legal steps)."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    HANDED_OVER = "handed_over"  # given to its addressee: a date and a note


class PetitionDemand(db.Model):
    """A demand a petition carries, at its place in the petition's own order."""

    __tablename__ = "petition_demands"

    petition_id: Mapped[int] = mapped_column(
        ForeignKey("petitions.id", ondelete="CASCADE"), primary_key=True
    )
    demand_id: Mapped[int] = mapped_column(
        ForeignKey("demands.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(default=0, server_default="0")  # 0-based

    demand: Mapped[Demand] = relationship(lazy="joined")


class Petition(db.Model):
    __tablename__ = "petitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    collective_id: Mapped[int] = mapped_column(ForeignKey("collectives.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    addressee: Mapped[str] = mapped_column(String(300))  # to whom it is handed over
    summary: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text)  # paragraphs split by blank lines
    call_to_action: Mapped[str] = mapped_column(String(120), default="Signez maintenant")
    target: Mapped[int] = mapped_column(default=0)  # signatures aimed for; 0 hides the bar
    status: Mapped[PetitionStatus] = mapped_column(
        Enum(
            PetitionStatus, name="petition_status", values_callable=lambda e: [m.value for m in e]
        ),
        default=PetitionStatus.DRAFT,
    )
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Confirmed signatures rolled up from the ledger; see counting.py. Never bumped per signature.
    signature_count: Mapped[int] = mapped_column(default=0)
    # Signatures collected on paper, added as counts by organisers (console PaperSignatures).
    paper_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # The version of the text and demands being signed; from the first signature on a
    # correction makes a new one (PetitionVersion) instead of editing in place.
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # A relayed petition is signed on an official platform: its page and QR codes send
    # visitors there through /p/<slug>/signer-officiel, which counts them (RelayClick).
    official_url: Mapped[str | None] = mapped_column(String(500))
    handed_over_on: Mapped[date | None] = mapped_column(Date)
    handover_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=func.current_timestamp()
    )

    collective: Mapped[Collective] = relationship()
    demand_links: Mapped[list[PetitionDemand]] = relationship(
        order_by=PetitionDemand.position,
        collection_class=ordering_list("position"),
        cascade="all, delete-orphan",
    )
    # The demands in the petition's order; assigning a list sets the order.
    demands: AssociationProxy[list[Demand]] = association_proxy(
        "demand_links", "demand", creator=lambda demand: PetitionDemand(demand=demand)
    )
    versions: Mapped[list[PetitionVersion]] = relationship(
        back_populates="petition",
        order_by="PetitionVersion.number",
        cascade="all, delete-orphan",
    )
    status_changes: Mapped[list[PetitionStatusChange]] = relationship(
        back_populates="petition",
        order_by="PetitionStatusChange.at",
        cascade="all, delete-orphan",
    )

    @property
    def is_relayed(self) -> bool:
        return bool(self.official_url)

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.text.split("\n\n") if p.strip()]

    def is_open(self, now: datetime | None = None) -> bool:
        return self.phase(now) == "open"

    def phase(self, now: datetime | None = None) -> str:
        return phase_of(self.status, self.opens_at, self.closes_at, now)


def phase_of(
    status: PetitionStatus,
    opens_at: datetime | None,
    closes_at: datetime | None,
    now: datetime | None = None,
) -> str:
    """'upcoming', 'open' or 'closed' for the public (a draft is never shown)."""
    now = now or utcnow()
    if status in (PetitionStatus.CLOSED, PetitionStatus.HANDED_OVER) or (
        closes_at and now >= closes_at
    ):
        return "closed"
    if status is PetitionStatus.DRAFT or (opens_at and now < opens_at):
        return "upcoming"
    return "open"


class Signature(db.Model):
    """One person's signature. It counts only once confirmed through the emailed link."""

    __tablename__ = "signatures"
    __table_args__ = (
        # One signature per mailbox per petition, enforced by the database itself.
        UniqueConstraint("petition_id", "email_canonical"),
        Index("ix_signatures_petition_confirmed", "petition_id", "confirmed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))  # as typed, where mail is sent
    email_canonical: Mapped[str] = mapped_column(String(254))  # see core/emails.py
    country: Mapped[str] = mapped_column(String(2), default="FR")  # ISO 3166-1 alpha-2
    postcode: Mapped[str | None] = mapped_column(String(12))
    departement: Mapped[str | None] = mapped_column(String(3), index=True)  # from the postcode
    consent_version: Mapped[str] = mapped_column(String(40))  # wording agreed to, see consent.py
    optin_collective: Mapped[bool] = mapped_column(default=False)  # hear from the collective
    source: Mapped[str | None] = mapped_column(String(64), index=True)  # ?source= / utm_source
    referrer_data: Mapped[dict[str, str] | None] = mapped_column(db.JSON)  # other utm_* tags
    # The member organisation whose referral link brought the signer (?org=<referral code>).
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    # The rally page the signer came from (its « Signer la pétition » link).
    rally_id: Mapped[int | None] = mapped_column(
        ForeignKey("rallies.id", ondelete="SET NULL"), index=True
    )
    token_nonce: Mapped[str] = mapped_column(String(32))  # the link is an HMAC of it, tokens.py
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the link token
    token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Emails sent about this signature (confirmation, reminders, "already signed").
    emails_sent: Mapped[int] = mapped_column(Integer, default=0)
    # Petition.version when the person signed: which text they agreed to.
    petition_version: Mapped[int] = mapped_column(default=1, server_default="1")

    petition: Mapped[Petition] = relationship()


class SignatureCountDelta(db.Model):
    """Append-only ledger of count changes, folded into Petition.signature_count in batches.

    A confirmation inserts a row here instead of updating the petition, so thousands of
    confirmations a minute never queue on one row lock.
    """

    __tablename__ = "signature_count_deltas"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(
        ForeignKey("petitions.id", ondelete="CASCADE"), index=True
    )
    delta: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PetitionVersion(db.Model):
    """A text a petition was signed on, kept readable once corrected.

    Version 1 is written when the first correction is made (the text as it was); each
    correction adds the new text with its reason."""

    __tablename__ = "petition_versions"
    __table_args__ = (UniqueConstraint("petition_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text)
    # The demands as they read then: [{"title": …, "text": …}, …], in order.
    demands: Mapped[list[dict[str, str]]] = mapped_column(db.JSON, default=list)
    reason: Mapped[str] = mapped_column(Text, default="")  # « motif » of the correction
    created_by: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    petition: Mapped[Petition] = relationship(back_populates="versions")


class PetitionStatusChange(db.Model):
    """Each lifecycle step, shown on the public page: who, when, from what to what."""

    __tablename__ = "petition_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(
        ForeignKey("petitions.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    by: Mapped[str] = mapped_column(String(300))  # the organiser, or « automatique » (dates)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    petition: Mapped[Petition] = relationship(back_populates="status_changes")


class OfficialCount(db.Model):
    """A relayed petition's count on its official platform, entered by hand and dated."""

    __tablename__ = "petition_official_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(
        ForeignKey("petitions.id", ondelete="CASCADE"), index=True
    )
    count: Mapped[int]
    counted_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    petition: Mapped[Petition] = relationship()


class RelayClick(db.Model):
    """One visitor sent on to a relayed petition's official platform (a scan or a click),
    with what brought them: counted per source, member organisation and rally."""

    __tablename__ = "relay_clicks"
    __table_args__ = (Index("ix_relay_clicks_petition_at", "petition_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"))
    source: Mapped[str | None] = mapped_column(String(64))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    rally_id: Mapped[int | None] = mapped_column(ForeignKey("rallies.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
