"""Secrets kept encrypted at rest (TOTP seeds) with keys from the environment, never the
database: a copy of the database alone does not give away a second factor.

TOTP_KEY holds one or more Fernet keys separated by commas; the first encrypts, every
one decrypts, so a key can be rotated without a gap (`flask console rotate-totp-key`).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class BadKeyError(ValueError):
    """TOTP_KEY is missing or is not a list of Fernet keys."""


def parse_keys(value: str) -> MultiFernet:
    keys = [k.strip() for k in value.split(",") if k.strip()]
    if not keys:
        raise BadKeyError("TOTP_KEY is empty")
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except (ValueError, TypeError) as exc:
        raise BadKeyError(
            "TOTP_KEY must be Fernet keys separated by commas (make one with python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        ) from exc


def _fernet() -> MultiFernet:
    cached = current_app.extensions.get("totp_fernet")
    if cached is None:
        cached = current_app.extensions["totp_fernet"] = parse_keys(current_app.config["TOTP_KEY"])
    return cached


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The plain text; a token no key opens is an operations error, said plainly."""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken as exc:
        raise RuntimeError(
            "A TOTP secret cannot be decrypted with TOTP_KEY: was the key changed without "
            "keeping the old one after a comma?"
        ) from exc


def rotate(token: str) -> str:
    """The same secret under the first key."""
    return _fernet().rotate(token.encode("ascii")).decode("ascii")
