"""« J'y serai »: register, confirm by email, cancel, and the waiting list.

Registering works like signing (see petition/services.py): every request does the same
INSERT … ON CONFLICT and queues the same job, and the worker decides what the mailbox
receives, so the page never tells a stranger whether an address has registered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select, update

from campaign.core import outbox
from campaign.core.db import delete_by_token, utcnow
from campaign.core.emails import canonical_email
from campaign.core.mail import MailPayload, queue_mail, render_mail
from campaign.core.tokens import hash_token, new_nonce, token_for
from campaign.core.urls import public_url_for
from campaign.extensions import db
from campaign.petition.consent import CURRENT_CONSENT_VERSION
from campaign.rallies.models import Rally, RallyStatus, Rsvp, RsvpStatus, today

NOTICE = "rallies.notice"  # the outbox kind of the mail an « J'y serai » asks for
TOKEN_PURPOSE = "rsvp"  # noqa: S105 (a label mixed into the HMAC, not a secret)  # nosec B105
MAX_EMAILS = 4  # per link lifetime, as for signatures


class RallyClosedError(Exception):
    """The rally is cancelled, past, or not published."""


@dataclass(frozen=True)
class RsvpInput:
    name: str
    email: str
    phone: str | None = None
    source: str | None = None
    consent_version: str = CURRENT_CONSENT_VERSION


def takes_rsvps(rally: Rally) -> bool:
    return rally.status is RallyStatus.PUBLISHED and rally.date >= today()


def _token(rsvp: Rsvp) -> str:
    return token_for(rsvp.token_nonce, TOKEN_PURPOSE)


def register(rally: Rally, data: RsvpInput, now: datetime | None = None) -> None:
    if not takes_rsvps(rally):
        raise RallyClosedError(rally.id)
    now = now or utcnow()
    canonical = canonical_email(data.email)
    nonce = new_nonce()
    outbox.insert_ignoring_with_mail(
        Rsvp.__table__,
        ("rally_id", "email_canonical"),
        {
            "rally_id": rally.id,
            "name": data.name,
            "email": data.email,
            "email_canonical": canonical,
            "phone": data.phone or None,
            "consent_version": data.consent_version,
            "source": data.source,
            "status": RsvpStatus.PENDING.value,
            "token_nonce": nonce,
            "token_hash": hash_token(token_for(nonce, TOKEN_PURPOSE)),
            "token_expires_at": now + timedelta(hours=current_app.config["CONFIRMATION_TTL_HOURS"]),
            "emails_sent": 0,
            "created_at": now,
        },
        NOTICE,
        {"rally_id": rally.id, "email": canonical},
        f"{rally.id}:{canonical}"[:400],
    )


def notice(
    rally_id: int, email_canonical: str, now: datetime | None = None
) -> tuple[str, MailPayload | None]:
    """Run by the worker: the confirmation link, or « already registered », or nothing; the
    allowance taken here commits only with the sent mail (core/outbox.py)."""
    now = now or utcnow()
    rsvp = db.session.execute(
        select(Rsvp).where(Rsvp.rally_id == rally_id, Rsvp.email_canonical == email_canonical)
    ).scalar_one_or_none()
    if rsvp is None or not takes_rsvps(rsvp.rally):
        return "none", None
    pending = rsvp.status is RsvpStatus.PENDING
    expired = pending and rsvp.token_expires_at <= now
    # The conditional UPDATE takes one email of the allowance; two racing jobs can't both.
    allowance = [] if expired else [Rsvp.emails_sent < MAX_EMAILS]
    claimed = db.session.execute(
        update(Rsvp)
        .where(Rsvp.id == rsvp.id, *allowance)
        .values(
            emails_sent=1 if expired else Rsvp.emails_sent + 1,
            token_expires_at=now + timedelta(hours=current_app.config["CONFIRMATION_TTL_HOURS"])
            if pending
            else rsvp.token_expires_at,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return "none", None
    rally = rsvp.rally
    links = {
        "rsvp": rsvp,
        "rally": rally,
        "rally_url": public_url_for("rallies.show", rally_id=rally.id),
        "cancel_url": public_url_for("rallies.cancel_rsvp", token=_token(rsvp)),
    }
    if pending:
        return "confirmation", render_mail(
            rsvp.email,
            f"Confirmez votre venue : rassemblement à {rally.city}",
            "rallies/confirm_rsvp",
            confirm_url=public_url_for("rallies.confirm_rsvp", token=_token(rsvp)),
            **links,
        )
    return "already", render_mail(
        rsvp.email, f"Vous êtes déjà inscrit·e : {rally.city}", "rallies/already", **links
    )


class ConfirmStatus(enum.Enum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"  # confirmed, but the rally was full
    ALREADY = "already"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    CLOSED = "closed"


def find_by_token(token: str) -> Rsvp | None:
    if not token or len(token) > 100:
        return None
    return db.session.execute(
        select(Rsvp).where(Rsvp.token_hash == hash_token(token))
    ).scalar_one_or_none()


def _lock_rally(rally_id: int) -> Rally:
    """Confirmations of one rally queue here, so two last places are not both taken."""
    return db.session.execute(
        select(Rally).where(Rally.id == rally_id).with_for_update()
    ).scalar_one()


def confirmed_count(rally_id: int) -> int:
    return db.session.execute(
        select(func.count()).where(Rsvp.rally_id == rally_id, Rsvp.status == RsvpStatus.CONFIRMED)
    ).scalar_one()


def confirm(token: str, now: datetime | None = None) -> tuple[ConfirmStatus, Rsvp | None]:
    """Confirm the RSVP behind a link; idempotent. Full rallies put it on the waiting list."""
    now = now or utcnow()
    rsvp = find_by_token(token)
    if rsvp is None:
        return ConfirmStatus.UNKNOWN, None
    if rsvp.status is not RsvpStatus.PENDING:
        return ConfirmStatus.ALREADY, rsvp
    if rsvp.token_expires_at <= now:
        return ConfirmStatus.EXPIRED, rsvp
    if not takes_rsvps(rsvp.rally):
        return ConfirmStatus.CLOSED, rsvp
    rally = _lock_rally(rsvp.rally_id)
    full = rally.is_full(confirmed_count(rally.id))
    status = RsvpStatus.WAITLISTED if full else RsvpStatus.CONFIRMED
    claimed = db.session.execute(
        update(Rsvp)
        .where(Rsvp.id == rsvp.id, Rsvp.status == RsvpStatus.PENDING)
        .values(status=status, confirmed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(rsvp)
    if claimed != 1:
        return ConfirmStatus.ALREADY, rsvp
    return (ConfirmStatus.WAITLISTED if full else ConfirmStatus.CONFIRMED), rsvp


def cancel(token: str) -> Rally | None:
    """Delete the RSVP behind a link; a freed place goes to the first on the waiting list."""
    deleted = delete_by_token(Rsvp, token, Rsvp.rally_id, Rsvp.status)
    if deleted is None:
        return None
    rally_id, status = deleted
    if RsvpStatus(status) is RsvpStatus.CONFIRMED:
        promote_waiting(rally_id)
    return db.session.get(Rally, rally_id)


def promote_waiting(rally_id: int) -> Rsvp | None:
    """Give a free place to the person who has waited longest, and tell them."""
    rally = _lock_rally(rally_id)
    # A past or cancelled rally has no place to offer.
    if not takes_rsvps(rally) or rally.is_full(confirmed_count(rally_id)):
        return None
    first = db.session.execute(
        select(Rsvp)
        .where(Rsvp.rally_id == rally_id, Rsvp.status == RsvpStatus.WAITLISTED)
        .order_by(Rsvp.confirmed_at, Rsvp.id)
        .limit(1)
    ).scalar_one_or_none()
    if first is None:
        return None
    first.status = RsvpStatus.CONFIRMED
    queue_mail(
        first.email,
        f"Une place s’est libérée : rassemblement à {rally.city}",
        "rallies/promoted",
        rsvp=first,
        rally=rally,
        rally_url=public_url_for("rallies.show", rally_id=rally.id),
        cancel_url=public_url_for("rallies.cancel_rsvp", token=_token(first)),
    )
    db.session.flush()
    return first


def purge_unconfirmed(older_than: timedelta, now: datetime | None = None) -> int:
    """Delete pending RSVPs whose link expired long ago, as for signatures."""
    cutoff = (now or utcnow()) - older_than
    return db.session.execute(
        delete(Rsvp)
        .where(Rsvp.status == RsvpStatus.PENDING, Rsvp.token_expires_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
