"""Applying to join the collective. Services take plain values, flush but never commit.

No email subject carries text a stranger typed (an organisation's name, a contact's):
anyone may apply with someone else's address, so a subject is the collective's own words.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import func, or_, select, update

from campaign.content.models import Collective
from campaign.core import images
from campaign.core.db import utcnow
from campaign.core.mail import queue_mail
from campaign.core.tokens import hash_token, new_nonce, token_for
from campaign.core.ttlcache import TTLCache
from campaign.core.urls import public_url_for
from campaign.extensions import db
from campaign.organisations.models import (
    ModerationDecision,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
)
from campaign.petition.models import Signature

CONFIRM_PURPOSE = "organisation-confirm"


class DuplicateApplicationError(Exception):
    """This organisation (same SIREN/RNA, or same name in the same place) already applied."""


@dataclass(frozen=True)
class Application:
    name: str
    kind: OrganisationKind
    departement: str
    contact_name: str
    contact_email: str
    identifier: str | None = None
    website: str = ""
    presentation: str = ""
    contact_phone: str | None = None
    listed: bool = False
    logo_png: bytes | None = None  # already checked and re-encoded (core/images.py)


def logo_folder() -> Path:
    """Uploaded logos live in the instance folder, never under static/."""
    return Path(current_app.instance_path) / "uploads" / "logos"


NAME_KEY_LENGTH = 200  # the column's size


def name_key(name: str) -> str:
    """'Enfance & Familles – Rennes' and 'ENFANCE ET FAMILLES rennes' are the same name.

    Accents are dropped but every script's letters are kept (a name in Arabic or with an
    emoji is not folded to nothing); the key is cut to its column's size.
    """
    decomposed = unicodedata.normalize("NFKD", name.replace("&", " et ").casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    key = " ".join("".join(c if c.isalnum() else " " for c in letters).split())
    return (key or name.casefold().strip())[:NAME_KEY_LENGTH]


# An application not confirmed within this time no longer holds its name or number, so a
# stranger cannot squat a real organisation's SIREN with an address they never confirm.
UNCONFIRMED_HOLD = timedelta(hours=48)


def _make_room(collective: Collective, data: Application, key: str) -> None:
    """Refuse a duplicate of a live application; release the keys of dead ones.

    Live: pending, approved, or unconfirmed for less than UNCONFIRMED_HOLD. A stale
    unconfirmed application is deleted; a rejected one keeps its record (and decisions)
    but gives up its name and number, so the organisation may apply again.
    """
    same = (Organisation.name_key == key) & (Organisation.departement == data.departement)
    if data.identifier:
        same = or_(same, Organisation.identifier == data.identifier)
    conflicts = db.session.execute(
        select(Organisation).where(Organisation.collective_id == collective.id, same)
    ).scalars()
    cutoff = utcnow() - UNCONFIRMED_HOLD
    for other in conflicts:
        if other.status is OrganisationStatus.REJECTED:
            other.identifier = None
            other.name_key = f"{other.name_key[: NAME_KEY_LENGTH - 12]}#{other.id}"
        elif other.status is OrganisationStatus.UNCONFIRMED and other.created_at < cutoff:
            db.session.delete(other)
        else:
            raise DuplicateApplicationError(data.name)
    db.session.flush()


def apply(collective: Collective, data: Application) -> Organisation:
    """Record an application and email its contact a confirmation link.

    It reaches the organisers only once that link is opened. The database's unique
    constraints back the check below when two applications race.
    """
    key = name_key(data.name)
    _make_room(collective, data, key)
    organisation = Organisation(
        collective=collective,
        name=data.name,
        name_key=key,
        kind=data.kind,
        identifier=data.identifier,
        website=data.website,
        departement=data.departement,
        presentation=data.presentation,
        contact_name=data.contact_name,
        contact_email=data.contact_email,
        contact_phone=data.contact_phone,
        listed=data.listed,
        shares_demands_at=utcnow(),
        referral_code=secrets.token_hex(6),  # 12 characters: short in a link, never guessed
        token_nonce=new_nonce(),
    )
    if data.logo_png:
        organisation.logo_filename = images.store(logo_folder(), data.logo_png)
    db.session.add(organisation)
    db.session.flush()
    queue_mail(
        organisation.contact_email,
        f"Confirmez votre demande d’adhésion au collectif {collective.name}",
        "organisations/confirm",
        organisation=organisation,
        collective=collective,
        confirm_url=public_url_for(
            "organisations.confirm",
            organisation_id=organisation.id,
            token=token_for(organisation.token_nonce, CONFIRM_PURPOSE),
        ),
    )
    return organisation


def confirm_email(organisation_id: int, token: str) -> Organisation | None:
    """Open the emailed link: the application goes to the organisers. Idempotent."""
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        return None
    expected = hash_token(token_for(organisation.token_nonce, CONFIRM_PURPOSE))
    if not secrets.compare_digest(expected, hash_token(token)):
        return None
    if organisation.status is OrganisationStatus.UNCONFIRMED:
        organisation.status = OrganisationStatus.PENDING
        organisation.confirmed_at = utcnow()
    return organisation


class NotPendingError(Exception):
    """Only an application whose email was confirmed, and not yet decided, can be decided."""


def pending_applications() -> list[Organisation]:
    return list(
        db.session.execute(
            select(Organisation)
            .where(Organisation.status == OrganisationStatus.PENDING)
            .order_by(Organisation.confirmed_at)
        ).scalars()
    )


def decide(organisation_id: int, approve: bool, decided_by: str, reason: str = "") -> Organisation:
    """Approve or reject a pending application, record who did it and why, email the contact."""
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None or organisation.status is not OrganisationStatus.PENDING:
        raise NotPendingError(organisation_id)
    status = OrganisationStatus.APPROVED if approve else OrganisationStatus.REJECTED
    organisation.status = status
    organisation.decisions.append(
        ModerationDecision(status=status, reason=reason.strip(), decided_by=decided_by)
    )
    collective = organisation.collective
    queue_mail(
        organisation.contact_email,
        f"Votre organisation rejoint le collectif {collective.name}"
        if approve
        else f"Votre demande d’adhésion au collectif {collective.name}",
        "organisations/approved" if approve else "organisations/rejected",
        organisation=organisation,
        collective=collective,
        reason=reason.strip(),
        directory_url=public_url_for("organisations.directory"),
        manage_url=manage_url(organisation) if approve else None,
        hours=current_app.config["MANAGE_LINK_HOURS"],
    )
    db.session.flush()
    return organisation


def members(kind: OrganisationKind | None = None, departement: str | None = None, search: str = ""):  # type: ignore[no-untyped-def]
    """Approved organisations that agreed to be listed, by name."""
    query = select(Organisation).where(
        Organisation.status == OrganisationStatus.APPROVED, Organisation.listed.is_(True)
    )
    if kind:
        query = query.where(Organisation.kind == kind)
    if departement:
        query = query.where(Organisation.departement == departement)
    if key := name_key(search):
        query = query.where(Organisation.name_key.contains(key, autoescape=True))
    return list(db.session.execute(query.order_by(Organisation.name_key)).scalars())


def member_count() -> int:
    """Every approved organisation, listed or not: the collective counts them all."""
    return db.session.execute(
        select(func.count(Organisation.id)).where(
            Organisation.status == OrganisationStatus.APPROVED
        )
    ).scalar_one()


_referrals: TTLCache[int] = TTLCache()


def referring_organisation_id(referral_code: str | None) -> int | None:
    """The approved member behind a referral code (cached: every signing asks)."""
    if not referral_code:
        return None

    def load() -> int | None:
        return db.session.execute(
            select(Organisation.id).where(
                Organisation.referral_code == referral_code,
                Organisation.status == OrganisationStatus.APPROVED,
            )
        ).scalar_one_or_none()

    return _referrals.get_or_compute(referral_code, current_app.config["PAGE_CACHE_SECONDS"], load)


def signatures_brought(organisation_id: int) -> int:
    """Confirmed signatures that came through the organisation's referral link."""
    return db.session.execute(
        select(func.count(Signature.id)).where(
            Signature.organisation_id == organisation_id, Signature.confirmed_at.is_not(None)
        )
    ).scalar_one()


