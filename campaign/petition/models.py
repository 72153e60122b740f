"""Petitions, their signatures and the ledger that keeps counts exact without a hot row."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.content.models import Collective, Demand
from campaign.core.db import UTCDateTime, utcnow
from campaign.extensions import db


class PetitionStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


petition_demands = Table(
    "petition_demands",
    db.metadata,
    Column("petition_id", ForeignKey("petitions.id", ondelete="CASCADE"), primary_key=True),
    Column("demand_id", ForeignKey("demands.id", ondelete="CASCADE"), primary_key=True),
)


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    collective: Mapped[Collective] = relationship()
    demands: Mapped[list[Demand]] = relationship(
        secondary=petition_demands, order_by=Demand.position
    )

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
    if status is PetitionStatus.CLOSED or (closes_at and now >= closes_at):
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
