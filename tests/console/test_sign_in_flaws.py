"""The sign-in flaws of the security review (issue 11, items 1, 2, 3 and 7), one test each:
every one of them failed on the code before the fix."""

from __future__ import annotations

import json
import re
import time

import pyotp
import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from campaign.console import auth
from campaign.console.models import AuditEntry, ConsoleSession, Organiser, Role
from campaign.extensions import db, limiter
from tests.console.helpers import PASSWORD, sign_in
from tests.factories import csrf_from, make_collective

ENROL = "/console/connexion/double-authentification"
STRANGER = {"X-Forwarded-For": "203.0.113.9"}
OWNER = {"X-Forwarded-For": "198.51.100.7"}


@pytest.fixture(autouse=True)
def _collective(app: Flask) -> None:
    with app.app_context():
        make_collective()
        db.session.commit()


def _password(client: FlaskClient, email: str, password: str = PASSWORD, headers=None):  # type: ignore[no-untyped-def]
    page = client.get("/console/connexion", headers=headers)
    return client.post(
        "/console/connexion",
        headers=headers,
        data={"csrf_token": csrf_from(page.text), "email": email, "password": password},
    )


def _post(client: FlaskClient, path: str, **data: str):  # type: ignore[no-untyped-def]
    page = client.get("/console/connexion")  # any console form carries the session's token
    return client.post(path, data={"csrf_token": csrf_from(page.text), **data})


def _row(app: Flask, organiser_id: int) -> tuple[str | None, str | None, int]:
    """(secret decrypted, the column as stored, session epoch)."""
    with app.app_context():
        organiser = db.session.get(Organiser, organiser_id)
        raw = db.session.execute(
            text("SELECT totp_secret FROM organisers WHERE id = :id"), {"id": organiser_id}
        ).scalar()
        return organiser.totp_secret, raw, organiser.session_epoch


def _an_admin_holding_only_the_password(app: Flask) -> tuple[int, str, str]:
    """An admin with a second factor, and an attacker's client past the password step."""
    owner = app.test_client()
    me = sign_in(app, owner, Role.ADMIN)
    assert me.totp_secret is not None
    return me.id, me.email, me.totp_secret


# --- 1. two-factor enrolment with the password alone ------------------------------------------


def test_enrolment_cannot_replace_a_second_factor_with_the_password_alone(
    app: Flask, client: FlaskClient
):
    admin_id, email, _ = _an_admin_holding_only_the_password(app)
    before = _row(app, admin_id)
    assert _password(client, email).headers["Location"].startswith("/console/connexion/code")

    # The attack: open enrolment, read the new secret off the page, post a code of it.
    page = client.get(ENROL)
    assert page.status_code == 302 and "/console/connexion/code" in page.headers["Location"]
    attacker_secret = pyotp.random_base32()
    with client.session_transaction() as session:  # even a candidate planted in the session
        session["totp_candidate"] = {"for": admin_id, "secret": attacker_secret}
    answer = _post(client, ENROL, code=pyotp.TOTP(attacker_secret).now())
    assert answer.status_code == 302 and "/console/connexion" in answer.headers["Location"]

    # Even with the flag of the password step forged: the account has a factor already.
    with client.session_transaction() as session:
        session["pending_enrol"] = True
    assert client.get(ENROL).status_code == 302
    assert _post(client, ENROL, code=pyotp.TOTP(attacker_secret).now()).status_code == 302

    assert client.get("/console/comptes").status_code == 302  # no session
    assert _row(app, admin_id) == before  # nothing changed
    with app.app_context():  # the owner's session only
        sessions = select(ConsoleSession).where(ConsoleSession.organiser_id == admin_id)
        assert len(db.session.execute(sessions).all()) == 1


def test_replacing_a_second_factor_needs_a_code_of_the_current_one(app: Flask, outbox):
    owner = app.test_client()
    me = sign_in(app, owner, Role.ADMIN)
    page = owner.get(ENROL)
    assert page.status_code == 200 and "Code de l’application configurée" in page.text
    new = re.search(r"data-secret>([A-Z2-7]{32})<", page.text).group(1)
    refused = owner.post(
        ENROL,
        data={
            "csrf_token": csrf_from(page.text),
            "current_code": "000000",
            "code": pyotp.TOTP(new).now(),
        },
    )
    assert refused.status_code == 422
    assert _row(app, me.id)[0] == me.totp_secret

    # The current code was spent at sign-in: the next step's code is the one to give.
    current = pyotp.TOTP(me.totp_secret).at(int(time.time()) + 30)
    ok = owner.post(
        ENROL,
        data={
            "csrf_token": csrf_from(page.text),
            "current_code": current,
            "code": pyotp.TOTP(new).now(),
        },
    )
    assert ok.status_code == 303
    assert _row(app, me.id)[0] == new
    assert [m.subject for m in outbox] == ["Votre double authentification a changé"]
    assert outbox[0].recipients == [me.email]


def test_an_admin_reset_is_audited_and_emails_the_owner(app: Flask, outbox):
    owner_client, admin_client = app.test_client(), app.test_client()
    owner = sign_in(app, owner_client, Role.ADMIN)
    admin = sign_in(app, admin_client, Role.ADMIN)
    answer = _post(admin_client, f"/console/comptes/{owner.id}/double-authentification")
    assert answer.status_code == 303
    secret, raw, _ = _row(app, owner.id)
    assert secret is None and raw is None
    assert owner_client.get("/console/comptes").status_code == 302  # sessions ended
    with app.app_context():
        (entry,) = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "account.totp_reset")
        ).scalars()
        assert entry.who == admin.who and str(owner.id) in entry.what
    assert [m.recipients for m in outbox] == [[owner.email]]
    assert admin.name in outbox[0].body
    # The owner sets a new one up at the next sign-in, from the password step.
    assert _password(app.test_client(), owner.email).headers["Location"].startswith(ENROL)


