"""The organisers' accounts, what they read of personal data, and paper signatures."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.core.db import UTCDateTime, str_enum, utcnow
from campaign.extensions import db
from campaign.organisations.models import Organisation
from campaign.petition.models import Petition


class Role(enum.StrEnum):
    ADMIN = "admin"  # everything, accounts and the signatories' list included
    ORGANISER = "organiser"  # moderation, counts, exports of counts
    RALLY_ORGANISER = "rally_organiser"  # the RSVPs of their organisation's rallies


ROLE_LABELS = {
    Role.ADMIN: "Administrateur",
    Role.ORGANISER: "Organisateur",
    Role.RALLY_ORGANISER: "Organisateur de rassemblement",
}


class Organiser(db.Model):
    """A person who signs in to the console. Created by invitation only."""

    __tablename__ = "organisers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # canonical, lower case
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role, "organiser_role"))
    # A rally organiser sees the rallies of this member organisation.
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None until invited sets it
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int] = mapped_column(default=0)  # a code works once
    # Bumped by « log out everywhere » and by a password change: older sessions end.
    session_epoch: Mapped[int] = mapped_column(default=0)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invite_nonce: Mapped[str | None] = mapped_column(String(32))  # the invitation, until used
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation | None] = relationship()

    @property
    def needs_totp(self) -> bool:
        return self.role is Role.ADMIN or self.totp_secret is not None


class AuditEntry(db.Model):
    """Every export and every view of personal data: who, when, what, how many rows."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organiser_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL"), index=True
    )
    who: Mapped[str] = mapped_column(String(300))  # kept if the account is deleted
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(60))  # export.signatories.csv, view.rsvps, …
    what: Mapped[str] = mapped_column(Text, default="")
    rows: Mapped[int | None]


class PaperSignatures(db.Model):
    """Signatures collected on paper, added by an organiser as a count."""

    __tablename__ = "paper_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    petition_id: Mapped[int] = mapped_column(
        ForeignKey("petitions.id", ondelete="CASCADE"), index=True
    )
    count: Mapped[int]
    collected_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    petition: Mapped[Petition] = relationship()
