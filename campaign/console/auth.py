"""Signing organisers in: Argon2id passwords, TOTP, throttling, sessions that expire.

- Passwords: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), 12 characters
  at least, not in a list of common passwords.
- TOTP (RFC 6238, pyotp) is required for admins and optional for others; a code works once.
- TOTP secrets are encrypted at rest (core/crypto.py). Enrolment is open only to an
  account without one, as decided at the password step; replacing one needs a code of it.
- Throttling: per account and client network (5 failures make that network wait, longer
  at each failure; the owner elsewhere is not slowed) and per address (the view's rate
  limit). Every failure gets the same message, whatever failed.
- Sessions: a row server-side per signed-in browser, renewed at sign-in, ended after
  CONSOLE_IDLE_MINUTES without a request, by signing out (the row goes, so a copied cookie
  dies too) and by « log out everywhere », which ends every row and bumps the epoch.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
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
from sqlalchemy import delete, func, select

from campaign.console.models import ConsoleSession, Organiser, Role, SignInThrottle
from campaign.core import audit as audit_log
from campaign.core import crypto
from campaign.core.db import utcnow
from campaign.core.tokens import new_nonce
from campaign.extensions import db

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)  # OWASP 2023
MIN_PASSWORD = 12
MAX_FAILURES = 5  # from one network, before it waits (per account)
LOCK = timedelta(minutes=60)  # the longest wait
FORGET_FAILURES = timedelta(hours=24)
SEEN_EVERY = 60  # seconds: how often a session's last request is written down
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
    end_sessions(organiser)  # a new password ends the other sessions


def find_by_email(email: str) -> Organiser | None:
    return db.session.execute(
        select(Organiser).where(func.lower(Organiser.email) == email.strip().lower())
    ).scalar_one_or_none()


class Step(enum.Enum):
    REFUSED = "refused"
    NEED_CODE = "need_code"  # password right: ask for the TOTP code
    ENROL = "enrol"  # password right, an admin without TOTP yet: set it up first
    SIGNED_IN = "signed_in"


# --- throttling, per account and client network --------------------------------------------


def network_key(network: str) -> str:
    """The client network as stored: keyed, so the table holds no address in clear."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, b"sign-in:" + network.encode(), hashlib.sha256).hexdigest()


def _throttle(organiser: Organiser, network: str) -> SignInThrottle | None:
    return db.session.get(SignInThrottle, (organiser.id, network_key(network)))


def _locked(organiser: Organiser, network: str, now: datetime) -> bool:
    throttle = _throttle(organiser, network)
    return bool(throttle and throttle.locked_until and throttle.locked_until > now)


def _failed(organiser: Organiser, network: str, now: datetime) -> None:
    """From the MAX_FAILURES-th failure on, this network waits before trying this account
    again: 1 minute, then twice as long at each failure, up to LOCK. Other networks,
    the owner's among them, are not slowed."""
    throttle = _throttle(organiser, network)
    if throttle is None:
        throttle = SignInThrottle(
            organiser_id=organiser.id, network_key=network_key(network), failures=0
        )
        db.session.add(throttle)
    elif now - throttle.last_failure_at > FORGET_FAILURES:
        throttle.failures = 0
    throttle.failures += 1
    throttle.last_failure_at = now
    if throttle.failures >= MAX_FAILURES:
        wait = timedelta(minutes=2 ** min(throttle.failures - MAX_FAILURES, 10))
        throttle.locked_until = now + min(wait, LOCK)


def _succeeded(organiser: Organiser, network: str) -> None:
    if throttle := _throttle(organiser, network):
        db.session.delete(throttle)


def check_password(
    email: str, password: str, network: str, now: datetime | None = None
) -> tuple[Step, Any]:
    """The first step of signing in. Refusals all look alike (message and timing)."""
    now = now or utcnow()
    organiser = find_by_email(email)
    if organiser is None or not organiser.active or organiser.password_hash is None:
        _verify(_DUMMY_HASH, password)
        return Step.REFUSED, None
    if _locked(organiser, network, now):
        _verify(_DUMMY_HASH, password)
        return Step.REFUSED, None
    if not _verify(organiser.password_hash, password):
        _failed(organiser, network, now)
        return Step.REFUSED, None
    if HASHER.check_needs_rehash(organiser.password_hash):
        organiser.password_hash = HASHER.hash(password)
    if organiser.role is Role.ADMIN and not organiser.has_totp:
        return Step.ENROL, organiser
    if organiser.has_totp:
        return Step.NEED_CODE, organiser
    return Step.SIGNED_IN, organiser


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _code_step(secret: str, code: str, after: int, now: datetime) -> int | None:
    """The 30 s step (this one or a neighbour, later than `after`) that `code` is for."""
    code = "".join(ch for ch in code if ch.isdigit())
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // 30
    for candidate in (step, step - 1, step + 1):
        if candidate > after and hmac.compare_digest(totp.at(candidate * 30), code):
            return candidate
    return None


