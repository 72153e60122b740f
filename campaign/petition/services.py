"""Signing and confirming. Services take plain values, flush but never commit."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from prometheus_client import Counter
from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from campaign.core import outbox
from campaign.core.db import delete_by_token, utcnow
from campaign.core.emails import canonical_email
from campaign.core.geo import departement_for_postcode
from campaign.core.mail import MailPayload, render_mail
from campaign.core.tokens import hash_token, new_nonce, token_for
from campaign.core.ttlcache import TTLCache
from campaign.core.urls import public_url_for
from campaign.extensions import db
from campaign.organisations.services import referring_organisation_id
from campaign.petition import counting
from campaign.petition.consent import CURRENT_CONSENT_VERSION
from campaign.petition.models import (
    OfficialCount,
    Petition,
    PetitionStatus,
    PetitionVersion,
    Signature,
    phase_of,
)
from campaign.rallies.services import visible_rally_id

NOTICE = "petition.notice"  # the outbox kind of the mail a signing or a resend asks for
TOKEN_PURPOSE = "signature-confirm"  # noqa: S105 (a label mixed into the HMAC, not a secret)  # nosec B105
# At most this many emails about one signature (per link lifetime): enough to help a
# person who lost the first, too few to turn the form into a way of mailing someone.
MAX_EMAILS = 4


# Per process (summed across a host's processes by /metrics): signing forms accepted,
# duplicates included (they look the same on purpose), and links confirmed.
SIGNATURES = Counter("campaign_signatures", "Signings accepted and confirmed", ["event"])


class PetitionClosedError(Exception):
    """The petition does not take signatures (draft, closed, not yet open, past its date)."""


@dataclass(frozen=True)
class SignatureInput:
    first_name: str
    last_name: str
    email: str
    country: str = "FR"
    postcode: str | None = None
    optin_collective: bool = False
    source: str | None = None
    referrer_data: dict[str, str] = field(default_factory=dict)
    referral_code: str | None = None  # a member organisation's, from ?org=
    rally_tag: str | None = None  # a rally's id, from ?rassemblement= on its page's link
    consent_version: str = CURRENT_CONSENT_VERSION


class Notice(enum.Enum):
    """What the worker sent a mailbox; the citizen's page is the same whatever it is."""

    CONFIRMATION = "confirmation"  # pending: the confirmation link (the same one each time)
    ALREADY_SIGNED = "already_signed"  # confirmed: "you have already signed"
    NONE = "none"  # never signed, withdrawn, petition closed, or MAX_EMAILS reached


def _expiry(now: datetime) -> datetime:
    return now + timedelta(hours=current_app.config["CONFIRMATION_TTL_HOURS"])


def confirmation_url(signature: Signature) -> str:
    return public_url_for("petition.confirm", token=token_for(signature.token_nonce, TOKEN_PURPOSE))


def withdrawal_url(signature: Signature) -> str:
    """The same secret as the confirmation link: whoever may confirm may also withdraw."""
    return public_url_for(
        "petition.withdraw_form", token=token_for(signature.token_nonce, TOKEN_PURPOSE)
    )


def _claim_email(signature: Signature, now: datetime) -> bool:
    """Take one of the signature's emails, atomically: two racing jobs can't both win.

    A pending signature whose link has expired starts a fresh allowance (and a fresh
    expiry), so a person who used them up, or whose address a stranger typed, can still
    confirm later. The loaded signature gets the new values (no second SELECT).
    """
    pending = Signature.confirmed_at.is_(None)
    expired = and_(pending, Signature.token_expires_at <= now)
    claimed = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, or_(Signature.emails_sent < MAX_EMAILS, expired))
        .values(
            emails_sent=case((expired, 1), else_=Signature.emails_sent + 1),
            token_expires_at=case((pending, _expiry(now)), else_=Signature.token_expires_at),
        )
        .returning(Signature.emails_sent, Signature.token_expires_at)
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is None:
        return False
    set_committed_value(signature, "emails_sent", claimed.emails_sent)
    set_committed_value(signature, "token_expires_at", claimed.token_expires_at)
    return True


