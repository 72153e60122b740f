"""Signing organisers in: Argon2id passwords, TOTP, throttling, sessions that expire.

- Passwords: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), 12 characters
  at least, not in a list of common passwords.
- TOTP (RFC 6238, pyotp) is required for admins and optional for others; a code works once.
- Throttling: per account (5 failures lock it for 15 minutes) and per address (the
  view's rate limit). Every failure gets the same message, whatever failed.
- Sessions: renewed at sign-in, ended after CONSOLE_IDLE_MINUTES without a request, and
  by « log out everywhere », which bumps the account's epoch.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any, TypeVar

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, g, redirect, request, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select

from campaign.console.models import AuditEntry, Organiser, Role
from campaign.core.db import utcnow
from campaign.core.tokens import new_nonce
from campaign.extensions import db

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)  # OWASP 2023
MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCK = timedelta(minutes=15)
PENDING_SECONDS = 300  # between the password and the code
INVITE_HOURS = 72
GENERIC_ERROR = "Adresse e-mail, mot de passe ou code incorrect."
# A hash to verify against when the account does not exist: the same time either way.
_DUMMY_HASH = HASHER.hash("not a password: evens out timing")


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).parent / "data" / "common-passwords.txt"
    return frozenset(
        line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines() if line
    )


def password_problem(password: str, email: str = "") -> str | None:
    """Why a password is refused, in French, or None."""
    if len(password) < MIN_PASSWORD:
        return f"Au moins {MIN_PASSWORD} caractères."
    if len(password) > 200:
        return "200 caractères au maximum."
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(lowered)) < 4:
        return (
            "Ce mot de passe est trop courant : choisissez-en un autre (une phrase, par exemple)."
        )
    local = email.split("@")[0].lower()
    if len(local) >= 4 and local in lowered:
        return "Le mot de passe ne doit pas contenir votre adresse e-mail."
    return None


def set_password(organiser: Organiser, password: str) -> None:
    organiser.password_hash = HASHER.hash(password)
    organiser.session_epoch += 1  # a new password ends the other sessions


def find_by_email(email: str) -> Organiser | None:
    return db.session.execute(
        select(Organiser).where(func.lower(Organiser.email) == email.strip().lower())
    ).scalar_one_or_none()


class Step(enum.Enum):
    REFUSED = "refused"
    NEED_CODE = "need_code"  # password right: ask for the TOTP code
    ENROL = "enrol"  # password right, an admin without TOTP yet: set it up first
    SIGNED_IN = "signed_in"


def check_password(email: str, password: str, now: datetime | None = None) -> tuple[Step, Any]:
    """The first step of signing in. Refusals all look alike (message and timing)."""
    now = now or utcnow()
    organiser = find_by_email(email)
    if organiser is None or not organiser.active or organiser.password_hash is None:
        _verify(_DUMMY_HASH, password)
        return Step.REFUSED, None
    if organiser.locked_until and organiser.locked_until > now:
        _verify(_DUMMY_HASH, password)
        return Step.REFUSED, None
    if not _verify(organiser.password_hash, password):
        _failed(organiser, now)
        return Step.REFUSED, None
    if HASHER.check_needs_rehash(organiser.password_hash):
        organiser.password_hash = HASHER.hash(password)
    if organiser.role is Role.ADMIN and organiser.totp_secret is None:
        return Step.ENROL, organiser
    if organiser.totp_secret is not None:
        return Step.NEED_CODE, organiser
    return Step.SIGNED_IN, organiser


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _failed(organiser: Organiser, now: datetime) -> None:
    organiser.failed_logins += 1
    if organiser.failed_logins >= MAX_FAILURES:
        organiser.locked_until = now + LOCK
        organiser.failed_logins = 0


def check_code(organiser: Organiser, code: str, now: datetime | None = None) -> bool:
    """A TOTP code of this or the neighbouring 30 s step, never one used before."""
    now = now or utcnow()
    if organiser.totp_secret is None or (organiser.locked_until and organiser.locked_until > now):
        return False
    code = "".join(ch for ch in code if ch.isdigit())
    totp = pyotp.TOTP(organiser.totp_secret)
    step = int(now.timestamp()) // 30
    for candidate in (step, step - 1, step + 1):
        if candidate > organiser.totp_last_step and totp.at(candidate * 30) == code:
            organiser.totp_last_step = candidate
            return True
    _failed(organiser, now)
    return False


def provisioning_uri(organiser: Organiser, secret: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=organiser.email, issuer_name=issuer)


def new_totp_secret() -> str:
    return pyotp.random_base32()


# --- sessions -------------------------------------------------------------------------------


def sign_in(organiser: Organiser, now: datetime | None = None) -> None:
    """A fresh session: nothing of the one before it survives (no fixation)."""
    session.clear()
    session["organiser"] = organiser.id
    session["epoch"] = organiser.session_epoch
    session["seen"] = time.time()
    organiser.failed_logins = 0
    organiser.locked_until = None
    organiser.last_login_at = now or utcnow()


def hold_for_code(organiser: Organiser) -> None:
    session.clear()
    session["pending"] = organiser.id
    session["pending_until"] = time.time() + PENDING_SECONDS


def pending_organiser() -> Organiser | None:
    until = session.get("pending_until")
    if not isinstance(until, int | float) or until < time.time():
        return None
    organiser = (
        db.session.get(Organiser, session.get("pending")) if _int(session.get("pending")) else None
    )
    return organiser if organiser is not None and organiser.active else None


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def sign_out() -> None:
    session.clear()


def sign_out_everywhere(organiser: Organiser) -> None:
    organiser.session_epoch += 1
    session.clear()


def current_organiser() -> Organiser | None:
    """The signed-in organiser, if the session is still valid (and keeps it alive)."""
    if "organiser_checked" in g:
        return g.organiser
    g.organiser_checked = True
    g.organiser = None
    seen, idle = session.get("seen"), current_app.config["CONSOLE_IDLE_MINUTES"] * 60
    if not _int(session.get("organiser")) or not isinstance(seen, int | float):
        return None
    if time.time() - seen > idle:
        session.clear()
        return None
    organiser = db.session.get(Organiser, session["organiser"])
    if organiser is None or not organiser.active or session.get("epoch") != organiser.session_epoch:
        session.clear()
        return None
    session["seen"] = time.time()
    g.organiser = organiser
    return organiser


F = TypeVar("F", bound=Callable[..., Any])


def requires(*roles: Role) -> Callable[[F], F]:
    """Signed in with one of `roles` (admins pass everywhere), else sign-in page or 403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            organiser = current_organiser()
            if organiser is None:
                return redirect(url_for("console.sign_in_form", suivant=request.path))
            if organiser.role is not Role.ADMIN and organiser.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