def test_an_organiser_cannot_reset_someone_elses_second_factor(app: Flask):
    owner = sign_in(app, app.test_client(), Role.ADMIN)
    organiser_client = app.test_client()
    sign_in(app, organiser_client, Role.ORGANISER)
    answer = _post(organiser_client, f"/console/comptes/{owner.id}/double-authentification")
    assert answer.status_code == 403
    assert _row(app, owner.id)[0] == owner.totp_secret


# --- 2. signing out ends the session where it was copied -------------------------------------


def test_a_copied_session_cookie_is_refused_after_sign_out(app: Flask, client: FlaskClient):
    sign_in(app, client, Role.ORGANISER)
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value, domain=cookie.domain)
    assert thief.get("/console/rassemblements").status_code == 200  # the copy works...

    _post(client, "/console/deconnexion")
    fresh = app.test_client()  # ...until the owner signs out: the same cookie, replayed
    fresh.set_cookie("session", cookie.value, domain=cookie.domain)
    answer = fresh.get("/console/rassemblements")
    assert answer.status_code == 302 and "/console/connexion" in answer.headers["Location"]


def test_signing_out_leaves_the_other_browsers_signed_in(app: Flask):
    laptop, phone = app.test_client(), app.test_client()
    me = sign_in(app, laptop, Role.ORGANISER)
    _password(phone, me.email)
    _post(laptop, "/console/deconnexion")
    assert laptop.get("/console/rassemblements").status_code == 302
    assert phone.get("/console/rassemblements").status_code == 200


# --- 3. a stranger cannot lock the owner out -------------------------------------------------


def test_a_strangers_failed_sign_ins_never_keep_the_owner_out(app: Flask):
    me = sign_in(app, app.test_client(), Role.ORGANISER)
    stranger = app.test_client()
    for _ in range(auth.MAX_FAILURES + 3):
        assert _password(stranger, me.email, "pas le bon mot de passe", STRANGER).status_code == 401
        limiter.reset()  # the per-address rate limit is another test's
    assert _password(stranger, me.email, PASSWORD, STRANGER).status_code == 401  # it waits
    answer = _password(app.test_client(), me.email, PASSWORD, OWNER)
    assert answer.status_code == 303 and "/console/connexion" not in answer.headers["Location"]


def test_a_strangers_wrong_codes_never_keep_the_owner_out(app: Flask):
    """With the password but not the phone: the stranger's failed codes slow only them."""
    _, email, secret = _an_admin_holding_only_the_password(app)
    stranger = app.test_client()
    for _ in range(auth.MAX_FAILURES):
        _password(stranger, email, PASSWORD, STRANGER)
        page = stranger.get("/console/connexion/code", headers=STRANGER)
        stranger.post(
            "/console/connexion/code",
            headers=STRANGER,
            data={"csrf_token": csrf_from(page.text), "code": "000000"},
        )
        limiter.reset()
    owner = app.test_client()
    _password(owner, email, PASSWORD, OWNER)
    page = owner.get("/console/connexion/code", headers=OWNER)
    code = pyotp.TOTP(secret).at(int(time.time()) + 30)
    answer = owner.post(
        "/console/connexion/code",
        headers=OWNER,
        data={"csrf_token": csrf_from(page.text), "code": code},
    )
    assert answer.status_code == 303


# --- 7. TOTP secrets encrypted at rest --------------------------------------------------------


def test_totp_secrets_are_encrypted_at_rest_with_totp_key(app: Flask):
    me = sign_in(app, app.test_client(), Role.ADMIN)
    secret, raw, _ = _row(app, me.id)
    assert secret == me.totp_secret and raw is not None
    assert me.totp_secret not in raw
    key = app.config["TOTP_KEY"].split(",")[0]
    assert Fernet(key).decrypt(raw.encode()).decode() == me.totp_secret


def test_the_enrolment_candidate_is_not_readable_in_the_session_cookie(
    app: Flask, client: FlaskClient
):
    with app.app_context():
        organiser, _ = auth.invite("admin@example.org", "Camille", Role.ADMIN)
        auth.set_password(organiser, PASSWORD)
        organiser.invite_nonce = None
        db.session.commit()
    _password(client, "admin@example.org")
    page = client.get(ENROL)
    candidate = re.search(r"data-secret>([A-Z2-7]{32})<", page.text).group(1)
    cookie = client.get_cookie("session").value
    serializer = app.session_interface.get_signing_serializer(app)
    assert candidate not in json.dumps(serializer.loads(cookie))


def test_rotating_totp_key_re_encrypts_every_secret(app: Flask, monkeypatch):
    me = sign_in(app, app.test_client(), Role.ADMIN)
    old = app.config["TOTP_KEY"]
    new = Fernet.generate_key().decode()
    monkeypatch.setitem(app.config, "TOTP_KEY", f"{new},{old}")
    app.extensions.pop("totp_fernet", None)
    try:
        result = app.test_cli_runner().invoke(args=["console", "rotate-totp-key"])
        assert result.exit_code == 0 and "1 TOTP secret" in result.output
        _, raw, _ = _row(app, me.id)
        assert Fernet(new).decrypt(raw.encode()).decode() == me.totp_secret
    finally:
        app.extensions.pop("totp_fernet", None)