@dataclass(frozen=True)
class PetitionRef:
    """What signing needs to know of a petition, cheap to keep for a few seconds."""

    id: int
    slug: str
    status: PetitionStatus
    opens_at: datetime | None
    closes_at: datetime | None
    version: int  # recorded on each signature: the text the signer read
    official_url: str | None = None
    target: int = 0

    @property
    def is_relayed(self) -> bool:
        return bool(self.official_url)

    def phase(self, now: datetime | None = None) -> str:
        return phase_of(self.status, self.opens_at, self.closes_at, now)

    def is_open(self, now: datetime | None = None) -> bool:
        return self.phase(now) == "open"


_refs: TTLCache[PetitionRef] = TTLCache()


def petition_ref(slug: str) -> PetitionRef | None:
    """A public petition's identity and dates, cached PAGE_CACHE_SECONDS per process."""

    def load() -> PetitionRef | None:
        petition = get_petition(slug)
        if petition is None:
            return None
        return PetitionRef(
            petition.id,
            petition.slug,
            petition.status,
            petition.opens_at,
            petition.closes_at,
            petition.version,
            petition.official_url,
            petition.target,
        )

    # As stale as the cached page at most: a signer within those seconds of a correction
    # read, and so records, the text the page still showed.
    return _refs.get_or_compute(slug, current_app.config["PAGE_CACHE_SECONDS"], load)


def forget_cached(slug: str | None = None) -> None:
    """After a petition's status, dates, text or version changed: this process applies
    the change at once (other workers within PAGE_CACHE_SECONDS). The pages showing it
    are emptied by the console's edit itself (core/pagecache.forget_after_edits)."""
    _refs.forget(slug)


def sign(
    petition: Petition | PetitionRef, data: SignatureInput, now: datetime | None = None
) -> None:
    """Record a pending signature, or nothing if this mailbox signed already.

    Either way the request does the same work (one INSERT … ON CONFLICT, one job), and
    the job, in the worker, decides what the mailbox's owner receives: so neither the
    page nor its timing tells a stranger whether an address has signed.
    """
    now = now or utcnow()
    if not petition.is_open(now) or petition.is_relayed:  # relayed: signed elsewhere
        raise PetitionClosedError(petition.slug)
    canonical = canonical_email(data.email)
    nonce = new_nonce()
    outbox.insert_ignoring_with_mail(
        Signature.__table__,
        ("petition_id", "email_canonical"),
        {
            "petition_id": petition.id,
            "first_name": data.first_name,
            "last_name": data.last_name,
            "email": data.email,
            "email_canonical": canonical,
            "country": data.country,
            "postcode": data.postcode or None,
            "departement": departement_for_postcode(data.postcode or "")
            if data.country == "FR"
            else None,
            "consent_version": data.consent_version,
            "optin_collective": data.optin_collective,
            "source": data.source,
            "referrer_data": data.referrer_data or None,
            "organisation_id": referring_organisation_id(data.referral_code),
            "rally_id": visible_rally_id(data.rally_tag),
            "token_nonce": nonce,
            "token_hash": hash_token(token_for(nonce, TOKEN_PURPOSE)),
            "token_expires_at": _expiry(now),
            "created_at": now,
            "emails_sent": 0,
            "petition_version": petition.version,
        },
        NOTICE,
        {"petition_id": petition.id, "email": canonical},
        _notice_key(petition.id, canonical),
    )
    SIGNATURES.labels("accepted").inc()


def _notice_key(petition_id: int, email_canonical: str) -> str:
    return f"{petition_id}:{email_canonical}"[:400]


class Resend(enum.Enum):
    """What « renvoyer l’e-mail » did; the same for an address that signed or not."""

    RECORDED = "recorded"  # a mail is on its way if this address signed
    TOO_MANY = "too_many"  # MAX_EMAILS - 1 resends asked for this address (the signing sent one)
    CLOSED = "closed"  # the petition takes no signatures: nothing to confirm