# --- invitations ----------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="organiser-invite")


def invite(
    email: str,
    name: str,
    role: Role,
    by: Organiser | None = None,
    organisation_id: int | None = None,
) -> tuple[Organiser, str]:
    """A new account waiting for its password; returns it and its one-use link token."""
    organiser = Organiser(
        email=email.strip().lower(),
        name=name.strip(),
        role=role,
        organisation_id=organisation_id if role is Role.RALLY_ORGANISER else None,
        invite_nonce=new_nonce(),
        invited_by_id=by.id if by else None,
    )
    db.session.add(organiser)
    db.session.flush()
    return organiser, invite_token(organiser)


def invite_token(organiser: Organiser) -> str:
    return _serializer().dumps({"id": organiser.id, "nonce": organiser.invite_nonce})


def invited(token: str) -> Organiser | None:
    """The account behind an invitation link still valid and not used."""
    try:
        data = _serializer().loads(token[:500], max_age=INVITE_HOURS * 3600)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not _int(data.get("id")):
        return None
    organiser = db.session.get(Organiser, data["id"])
    if organiser is None or organiser.invite_nonce is None:
        return None
    return organiser if organiser.invite_nonce == data.get("nonce") else None


# --- audit ----------------------------------------------------------------------------------


def audit(action: str, what: str = "", rows: int | None = None) -> None:
    """Record a read of personal data or an export by the signed-in organiser."""
    organiser = current_organiser()
    who = f"{organiser.name} <{organiser.email}>" if organiser else "?"
    db.session.add(
        AuditEntry(
            organiser_id=organiser.id if organiser else None,
            who=who,
            action=action,
            what=what[:2000],
            rows=rows,
        )
    )