def public_member(organisation_id: int) -> Organisation | None:
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None or organisation.status is not OrganisationStatus.APPROVED:
        return None
    return organisation if organisation.listed else None


MANAGE_SALT = "organisation-manage"


def _serializer(salt: str) -> URLSafeTimedSerializer:
    """Signed, timestamped tokens; the salt keeps one kind of link from passing for another."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def manage_url(organisation: Organisation) -> str:
    """A link to the organisation's management space: expiring, and good for one use."""
    token = _serializer(MANAGE_SALT).dumps(
        {"id": organisation.id, "nonce": organisation.token_nonce}
    )
    return public_url_for("organisations.member_space.manage_link", token=token)


def send_manage_links(email: str) -> None:
    """Email a management link to every member organisation with this contact address.

    The caller shows the same message whether or not there is one.
    """
    matches = db.session.execute(
        select(Organisation).where(
            func.lower(Organisation.contact_email) == email.strip().lower(),
            Organisation.status == OrganisationStatus.APPROVED,
        )
    ).scalars()
    for organisation in matches:
        queue_mail(
            organisation.contact_email,
            f"Votre lien vers l’espace de gestion du collectif {organisation.collective.name}",
            "organisations/manage_link",
            organisation=organisation,
            collective=organisation.collective,
            manage_url=manage_url(organisation),
            hours=current_app.config["MANAGE_LINK_HOURS"],
        )


def use_manage_link(token: str) -> Organisation | None:
    """The organisation behind a valid, unused, unexpired link; the link is then spent."""
    max_age = current_app.config["MANAGE_LINK_HOURS"] * 3600
    try:
        payload = _serializer(MANAGE_SALT).loads(token, max_age=max_age)
    except BadData:
        return None
    if not isinstance(payload, dict):
        return None
    organisation = db.session.get(Organisation, payload.get("id"))
    if (
        organisation is None
        or organisation.status is not OrganisationStatus.APPROVED
        or not secrets.compare_digest(str(payload.get("nonce")), organisation.token_nonce)
    ):
        return None
    # Spend the link (and any older one) with a conditional UPDATE: of two simultaneous
    # uses, only one changes the row.
    spent = db.session.execute(
        update(Organisation)
        .where(Organisation.id == organisation.id, Organisation.token_nonce == payload["nonce"])
        .values(token_nonce=new_nonce())
        .execution_options(synchronize_session=False)
    ).rowcount
    return organisation if spent == 1 else None


def update_profile(organisation: Organisation, presentation: str, logo: bytes | None) -> None:
    organisation.presentation = presentation
    if logo:
        previous = organisation.logo_filename
        organisation.logo_filename = images.store(logo_folder(), logo)
        if previous:  # a replaced logo must stop being served
            (logo_folder() / previous).unlink(missing_ok=True)


def member_for_management(organisation_id: object) -> Organisation | None:
    """The approved organisation a management session is for (listed or not)."""
    if not isinstance(organisation_id, int):
        return None
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None or organisation.status is not OrganisationStatus.APPROVED:
        return None
    return organisation
