"""The audit log: every export and every view of personal data, wherever it happens.

The console records its signed-in organiser (console/auth.py `audit`); a member
organisation's space, where no organiser is signed in, records the organisation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaign.core.db import UTCDateTime, utcnow
from campaign.extensions import db

WHO_LENGTH = 300
ACTION_LENGTH = 60
WHAT_LENGTH = 2000


class AuditEntry(db.Model):
    """Every export and every view of personal data: who, when, what, how many rows."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organiser_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL"), index=True
    )
    who: Mapped[str] = mapped_column(String(WHO_LENGTH))  # kept if the account is deleted
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(ACTION_LENGTH))  # export.signatories.csv, …
    what: Mapped[str] = mapped_column(Text, default="")
    rows: Mapped[int | None]


def record(
    who: str, action: str, what: str = "", rows: int | None = None, organiser_id: int | None = None
) -> AuditEntry:
    """Add an entry to the caller's transaction (the caller commits, before any byte of the
    data goes out). `organiser_id` is the console account, None for anyone else."""
    entry = AuditEntry(
        organiser_id=organiser_id,
        who=who[:WHO_LENGTH],
        action=action[:ACTION_LENGTH],
        what=what[:WHAT_LENGTH],
        rows=rows,
    )
    db.session.add(entry)
    return entry
