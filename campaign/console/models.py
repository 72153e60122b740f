"""The organisers' accounts, their sessions and sign-in throttles, and paper signatures.

The audit log of what they read (AuditEntry) lives in core/audit.py, re-exported here.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.core import crypto
from campaign.core.audit import AuditEntry as AuditEntry  # re-exported: it lives in core
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
    # The TOTP seed, Fernet-encrypted with TOTP_KEY (core/crypto.py): read `totp_secret`.
    totp_ciphertext: Mapped[str | None] = mapped_column("totp_secret", String(255))
    totp_last_step: Mapped[int] = mapped_column(default=0)  # a code works once
    # Bumped by « log out everywhere » and by a password change: older sessions end.
    session_epoch: Mapped[int] = mapped_column(default=0)
    invite_nonce: Mapped[str | None] = mapped_column(String(32))  # the invitation, until used
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation | None] = relationship()

    @property
    def has_totp(self) -> bool:
        return self.totp_ciphertext is not None

    @property
    def totp_secret(self) -> str | None:
        return crypto.decrypt(self.totp_ciphertext) if self.totp_ciphertext else None

    @totp_secret.setter
    def totp_secret(self, secret: str | None) -> None:
        self.totp_ciphertext = crypto.encrypt(secret) if secret else None

    @property
    def needs_totp(self) -> bool:
        return self.role is Role.ADMIN or self.has_totp


class ConsoleSession(db.Model):
    """A signed-in browser, kept server-side: signing out deletes it, so a copied cookie
    is worth nothing afterwards. The cookie holds a random token; only its SHA-256 is here."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    organiser_id: Mapped[int] = mapped_column(
        ForeignKey("organisers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignInThrottle(db.Model):
    """Failed sign-ins of one account from one client network. Keyed on both, so that a
    stranger's failures slow the stranger down and never lock the owner out."""

    __tablename__ = "sign_in_throttles"

    organiser_id: Mapped[int] = mapped_column(
        ForeignKey("organisers.id", ondelete="CASCADE"), primary_key=True
    )
    # HMAC of the client network (IPv4 address, IPv6 /64): no address is stored in clear.
    network_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
