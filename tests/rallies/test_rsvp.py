"""« J'y serai »: the form, the emailed link, duplicates that disclose nothing, the waiting
list, closed rallies, bad input and odd links, and the race for the last place."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update
from werkzeug.test import TestResponse

from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.rallies import rsvp, services
from campaign.rallies.models import Rally, RallyStatus, Rsvp, RsvpStatus, today
from tests.concurrency import run_at_once
from tests.conftest import PUBLIC_URL
from tests.factories import (
    FORM_STAMP,
    RSVP_FORM,
    comparable,
    make_day,
    make_rally,
    notice_due,
    outbox_rows,
    path_of,
    rsvp_link,
    rsvp_through_form,
    run_worker,
)

CROSS_SITE_MESSAGE = "Ce formulaire a été envoyé depuis un autre site"
# A plain client sends no Sec-Fetch-Site of its own: only these headers speak for it.
CROSS_SITE = [
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="fetch-cross-site"),
    pytest.param({"Origin": "https://evil.example"}, id="origin-evil"),
    pytest.param({"Referer": "https://evil.example/"}, id="referer-evil"),
    pytest.param({}, id="no-header"),
]
CLOSED_MESSAGE = "Les inscriptions sont closes pour ce rassemblement."


# --- helpers ---------------------------------------------------------------------------


def new_rally(app: Flask, **kwargs: object) -> int:
    """A rally (published, in Lyon, in a month by default), committed; its id."""
    with app.app_context():
        rally = make_rally(**kwargs)  # type: ignore[arg-type]
        db.session.commit()
        rally_id = rally.id
        db.session.remove()
    return rally_id


def rsvps(app: Flask) -> list[Rsvp]:
    with app.app_context():
        rows = list(db.session.execute(select(Rsvp).order_by(Rsvp.id)).scalars())
        db.session.expunge_all()
        db.session.remove()
    return rows


def token_of(link: str) -> str:
    return path_of(link).rsplit("/", 1)[1]


def text_of(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def shown_count(client: FlaskClient, rally_id: int) -> str:
    page = client.get(f"/rassemblements/{rally_id}")
    match = re.search(r"<strong data-rsvp-count>([^<]*)</strong>", page.text)
    assert match, "no participant count on the rally page"
    return match.group(1)


def field_error(response: TestResponse, field: str) -> str | None:
    """The error paragraph rendered next to a field, or None."""
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', response.text, re.S)
    return html.unescape(match.group(1)) if match else None


def come(app: Flask, rally_id: int, outbox: list, **fields: str) -> str:
    """Register through the form in a fresh browser and open the emailed link; the link."""
    client = app.test_client()
    assert rsvp_through_form(client, rally_id, **fields).status_code == 303
    link = rsvp_link(outbox[-1])
    assert client.get(path_of(link)).status_code == 200
    return link


# --- registering and confirming ------------------------------------------------------------


def test_the_form_redirects_to_check_your_mailbox_and_sends_one_link(app, client, outbox):
    rally_id = new_rally(app)
    page = client.get(f"/rassemblements/{rally_id}?source=tract-lyon").text
    started = re.search(r'name="started" type="hidden" value="([^"]+)"', page)
    assert started, "no time stamp in the form"
    assert 'name="csrf_token"' not in page  # a public form: no session, no token
    response = client.post(
        f"/rassemblements/{rally_id}",
        data={
            **RSVP_FORM,
            "phone": "06 12 34 56 78",
            "source": "tract-lyon",
            "started": started.group(1),
        },
    )

    assert response.status_code == 303
    assert response.headers["Location"] == f"/rassemblements/{rally_id}/inscription"
    check = client.get(response.headers["Location"])
    assert check.status_code == 200
    assert "Vérifiez votre boîte mail" in check.text
    assert "rassemblement de Lyon" in check.text

    [row] = rsvps(app)
    assert (row.status, row.name, row.phone, row.source) == (
        RsvpStatus.PENDING,
        "Jeanne Dupont",
        "06 12 34 56 78",
        "tract-lyon",
    )
    assert row.consent_version
    [message] = outbox
    assert message.recipients == ["jeanne@example.org"]
    assert message.subject == "Confirmez votre venue : rassemblement à Lyon"
    link = rsvp_link(message)
    assert link.startswith(f"{PUBLIC_URL}/rassemblements/venue/")
    assert link in message.html
    # Only a hash of the token is kept: the database alone cannot rebuild the link.
    assert token_of(link) not in (row.token_hash, row.token_nonce)
    assert shown_count(client, rally_id) == "0"  # not counted before the link is opened


def test_the_link_confirms_once_however_many_times_it_is_opened(app, client, outbox):
    rally_id = new_rally(app)
    rsvp_through_form(client, rally_id)
    link = rsvp_link(outbox[0])
    assert shown_count(client, rally_id) == "0"

    first = client.get(path_of(link))
    assert first.status_code == 200
    assert "Merci, votre venue est confirmée" in text_of(first)
    assert "<strong>1</strong> personne" in first.text  # the count, confirmation included
    [row] = rsvps(app)
    assert row.status is RsvpStatus.CONFIRMED

    again = client.get(path_of(link))
    assert again.status_code == 200
    assert "Merci, votre venue est confirmée" in text_of(again)
    with app.app_context():
        status, _ = rsvp.confirm(token_of(link))
        assert status is rsvp.ConfirmStatus.ALREADY
        db.session.commit()
    [unchanged] = rsvps(app)
    assert unchanged.confirmed_at == row.confirmed_at
    assert shown_count(client, rally_id) == "1"
    assert len(outbox) == 1


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ("jeanne@example.org", "jeanne@example.org"),
        ("jeanne@example.org", "JEANNE@Example.ORG"),
        ("Jeanne.Dupont@gmail.com", "jeannedupont@gmail.com"),
        ("Jeanne.Dupont@gmail.com", "j.eanne.dupont+rdv@googlemail.com"),
    ],
)
def test_registering_twice_from_one_mailbox_looks_the_same_and_stores_one_row(
    app, outbox, first, again
):
    rally_id = new_rally(app)
    owner, stranger = app.test_client(), app.test_client()

    original = rsvp_through_form(owner, rally_id, email=first)
    duplicate = rsvp_through_form(stranger, rally_id, email=again)

    assert comparable(duplicate) == comparable(original)
    assert len(rsvps(app)) == 1
    # Still pending: the second email is the same link again, to the address that registered.
    assert len(outbox) == 2
    assert [m.recipients for m in outbox] == [[first], [first]]
    assert rsvp_link(outbox[1]) == rsvp_link(outbox[0])
    owner.get(path_of(rsvp_link(outbox[0])))
    assert shown_count(owner, rally_id) == "1"


def test_a_confirmed_participant_registering_again_gets_the_already_registered_email(app, outbox):
    rally_id = new_rally(app)
    link = come(app, rally_id, outbox)

    again = rsvp_through_form(app.test_client(), rally_id, email="Jeanne@Example.org")

    assert again.status_code == 303
    assert len(rsvps(app)) == 1
    assert len(outbox) == 2
    already = outbox[1]
    assert already.recipients == ["jeanne@example.org"]
    assert already.subject == "Vous êtes déjà inscrit·e : Lyon"
    # It carries the link to cancel, not a confirmation link.
    assert link not in re.findall(r"https?://\S+", already.body)
    assert f"{link}/annuler" in already.body
    assert shown_count(app.test_client(), rally_id) == "1"


def test_emails_about_one_registration_are_capped(app, client, outbox):
    rally_id = new_rally(app)
    for _ in range(rsvp.MAX_EMAILS + 3):
        assert rsvp_through_form(client, rally_id).status_code == 303
    assert len(outbox) == rsvp.MAX_EMAILS
    assert len(rsvps(app)) == 1


# --- no disclosure ---------------------------------------------------------------------------


def _observe(app: Flask, client: FlaskClient, rally_id: int, email: str) -> tuple:
    """(status, headers, body, SQL statements, jobs queued, next page) for one registration."""
    path = f"/rassemblements/{rally_id}"
    client.get(path)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    queued = outbox_rows(app)
    notice_due()
    try:
        response = client.post(path, data={**RSVP_FORM, "email": email})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    jobs = outbox_rows(app) - queued
    following = client.get(response.headers["Location"])
    return (*comparable(response), statements, jobs, following.status_code, following.get_data())


def _run_jobs(app: Flask) -> None:
    run_worker(app)


def test_the_worker_writes_the_confirmation_email_outside_any_request(
    app: Flask, client, outbox, durable_queue
):
    rally_id = new_rally(app)
    rsvp_through_form(client, rally_id)
    assert outbox_rows(app) == 1 and outbox == []  # recorded, not sent in the request
    assert run_worker(app) == 1  # one mail job, built by the worker
    [message] = outbox
    assert message.subject == "Confirmez votre venue : rassemblement à Lyon"
    assert "14\u00a0h\u00a030" in message.body  # dates and times in French, with no request


def test_registering_looks_the_same_for_new_pending_and_confirmed_addresses(
    app: Flask, outbox, durable_queue
):
    rally_id = new_rally(app)

    new = _observe(app, app.test_client(), rally_id, "jeanne@example.org")
    _run_jobs(app)
    pending = _observe(app, app.test_client(), rally_id, "Jeanne@Example.org")
    _run_jobs(app)
    app.test_client().get(path_of(rsvp_link(outbox[0])))
    confirmed = _observe(app, app.test_client(), rally_id, "jeanne@example.org")
    other_new = _observe(app, app.test_client(), rally_id, "paul@example.org")
    _run_jobs(app)

    assert new[0] == 303
    assert new[4] == 1  # one job: the worker decides what the mailbox receives
    assert new == pending == confirmed == other_new
    assert [m.subject for m in outbox] == [
        "Confirmez votre venue : rassemblement à Lyon",
        "Confirmez votre venue : rassemblement à Lyon",
        "Vous êtes déjà inscrit·e : Lyon",
        "Confirmez votre venue : rassemblement à Lyon",
    ]


# --- the waiting list --------------------------------------------------------------------------


def test_a_full_rally_puts_the_next_person_on_the_waiting_list_until_a_place_is_freed(
    app, client, outbox
):
    rally_id = new_rally(app, capacity=1)
    first_link = come(app, rally_id, outbox, name="Jeanne Dupont", email="jeanne@example.org")

    page = text_of(client.get(f"/rassemblements/{rally_id}"))
    assert "Complet : la seule place est prise." in page
    assert "M’inscrire sur la liste d’attente" in page
    assert shown_count(client, rally_id) == "1"

    second = app.test_client()
    rsvp_through_form(second, rally_id, name="Paul Martin", email="paul@example.org")
    waiting = second.get(path_of(rsvp_link(outbox[-1])))
    assert "Vous êtes sur la liste d’attente" in text_of(waiting)
    assert {r.email: r.status for r in rsvps(app)} == {
        "jeanne@example.org": RsvpStatus.CONFIRMED,
        "paul@example.org": RsvpStatus.WAITLISTED,
    }
    assert shown_count(client, rally_id) == "1"  # the waiting list is not counted

    # The first person cancels: GET only asks (mail scanners follow links), POST deletes.
    cancel_path = path_of(first_link) + "/annuler"
    ask = client.get(cancel_path)
    assert ask.status_code == 200
    assert "libère votre place" in text_of(ask)
    assert len(rsvps(app)) == 2
    done = client.post(cancel_path)
    assert done.status_code == 200
    assert "Votre inscription est annulée" in text_of(done)

    [promoted] = rsvps(app)
    assert (promoted.email, promoted.status) == ("paul@example.org", RsvpStatus.CONFIRMED)
    assert outbox[-1].recipients == ["paul@example.org"]
    assert outbox[-1].subject == "Une place s’est libérée : rassemblement à Lyon"
    assert "/annuler" in outbox[-1].body
    assert shown_count(client, rally_id) == "1"
    # The spent link now leads nowhere.
    assert client.get(cancel_path).status_code == 404


def test_cancelling_from_the_waiting_list_frees_nobody_else(app, client, outbox):
    rally_id = new_rally(app, capacity=1)
    come(app, rally_id, outbox, email="jeanne@example.org")
    waiting_link = come(app, rally_id, outbox, email="paul@example.org")
    sent = len(outbox)

    cancel_path = path_of(waiting_link) + "/annuler"
    ask = client.get(cancel_path)
    assert "libère votre place" not in text_of(ask)
    client.post(cancel_path)

    assert [(r.email, r.status) for r in rsvps(app)] == [
        ("jeanne@example.org", RsvpStatus.CONFIRMED)
    ]
    assert len(outbox) == sent


@pytest.mark.parametrize("closed", ["past", "cancelled"])
def test_no_place_is_offered_once_the_rally_is_over_or_cancelled(app, client, outbox, closed):
    rally_id = new_rally(app, capacity=1)
    first_link = come(app, rally_id, outbox, email="jeanne@example.org")
    come(app, rally_id, outbox, email="paul@example.org")
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        if closed == "past":
            rally.date = today() - timedelta(days=1)
        else:
            services.cancel(rally, "Camille", "Arrêté préfectoral")
        db.session.commit()
    sent = len(outbox)

    cancel_path = path_of(first_link) + "/annuler"
    client.get(cancel_path)
    client.post(cancel_path)

    assert [(r.email, r.status) for r in rsvps(app)] == [
        ("paul@example.org", RsvpStatus.WAITLISTED)
    ]
    assert len(outbox) == sent  # no « Une place s’est libérée » for a rally that won't be


# --- closed rallies ------------------------------------------------------------------------------


@pytest.mark.parametrize("closed", ["past", "cancelled"])
def test_a_past_or_cancelled_rally_refuses_registrations(app, client, outbox, closed):
    with app.app_context():
        if closed == "past":
            rally = make_rally(make_day(when=today() - timedelta(days=2)))
        else:
            rally = make_rally(status=RallyStatus.CANCELLED)
        db.session.commit()
        rally_id = rally.id
    page = client.get(f"/rassemblements/{rally_id}")
    assert page.status_code == 200
    assert CLOSED_MESSAGE in text_of(page)
    assert f'action="/rassemblements/{rally_id}#participer"' not in page.text

    # The closed page has no form: one left open in a tab before it closed.
    refused = client.post(f"/rassemblements/{rally_id}", data=RSVP_FORM)

    assert refused.status_code == 409
    assert CLOSED_MESSAGE in text_of(refused)
    assert rsvps(app) == []
    assert outbox == []


def test_a_link_opened_after_the_rally_was_cancelled_does_not_count(app, client, outbox):
    rally_id = new_rally(app)
    rsvp_through_form(client, rally_id)
    with app.app_context():
        services.cancel(db.session.get(Rally, rally_id), "Camille", "Arrêté préfectoral")
        db.session.commit()

    opened = client.get(path_of(rsvp_link(outbox[0])))

    assert opened.status_code == 200
    assert "Les inscriptions sont closes" in text_of(opened)
    assert [r.status for r in rsvps(app)] == [RsvpStatus.PENDING]
    assert len(outbox) == 1  # pending people are not told of the cancellation


def test_cancelling_a_rally_tells_everyone_confirmed_or_waiting_and_nobody_else(
    app, client, outbox
):
    rally_id = new_rally(app, capacity=1)
    come(app, rally_id, outbox, name="Jeanne Dupont", email="jeanne@example.org")
    come(app, rally_id, outbox, name="Paul Martin", email="paul@example.org")
    rsvp_through_form(app.test_client(), rally_id, name="Léa Roux", email="lea@example.org")
    sent = len(outbox)

    with app.app_context():
        services.cancel(db.session.get(Rally, rally_id), "Camille", "Arrêté préfectoral")
        db.session.commit()

    told = outbox[sent:]
    assert sorted(m.recipients[0] for m in told) == ["jeanne@example.org", "paul@example.org"]
    for message in told:
        assert message.subject == "Rassemblement annulé : Lyon"
        assert "Motif : Arrêté préfectoral" in message.body
    page = text_of(client.get(f"/rassemblements/{rally_id}"))
    assert "Ce rassemblement est annulé. Motif : Arrêté préfectoral" in page


# --- bad requests ------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_post_from_another_site_is_a_french_403_and_stores_nothing(app, outbox, headers):
    rally_id = new_rally(app)
    client = FlaskClient(app)
    client.get(f"/rassemblements/{rally_id}")
    response = client.post(f"/rassemblements/{rally_id}", data=RSVP_FORM, headers=headers)
    assert response.status_code == 403
    assert CROSS_SITE_MESSAGE in text_of(response)
    assert '<html lang="fr"' in response.text
    assert rsvps(app) == []
    assert outbox == []


BAD_INPUT = [
    ("email", "pas-une-adresse", "Adresse e-mail invalide"),
    ("email", "jeanne@exemple.fr\r\nBcc: autre@exemple.fr", "Adresse e-mail invalide"),
    ("email", "", "Ce champ est obligatoire."),
    ("consent", None, "Vous devez accepter ces conditions pour vous inscrire."),
    ("phone", "123", "Numéro invalide : 10 chiffres"),
    ("phone", "=1+1", "Numéro invalide : 10 chiffres"),
    ("name", "=cmd", "Un nom ne peut pas commencer par =, +, - ou @."),
    ("name", "Jeanne\x00", "caractères invisibles ou de contrôle"),
    ("name", "http://x.fr", "Un nom ne peut pas contenir d’adresse web."),
    ("name", "a" * 10_000, "100 caractères au maximum."),
    ("name", "", "Ce champ est obligatoire."),
]


@pytest.mark.parametrize(
    ("field", "value", "message"), BAD_INPUT, ids=[f"{f}-{v!r:.30}" for f, v, _ in BAD_INPUT]
)
def test_bad_input_is_refused_in_french_beside_the_field_and_typed_values_are_kept(
    app, client, outbox, field, value, message
):
    rally_id = new_rally(app)
    typed = {"name": "Jeanne Dupont", "email": "jeanne@example.org", "phone": "06 12 34 56 78"}
    client.get(f"/rassemblements/{rally_id}")
    data = {**typed, "consent": "y", "started": FORM_STAMP, field: value}
    response = client.post(
        f"/rassemblements/{rally_id}", data={k: v for k, v in data.items() if v is not None}
    )

    assert response.status_code == 422
    error = field_error(response, field)
    assert error is not None, f"no error shown beside {field}"
    assert message in error
    assert re.search(
        rf'<input[^>]*aria-describedby="[^"]*\b{field}-error"[^>]*name="{field}"', response.text
    )
    assert "Le formulaire contient" in text_of(response)
    for name, kept in typed.items():
        if name != field:
            assert f'name="{name}" ' in response.text
            assert f'value="{html.escape(kept, quote=True)}"' in response.text, name
    if field == "name" and value == "=cmd":
        assert 'value="=cmd"' in response.text
    # The form keeps its first time stamp, to correct and resend; no token is needed.
    assert f'name="started" type="hidden" value="{FORM_STAMP}"' in response.text
    assert 'name="csrf_token"' not in response.text
    assert rsvps(app) == []
    assert outbox == []


def test_a_filled_honeypot_gets_the_usual_answer_but_nothing_is_stored(app, outbox):
    rally_id = new_rally(app)
    bot, person = app.test_client(), app.test_client()
    caught = rsvp_through_form(bot, rally_id, website="http://spam.example")
    accepted = rsvp_through_form(person, rally_id, email="paul@example.org")

    assert caught.status_code == 303
    assert comparable(caught) == comparable(accepted)
    assert [r.email for r in rsvps(app)] == ["paul@example.org"]
    assert [m.recipients for m in outbox] == [["paul@example.org"]]


ODD_TOKENS = ["x" * 43, "a" * 5000, "%00", "abc%00def", "%C3%A9t%C3%A9", "%E2%80%AE", "..."]


@pytest.mark.parametrize("token", ODD_TOKENS, ids=[t[:20] for t in ODD_TOKENS])
def test_unknown_or_garbage_links_are_a_404_never_a_500(app, client, outbox, token):
    rally_id = new_rally(app)
    rsvp_through_form(client, rally_id)  # a real registration exists beside them

    confirm = client.get(f"/rassemblements/venue/{token}")
    assert confirm.status_code == 404
    assert "Lien inconnu" in text_of(confirm)
    ask = client.get(f"/rassemblements/venue/{token}/annuler")
    assert ask.status_code == 404
    cancel = client.post(f"/rassemblements/venue/{token}/annuler")
    assert cancel.status_code == 404
    assert "Lien inconnu" in text_of(cancel)
    assert [r.status for r in rsvps(app)] == [RsvpStatus.PENDING]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cancelling_from_another_site_deletes_nothing(app, outbox, headers):
    rally_id = new_rally(app)
    link = come(app, rally_id, outbox)
    response = FlaskClient(app).post(path_of(link) + "/annuler", headers=headers)
    assert response.status_code == 403
    assert CROSS_SITE_MESSAGE in text_of(response)
    assert len(rsvps(app)) == 1


def test_an_expired_link_says_so_and_registering_again_revives_it(app, client, outbox):
    rally_id = new_rally(app)
    rsvp_through_form(client, rally_id)
    link = rsvp_link(outbox[0])
    with app.app_context():
        db.session.execute(update(Rsvp).values(token_expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()

    expired = client.get(path_of(link))
    assert expired.status_code == 200
    assert "Ce lien a expiré" in text_of(expired)
    assert [r.status for r in rsvps(app)] == [RsvpStatus.PENDING]
    assert shown_count(client, rally_id) == "0"

    rsvp_through_form(client, rally_id)
    assert rsvp_link(outbox[-1]) == link
    assert "Merci, votre venue est confirmée" in text_of(client.get(path_of(link)))
    assert shown_count(client, rally_id) == "1"


# --- the race for the last place --------------------------------------------------------------


@pytest.mark.postgres_only
def test_concurrent_confirmations_never_take_more_than_the_places(app, outbox, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has no row locks: the race needs PostgreSQL")
    capacity, people = 3, 12
    rally_id = new_rally(app, capacity=capacity)
    client = app.test_client()
    for n in range(people):
        rsvp_through_form(client, rally_id, email=f"personne{n}@example.org")
    tokens = [token_of(rsvp_link(m)) for m in outbox]
    assert len(set(tokens)) == people

    def confirming(token: str) -> Callable[[], object]:
        return lambda: rsvp.confirm(token)[0]

    results = run_at_once(app, [confirming(t) for t in tokens])

    assert results.count(rsvp.ConfirmStatus.CONFIRMED) == capacity
    assert results.count(rsvp.ConfirmStatus.WAITLISTED) == people - capacity
    statuses = [r.status for r in rsvps(app)]
    assert statuses.count(RsvpStatus.CONFIRMED) == capacity
    assert statuses.count(RsvpStatus.WAITLISTED) == people - capacity
    assert shown_count(client, rally_id) == str(capacity)