def resend(petition: Petition | PetitionRef, email: str, now: datetime | None = None) -> Resend:
    """Ask for the signer's email again, within the allowance; the worker decides what is
    sent. The allowance counts requests for the address, signed or not, so the answer
    tells a stranger nothing."""
    now = now or utcnow()
    if not petition.is_open(now) or petition.is_relayed:
        return Resend.CLOSED
    canonical = canonical_email(email)
    # Resends only, under a key of their own: counting the signing's row too would refuse a
    # stranger sooner for an address that signed, and so tell them it did.
    key = "resend:" + _notice_key(petition.id, canonical)
    window = timedelta(hours=current_app.config["CONFIRMATION_TTL_HOURS"])
    if outbox.recorded_since(NOTICE, key[:400], now - window) >= MAX_EMAILS - 1:
        return Resend.TOO_MANY
    outbox.record(NOTICE, {"petition_id": petition.id, "email": canonical}, key[:400])
    return Resend.RECORDED


def notice(
    petition_id: int, email_canonical: str, now: datetime | None = None
) -> tuple[Notice, MailPayload | None]:
    """Run by the worker: the mail that fits the mailbox's owner, within MAX_EMAILS.

    A pending signature gets its confirmation link (always the same link), a confirmed
    one an "already signed" email, an address that never signed nothing at all. The
    allowance taken here commits only with the sent mail (core/outbox.py).
    """
    now = now or utcnow()
    signature = db.session.execute(
        select(Signature)
        # One query: the mail needs all three.
        .options(joinedload(Signature.petition).joinedload(Petition.collective))
        .where(Signature.petition_id == petition_id, Signature.email_canonical == email_canonical)
    ).scalar_one_or_none()
    if signature is None or not signature.petition.is_open(now):
        return Notice.NONE, None
    if not _claim_email(signature, now):
        return Notice.NONE, None
    petition = signature.petition
    links = {
        "signature": signature,
        "petition": petition,
        "petition_url": public_url_for("petition.show", slug=petition.slug),
        "withdraw_url": withdrawal_url(signature),
    }
    if signature.confirmed_at is not None:
        return Notice.ALREADY_SIGNED, render_mail(
            signature.email,
            f"Vous avez déjà signé : {petition.title}",
            "petition/already_signed",
            **links,
        )
    return Notice.CONFIRMATION, render_mail(
        signature.email,
        f"Confirmez votre signature : {petition.title}",
        "petition/confirm",
        confirm_url=confirmation_url(signature),
        ttl_hours=current_app.config["CONFIRMATION_TTL_HOURS"],
        **links,
    )


class ConfirmStatus(enum.Enum):
    CONFIRMED = "confirmed"  # this click confirmed it
    ALREADY = "already"  # confirmed before: a scanner or a second click, no harm done
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    CLOSED = "closed"  # the petition closed before the signature was confirmed


@dataclass(frozen=True)
class ConfirmResult:
    status: ConfirmStatus
    signature: Signature | None = None


def find_by_token(token: str) -> Signature | None:
    if not token or len(token) > 100:
        return None
    return db.session.execute(
        select(Signature)
        .where(Signature.token_hash == hash_token(token))
        .options(joinedload(Signature.petition).joinedload(Petition.collective))
    ).scalar_one_or_none()


def confirm(token: str, now: datetime | None = None) -> ConfirmResult:
    """Confirm the signature behind a link. Idempotent: only the first call counts."""
    now = now or utcnow()
    signature = find_by_token(token)
    if signature is None:
        return ConfirmResult(ConfirmStatus.UNKNOWN)
    if signature.confirmed_at is not None:
        return ConfirmResult(ConfirmStatus.ALREADY, signature)
    if signature.token_expires_at <= now:
        return ConfirmResult(ConfirmStatus.EXPIRED, signature)
    if not signature.petition.is_open(now):
        return ConfirmResult(ConfirmStatus.CLOSED, signature)
    # The WHERE makes two simultaneous clicks count once: only one UPDATE matches.
    claimed = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.confirmed_at.is_(None))
        .values(confirmed_at=now)
        .returning(Signature.confirmed_at)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if claimed is None:
        db.session.refresh(signature)  # the other click's confirmation time
        return ConfirmResult(ConfirmStatus.ALREADY, signature)
    set_committed_value(signature, "confirmed_at", claimed)
    counting.record_change(signature.petition_id, +1)
    counting.forget_cached(signature.petition_id)
    SIGNATURES.labels("confirmed").inc()
    return ConfirmResult(ConfirmStatus.CONFIRMED, signature)