def check_code(organiser: Organiser, code: str, network: str, now: datetime | None = None) -> bool:
    """A code of the organiser's TOTP secret, never one used before."""
    now = now or utcnow()
    secret = organiser.totp_secret
    if secret is None or _locked(organiser, network, now):
        return False
    step = _code_step(secret, code, organiser.totp_last_step, now)
    if step is None:
        _failed(organiser, network, now)
        return False
    organiser.totp_last_step = step
    _succeeded(organiser, network)
    return True


def set_totp(organiser: Organiser, candidate: str, code: str, now: datetime | None = None) -> bool:
    """Adopt `candidate` as the organiser's secret once a code from it proves the phone has
    it. Whoever calls this has checked that the organiser may (see views.enrol)."""
    now = now or utcnow()
    step = _code_step(candidate, code, 0, now)
    if step is None:
        return False
    organiser.totp_secret = candidate
    organiser.totp_last_step = step
    return True


def reset_totp(organiser: Organiser) -> None:
    """An admin's reset: the owner sets a new one up at the next sign-in."""
    organiser.totp_secret = None
    organiser.totp_last_step = 0
    end_sessions(organiser)


def rotate_totp_key() -> int:
    """Re-encrypt every TOTP secret with the first key of TOTP_KEY; how many."""
    organisers = db.session.execute(
        select(Organiser).where(Organiser.totp_ciphertext.is_not(None))
    ).scalars()
    count = 0
    for organiser in organisers:
        organiser.totp_ciphertext = crypto.rotate(organiser.totp_ciphertext)
        count += 1
    return count


def provisioning_uri(organiser: Organiser, secret: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=organiser.email, issuer_name=issuer)


def new_totp_secret() -> str:
    return pyotp.random_base32()


# --- sessions -------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(organiser: Organiser, network: str, now: datetime | None = None) -> None:
    """A fresh session: nothing of the one before it survives (no fixation), and a row
    server-side that signing out deletes."""
    now = now or utcnow()
    session.clear()
    token = secrets.token_urlsafe(32)
    db.session.add(ConsoleSession(token_hash=_token_hash(token), organiser_id=organiser.id))
    # Sessions idle past the limit are dead already: their rows go.
    idle = timedelta(minutes=current_app.config["CONSOLE_IDLE_MINUTES"])
    db.session.execute(delete(ConsoleSession).where(ConsoleSession.seen_at < now - idle))
    session["organiser"] = organiser.id
    session["sid"] = token
    session["epoch"] = organiser.session_epoch
    session["seen"] = time.time()
    _succeeded(organiser, network)
    organiser.last_login_at = now


def hold_for_code(organiser: Organiser, step: Step) -> None:
    """Between the password and the code. Whether the account may set a second factor up
    is decided here, at the password step, and held with the pending sign-in."""
    session.clear()
    session["pending"] = organiser.id
    session["pending_until"] = time.time() + PENDING_SECONDS
    session["pending_enrol"] = step is Step.ENROL


def pending_organiser(*, enrolling: bool = False) -> Organiser | None:
    """The account between its password and its code; with `enrolling`, only one that was
    sent to set its first secret up and still has none."""
    until = session.get("pending_until")
    if not isinstance(until, int | float) or until < time.time():
        return None
    organiser = (
        db.session.get(Organiser, session.get("pending")) if _int(session.get("pending")) else None
    )
    if organiser is None or not organiser.active:
        return None
    if enrolling and (session.get("pending_enrol") is not True or organiser.has_totp):
        return None
    return organiser


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def _session_row() -> ConsoleSession | None:
    token = session.get("sid")
    if not isinstance(token, str) or not 20 < len(token) < 100:
        return None
    return db.session.get(ConsoleSession, _token_hash(token))


def sign_out() -> None:
    """This browser's session ends here and wherever its cookie was copied."""
    if row := _session_row():
        db.session.delete(row)
    session.clear()


def end_sessions(organiser: Organiser) -> None:
    """Every session of the account ends (log out everywhere, new password, deactivation)."""
    organiser.session_epoch += 1
    db.session.execute(delete(ConsoleSession).where(ConsoleSession.organiser_id == organiser.id))


def sign_out_everywhere(organiser: Organiser) -> None:
    end_sessions(organiser)
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
    row = _session_row()
    now = utcnow()
    if (
        time.time() - seen > idle
        or row is None
        or row.organiser_id != session["organiser"]
        or (now - row.seen_at).total_seconds() > idle
    ):
        session.clear()
        return None
    organiser = db.session.get(Organiser, session["organiser"])
    if organiser is None or not organiser.active or session.get("epoch") != organiser.session_epoch:
        session.clear()
        return None
    session["seen"] = time.time()
    if (now - row.seen_at).total_seconds() > SEEN_EVERY:
        row.seen_at = now
        db.session.commit()
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
    audit_log.record(who, action, what, rows, organiser_id=organiser.id if organiser else None)
