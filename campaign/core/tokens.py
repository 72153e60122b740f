"""Secret links sent by email (confirmation, later magic links).

A link's token is an HMAC of a random nonce kept in the row. Only the token's SHA-256
is indexed, so the database alone cannot rebuild a link, and a resend can send the very
same link again (a person who clicks the first email is not told it was replaced).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import current_app


def new_nonce() -> str:
    return secrets.token_hex(16)  # 128 random bits


def token_for(nonce: str, purpose: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"{purpose}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()  # 256 bits, 43 chars


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