def withdraw(token: str) -> Petition | None:
    """Delete the signature behind a link, for good; returns its petition, or None.

    A confirmed signature leaves the count through a single -1 in the ledger.
    """
    deleted = delete_by_token(Signature, token, Signature.petition_id, Signature.confirmed_at)
    if deleted is None:
        return None
    petition_id, confirmed_at = deleted
    if confirmed_at is not None:
        counting.record_change(petition_id, -1)
        counting.forget_cached(petition_id)
    return db.session.get(Petition, petition_id)


def purge_unconfirmed(older_than: timedelta, now: datetime | None = None) -> int:
    """Delete pending signatures whose link expired long ago: keep no data we won't use."""
    cutoff = (now or utcnow()) - older_than
    result = db.session.execute(
        delete(Signature)
        .where(Signature.confirmed_at.is_(None), Signature.token_expires_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


def get_petition(slug: str, *, include_drafts: bool = False) -> Petition | None:
    if not _SLUG.match(slug):  # also keeps NUL bytes and the like away from the database
        return None
    petition = db.session.execute(
        select(Petition).where(Petition.slug == slug)
    ).scalar_one_or_none()
    if petition is None or (petition.status == "draft" and not include_drafts):
        return None
    return petition


def public_petitions() -> list[Petition]:
    return list(
        db.session.execute(
            select(Petition).where(Petition.status != "draft").order_by(Petition.created_at)
        ).scalars()
    )


# --- the public page: lifecycle, versions, home listing ------------------------------------


def stage(petition: Petition, now: datetime | None = None) -> str:
    """phase() with the hand-over told apart: 'upcoming', 'open', 'closed', 'handed_over'."""
    phase = petition.phase(now)
    if phase == "closed" and petition.status is PetitionStatus.HANDED_OVER:
        return "handed_over"
    return phase


def home_petitions(collective_id: int | None = None, now: datetime | None = None) -> list[Petition]:
    """The public petitions, open ones first (oldest first: the main call leads), then the
    upcoming ones (opening soonest first), then the closed or handed over (latest first)."""
    now = now or utcnow()
    petitions = [
        p for p in public_petitions() if collective_id is None or p.collective_id == collective_id
    ]
    by_phase: dict[str, list[Petition]] = {"open": [], "upcoming": [], "closed": []}
    for petition in petitions:
        by_phase[petition.phase(now)].append(petition)
    far = datetime.max.replace(tzinfo=now.tzinfo)
    by_phase["upcoming"].sort(key=lambda p: p.opens_at or far)
    by_phase["closed"].sort(key=lambda p: _ended_at(p, now), reverse=True)
    return [*by_phase["open"], *by_phase["upcoming"], *by_phase["closed"]]


def _ended_at(petition: Petition, now: datetime) -> datetime:
    if petition.closes_at and petition.closes_at <= now:
        return petition.closes_at
    return petition.updated_at or petition.created_at


def corrections(petition: Petition) -> list[PetitionVersion]:
    """The versions that corrected the text (2 onwards), oldest first, each with its reason."""
    return [v for v in petition.versions if 1 < v.number <= petition.version]


def petition_version(petition: Petition, number: int) -> PetitionVersion | None:
    """A stored version of a public petition's text, or None (unknown, or not yet in force)."""
    if number < 1 or number > petition.version:
        return None
    return db.session.execute(
        select(PetitionVersion).where(
            PetitionVersion.petition_id == petition.id, PetitionVersion.number == number
        )
    ).scalar_one_or_none()


def latest_official_counts(petition_ids: list[int]) -> dict[int, OfficialCount]:
    """Each relayed petition's most recent count on its official platform (by counted_on)."""
    if not petition_ids:
        return {}
    latest_first = func.row_number().over(
        partition_by=OfficialCount.petition_id,
        order_by=(OfficialCount.counted_on.desc(), OfficialCount.id.desc()),
    )
    ranked = (
        select(OfficialCount.id, latest_first.label("rank"))
        .where(OfficialCount.petition_id.in_(petition_ids))
        .subquery()
    )
    rows = db.session.execute(
        select(OfficialCount)
        .join(ranked, ranked.c.id == OfficialCount.id)
        .where(ranked.c.rank == 1)
    ).scalars()
    return {row.petition_id: row for row in rows}
