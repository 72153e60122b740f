"""Console accounts: invitations, passwords, two-factor codes, throttling, sessions."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from campaign.console import auth
from campaign.console.models import Organiser, Role, SignInThrottle
from campaign.extensions import db, limiter
from tests.conftest import PUBLIC_URL
from tests.factories import csrf_from, make_collective, make_member

PASSWORD = "une phrase de passe bien longue"
INVITE_LINK = re.compile(r"https?://\S+/console/invitation/[A-Za-z0-9_.-]+")


def _account(app: Flask, role: Role = Role.ORGANISER, totp: bool = False, **kwargs) -> dict:
    with app.app_context():
        make_collective()
        organiser, _ = auth.invite(f"{role.value}@example.org", "Camille Martin", role, **kwargs)
        auth.set_password(organiser, PASSWORD)
        organiser.invite_nonce = None
        if totp:
            organiser.totp_secret = pyotp.random_base32()
        db.session.commit()
        return {"id": organiser.id, "email": organiser.email, "secret": organiser.totp_secret}


def _post_password(client, email: str, password: str = PASSWORD, **params):  # type: ignore[no-untyped-def]
    page = client.get("/console/connexion")
    return client.post(
        "/console/connexion",
        query_string=params,
        data={"csrf_token": csrf_from(page.text), "email": email, "password": password},
    )


def _post_code(client, code: str):  # type: ignore[no-untyped-def]
    page = client.get("/console/connexion/code")
    return client.post(
        "/console/connexion/code", data={"csrf_token": csrf_from(page.text), "code": code}
    )


def _secret(app: Flask, organiser_id: int) -> str | None:
    """The organiser's TOTP secret, decrypted (it needs the app's TOTP_KEY)."""
    with app.app_context():
        return db.session.get(Organiser, organiser_id).totp_secret


def _state(app: Flask, organiser_id: int) -> Organiser:
    with app.app_context():
        organiser = db.session.get(Organiser, organiser_id)
        db.session.expunge(organiser)
        return organiser


# --- invitations and passwords ---------------------------------------------------------------


def test_create_admin_prints_a_one_use_invitation(app: Flask, client):
    result = app.test_cli_runner().invoke(
        args=["console", "create-admin", "--email", "Admin@Example.org", "--name", "Camille"]
    )
    assert result.exit_code == 0, result.output
    link = INVITE_LINK.search(result.output).group(0).removeprefix(PUBLIC_URL)
    again = app.test_cli_runner().invoke(
        args=["console", "create-admin", "--email", "admin@example.org", "--name", "X"]
    )
    assert again.exit_code != 0 and "exists already" in again.output

    page = client.get(link)
    assert page.status_code == 200 and "Bienvenue, Camille" in page.text
    weak = client.post(
        link,
        data={
            "csrf_token": csrf_from(page.text),
            "password": "azertyuiop123",
            "confirm": "azertyuiop123",
        },
    )
    assert weak.status_code == 422 and "trop courant" in weak.text
    done = client.post(
        link, data={"csrf_token": csrf_from(page.text), "password": PASSWORD, "confirm": PASSWORD}
    )
    # An admin goes straight to setting up the second factor.
    assert done.status_code == 303 and done.headers["Location"].endswith(
        "/console/connexion/double-authentification"
    )
    assert client.get(link).status_code == 404  # one use


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("court", "Au moins 12 caractères."),
        ("azertyuiop123", "trop courant"),
        ("aaaaaaaaaaaaaaaa", "trop courant"),
        ("organiser-organiser!", "adresse e-mail"),
        ("x" * 201, "200 caractères"),
    ],
)
def test_weak_passwords_are_refused_in_french(password: str, message: str):
    assert message in auth.password_problem(password, "organiser@example.org")


def test_a_good_password_passes_and_is_stored_as_argon2id(app: Flask):
    assert auth.password_problem(PASSWORD, "organiser@example.org") is None
    account = _account(app)
    stored = _state(app, account["id"]).password_hash
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in stored


def test_an_admin_invites_someone_by_email(app: Flask, client, outbox):
    admin = _account(app, Role.ADMIN, totp=True)
    _post_password(client, admin["email"])
    _post_code(client, pyotp.TOTP(admin["secret"]).now())
    page = client.get("/console/comptes")
    sent = client.post(
        "/console/comptes",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "Léa Roux",
            "email": "lea@example.org",
            "role": "organiser",
            "organisation": "",
        },
    )
    assert sent.status_code == 303
    [mail] = outbox
    assert mail.recipients == ["lea@example.org"]
    assert INVITE_LINK.search(mail.body)
    twice = client.post(
        "/console/comptes",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "Léa Roux",
            "email": "lea@example.org",
            "role": "organiser",
            "organisation": "",
        },
    )
    assert twice.status_code == 422 and "existe déjà" in twice.text


def test_a_rally_organiser_needs_an_organisation(app: Flask, client):
    admin = _account(app, Role.ADMIN, totp=True)
    _post_password(client, admin["email"])
    _post_code(client, pyotp.TOTP(admin["secret"]).now())
    page = client.get("/console/comptes")
    response = client.post(
        "/console/comptes",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "Léa Roux",
            "email": "lea@example.org",
            "role": "rally_organiser",
            "organisation": "",
        },
    )
    assert response.status_code == 422 and "Choisissez son organisation." in response.text


# --- signing in ------------------------------------------------------------------------------


def test_an_organiser_without_totp_signs_in_with_a_password(app: Flask, client):
    account = _account(app)
    response = _post_password(client, account["email"])
    assert response.status_code == 303
    assert client.get("/console/").status_code == 302  # home redirects to the dashboard
    assert _state(app, account["id"]).last_login_at is not None


def test_every_refusal_says_the_same_thing(app: Flask, client):
    account = _account(app)
    wrong = _post_password(client, account["email"], "pas le bon mot de passe")
    unknown = _post_password(client, "personne@example.org")
    assert wrong.status_code == unknown.status_code == 401
    assert auth.GENERIC_ERROR in wrong.text and auth.GENERIC_ERROR in unknown.text


def test_an_admin_must_give_a_code_and_a_code_works_once(app: Flask, client):
    admin = _account(app, Role.ADMIN, totp=True)
    first = _post_password(client, admin["email"])
    assert first.headers["Location"].startswith("/console/connexion/code")
    assert client.get("/console/tableau-de-bord").status_code == 302  # not signed in yet
    assert _post_code(client, "000000").status_code in (401, 422)
    code = pyotp.TOTP(admin["secret"]).now()
    assert _post_code(client, code).status_code == 303
    assert client.get("/console/comptes").status_code == 200

    other = app.test_client()
    _post_password(other, admin["email"])
    replay = _post_code(other, code)
    assert replay.status_code == 401  # the same code, replayed


def test_an_admin_without_totp_sets_it_up_before_anything_else(app: Flask, client):
    admin = _account(app, Role.ADMIN)
    response = _post_password(client, admin["email"])
    assert response.headers["Location"].startswith("/console/connexion/double-authentification")
    page = client.get("/console/connexion/double-authentification")
    secret = re.search(r"data-secret>([A-Z2-7]{32})<", page.text).group(1)
    assert 'src="data:image/svg+xml;base64,' in page.text
    wrong = client.post(
        "/console/connexion/double-authentification",
        data={"csrf_token": csrf_from(page.text), "code": "123456"},
    )
    assert wrong.status_code == 422
    assert _secret(app, admin["id"]) is None
    ok = client.post(
        "/console/connexion/double-authentification",
        data={"csrf_token": csrf_from(page.text), "code": pyotp.TOTP(secret).now()},
    )
    assert ok.status_code == 303
    assert _secret(app, admin["id"]) == secret
    assert client.get("/console/comptes").status_code == 200


def test_five_failures_make_that_address_wait_longer_each_time(app: Flask, client):
    account = _account(app)
    for _ in range(auth.MAX_FAILURES):
        assert _post_password(client, account["email"], "mauvais mot de passe !").status_code == 401
        limiter.reset()  # the per-address limit is tested apart
    # From that address, even the right password is refused now, with the same message.
    locked = _post_password(client, account["email"])
    assert locked.status_code == 401 and auth.GENERIC_ERROR in locked.text
    with app.app_context():
        (throttle,) = db.session.execute(select(SignInThrottle)).scalars()
        first_wait = throttle.locked_until - throttle.last_failure_at
        assert first_wait == timedelta(minutes=1)
        assert "127.0.0.1" not in throttle.network_key  # keyed, not in clear
        throttle.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    # One more failure after the wait: twice as long.
    assert _post_password(client, account["email"], "encore faux !!!").status_code == 401
    with app.app_context():
        throttle = db.session.execute(select(SignInThrottle)).scalar_one()
        assert throttle.locked_until - throttle.last_failure_at == timedelta(minutes=2)
        throttle.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    assert _post_password(client, account["email"]).status_code == 303
    with app.app_context():  # a success forgets that address's failures
        assert db.session.execute(select(SignInThrottle)).first() is None


def test_one_address_is_throttled_whatever_the_account(app: Flask, client):
    statuses = [
        _post_password(client, f"x{n}@example.org", "mauvais mot de passe").status_code
        for n in range(12)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


# --- sessions --------------------------------------------------------------------------------


def test_sign_in_renews_the_session(app: Flask, client):
    account = _account(app)
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    _post_password(client, account["email"])
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["organiser"] == account["id"]


def test_thirty_idle_minutes_end_the_session(app: Flask, client):
    account = _account(app)
    _post_password(client, account["email"])
    assert client.get("/console/rassemblements").status_code == 200
    with client.session_transaction() as session:
        session["seen"] = time.time() - 31 * 60
    response = client.get("/console/rassemblements")
    assert response.status_code == 302 and "/console/connexion" in response.headers["Location"]


def test_log_out_everywhere_ends_every_session(app: Flask, client):
    account = _account(app)
    other = app.test_client()
    _post_password(client, account["email"])
    _post_password(other, account["email"])
    page = client.get("/console/connexion")  # any form of the session carries its token
    client.post("/console/deconnexion-partout", data={"csrf_token": csrf_from(page.text)})
    assert other.get("/console/rassemblements").status_code == 302


def test_a_deactivated_account_is_signed_out_and_cannot_sign_in(app: Flask, client):
    account = _account(app)
    _post_password(client, account["email"])
    with app.app_context():
        db.session.get(Organiser, account["id"]).active = False
        db.session.commit()
    assert client.get("/console/rassemblements").status_code == 302
    assert _post_password(app.test_client(), account["email"]).status_code == 401


def test_after_sign_in_only_a_console_path_is_followed(app: Flask, client):
    account = _account(app)
    evil = _post_password(client, account["email"], suivant="https://evil.example/")
    assert evil.headers["Location"] == "/console/"
    good = _post_password(app.test_client(), account["email"], suivant="/console/rassemblements")
    assert good.headers["Location"] == "/console/rassemblements"


def test_missing_csrf_is_refused(app: Flask, client):
    account = _account(app)
    response = client.post(
        "/console/connexion", data={"email": account["email"], "password": PASSWORD}
    )
    assert response.status_code == 400


def test_a_rally_organiser_account_belongs_to_its_organisation(app: Flask):
    with app.app_context():
        collective = make_collective()
        member = make_member(collective)
        organiser, _ = auth.invite(
            "r@example.org", "R", Role.RALLY_ORGANISER, organisation_id=member.id
        )
        other, _ = auth.invite("o@example.org", "O", Role.ORGANISER, organisation_id=member.id)
        db.session.commit()
        assert organiser.organisation_id == member.id
        assert other.organisation_id is None  # only rally organisers are tied to one
