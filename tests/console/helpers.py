"""Signing in to the console in tests, through the real forms.

    from tests.console.helpers import sign_in

    me = sign_in(app, client, Role.ORGANISER)
    page = client.get("/console/tableau-de-bord")
    token = me.csrf(client)  # a CSRF token of this session, for the next POST

sign_in() creates the account directly in the database (as an accepted invitation would:
campaign.console.auth.invite + set_password), then posts the password to /console/connexion
and, for an admin, a TOTP code to /console/connexion/code, as a person would. Each call makes
a new account (its own address), so several clients can be signed in within one test;
mind the sign-in rate limit (CONSOLE_LOGIN_RATE_LIMIT, 10 a minute per address: the test
database is emptied and the limiter reset after each test).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from campaign.console import auth
from campaign.console.models import Role
from campaign.extensions import db
from tests.factories import csrf_from

PASSWORD = "une phrase de passe pour les essais"
_seq = itertools.count(1)


@dataclass(frozen=True)
class SignedIn:
    """What a test needs to know of the signed-in organiser (the row itself stays in its
    session: re-read it with db.session.get(Organiser, me.id) when needed)."""

    id: int
    email: str
    name: str
    role: Role
    organisation_id: int | None
    password: str
    totp_secret: str | None

    @property
    def who(self) -> str:
        """How the audit log names this organiser (AuditEntry.who)."""
        return f"{self.name} <{self.email}>"

    @staticmethod
    def csrf(client: FlaskClient) -> str:
        """A CSRF token of the client's session (read off a console page with a form)."""
        return csrf_from(client.get("/console/connexion").text)


def sign_in(
    app: Flask,
    client: FlaskClient,
    role: Role,
    organisation_id: int | None = None,
    *,
    name: str | None = None,
) -> SignedIn:
    """Create an organiser with `role` (a rally organiser of `organisation_id`) and sign
    `client` in as them. An admin gets a TOTP secret and signs in with a code."""
    n = next(_seq)
    name = name or f"Camille Martin {n}"
    with app.app_context():
        organiser, _ = auth.invite(
            f"{role.value}-{n}@example.org", name, role, organisation_id=organisation_id
        )
        auth.set_password(organiser, PASSWORD)
        organiser.invite_nonce = None  # the invitation is used
        if role is Role.ADMIN:
            organiser.totp_secret = pyotp.random_base32()
        db.session.commit()
        me = SignedIn(
            id=organiser.id,
            email=organiser.email,
            name=organiser.name,
            role=organiser.role,
            organisation_id=organiser.organisation_id,
            password=PASSWORD,
            totp_secret=organiser.totp_secret,
        )
    page = client.get("/console/connexion")
    answer = client.post(
        "/console/connexion",
        data={"csrf_token": csrf_from(page.text), "email": me.email, "password": PASSWORD},
    )
    assert answer.status_code == 303, answer.text
    if me.totp_secret is not None:
        assert "/console/connexion/code" in answer.headers["Location"]
        page = client.get("/console/connexion/code")
        answer = client.post(
            "/console/connexion/code",
            data={"csrf_token": csrf_from(page.text), "code": pyotp.TOTP(me.totp_secret).now()},
        )
        assert answer.status_code == 303, answer.text
    assert "/console/connexion" not in answer.headers["Location"]
    return me
