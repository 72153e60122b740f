"""Member organisations of the collective, and the organisers' decisions about them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.content.models import Collective
from campaign.core.db import UTCDateTime, str_enum, utcnow
from campaign.extensions import db

NATIONAL = "national"  # the département of an organisation that acts across France


class OrganisationKind(enum.StrEnum):
    ASSOCIATION = "association"
    FEDERATION = "federation"
    INSTITUTION = "institution"
    SYNDICAT = "syndicat"
    COLLECTIF = "collectif"
    AUTRE = "autre"


class OrganisationStatus(enum.StrEnum):
    UNCONFIRMED = "unconfirmed"  # applied; the contact email is not confirmed yet
    PENDING = "pending"  # email confirmed: waiting for the organisers
    APPROVED = "approved"  # a member: may appear in the directory
    REJECTED = "rejected"


class Organisation(db.Model):
    """An organisation that applied to join the collective."""

    __tablename__ = "organisations"
    __table_args__ = (
        # The same organisation cannot apply twice: same name (folded) in the same place.
        UniqueConstraint("collective_id", "name_key", "departement"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    collective_id: Mapped[int] = mapped_column(ForeignKey("collectives.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))  # folded name, for duplicates
    kind: Mapped[OrganisationKind] = mapped_column(str_enum(OrganisationKind, "organisation_kind"))
    identifier: Mapped[str | None] = mapped_column(String(10), unique=True)  # SIREN or RNA
    website: Mapped[str] = mapped_column(String(300), default="")
    departement: Mapped[str] = mapped_column(String(8), default=NATIONAL)  # or NATIONAL
    presentation: Mapped[str] = mapped_column(Text, default="")
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    logo_filename: Mapped[str | None] = mapped_column(String(64))  # random name, outside static/
    listed: Mapped[bool] = mapped_column(default=False)  # agreed to appear in the directory
    shares_demands_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it ticked the box
    status: Mapped[OrganisationStatus] = mapped_column(
        str_enum(OrganisationStatus, "organisation_status"),
        default=OrganisationStatus.UNCONFIRMED,
        index=True,
    )
    referral_code: Mapped[str] = mapped_column(String(16), unique=True)  # ?org= on links
    token_nonce: Mapped[str] = mapped_column(String(32))  # email and magic links, tokens.py
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    collective: Mapped[Collective] = relationship()
    decisions: Mapped[list[ModerationDecision]] = relationship(
        back_populates="organisation",
        order_by="ModerationDecision.decided_at",
        cascade="all, delete-orphan",
    )


class ModerationDecision(db.Model):
    """Who approved or rejected an organisation, when, and why: kept for good."""

    __tablename__ = "moderation_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[OrganisationStatus] = mapped_column(
        str_enum(OrganisationStatus, "organisation_status")
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(200))  # the organiser (accounts: console)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="decisions")
