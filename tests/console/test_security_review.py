"""Security review (issue 11): the join form mails no attacker-written link, every read of
personal data is audited, pages with personal data are never cached, and the interim
moderation pages are gone (their URLs lead to the console)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import Rule

from campaign.console.models import AuditEntry, PaperSignatures, Role
from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.organisations import services as organisation_services
from campaign.organisations.models import Organisation, OrganisationStatus
from campaign.rallies.models import Rsvp, RsvpStatus
from tests.conftest import PUBLIC_URL
from tests.console.helpers import sign_in
from tests.factories import (
    csrf_from,
    make_collective,
    make_day,
    make_member,
    make_petition,
    make_rally,
)

# --- 4. the join form mails no attacker-written link ----------------------------------------

JOIN = {
    "name": "Enfance & Familles Rennes",
    "kind": "association",
    "departement": "35",
    "presentation": "Nous accompagnons les familles d’Ille-et-Vilaine.",
    "contact_name": "Léa Martin",
    "contact_email": "lea.martin@example.org",
    "shares_demands": "y",
}


@pytest.fixture
def collective_name(app: Flask) -> str:
    with app.app_context():
        collective = make_collective("Les 400 000")
        db.session.commit()
        return collective.name


STARTED_INPUT = re.compile(r'name="started" type="hidden" value="([^"]+)"')


def _join(client: FlaskClient, **fields: str):  # type: ignore[no-untyped-def]
    """Open the join page and post its form (no CSRF token: the time stamp it was drawn at)."""
    started = STARTED_INPUT.search(client.get("/rejoindre").text)
    assert started, "no time stamp in the join form"
    return client.post("/rejoindre", data={**JOIN, "started": started.group(1), **fields})


def _error_beside(response, field: str) -> str | None:  # type: ignore[no-untyped-def]
    match = re.search(rf'id="{field}-error">([^<]+)<', response.text)
    return html.unescape(match.group(1)) if match else None


WEB_ADDRESSES = [
    "http://evil.example",
    "https://evil.example/x",
    "Voir www.evil",
    "evil.com",
    "Enfance EVIL.COM",
    "evil . com",
    "evil .fr",
    "evil[.]com",
    "evil (.) org",
    "evil[dot]net",
    "exemple。com",  # ideographic full stop
    "exemple．com",  # full-width full stop
    "exemple｡com",  # half-width ideographic full stop
    "ｅｖｉｌ．ｃｏｍ",  # full-width letters
    "evil․com",  # one-dot leader
]


@pytest.mark.parametrize("name", WEB_ADDRESSES)
def test_an_organisation_name_with_a_web_address_or_a_look_alike_is_refused(
    app: Flask, client, collective_name, outbox, name: str
):
    response = _join(client, name=name)

    assert response.status_code == 422
    error = _error_beside(response, "name")
    assert error is not None and "adresse web" in error, error
    assert outbox == []
    with app.app_context():
        assert db.session.execute(select(func.count(Organisation.id))).scalar_one() == 0


@pytest.mark.parametrize("contact_name", ["Léa evil . com", "Léa exemple。com", "Léa evil(.)fr"])
def test_a_contact_name_with_a_look_alike_web_address_is_refused(
    client, collective_name, outbox, contact_name: str
):
    response = _join(client, contact_name=contact_name)

    assert response.status_code == 422
    error = _error_beside(response, "contact_name")
    assert error is not None and "adresse web" in error, error
    assert outbox == []


@pytest.mark.parametrize(
    "name",
    [
        "Enfance & Familles Rennes",
        "S.O.S. Enfance 93",
        "A.S.E. du Rhône",
        "Assoc. des parents d’élèves",
        "Collectif 400 000 (Lyon)",
        "Parent·e·s solidaires",
    ],
)
def test_ordinary_organisation_names_still_pass(client, collective_name, outbox, name: str):
    assert _join(client, name=name).status_code == 303
    assert len(outbox) == 1


def test_no_email_subject_to_an_applicant_carries_what_they_typed(
    app: Flask, client, collective_name, outbox
):
    assert (
        _join(client, name="Enfance Ensemble Rennes", contact_name="Léa Martin").status_code == 303
    )
    with app.app_context():
        organisation = db.session.execute(select(Organisation)).scalar_one()
        organisation.status = OrganisationStatus.PENDING
        organisation.confirmed_at = utcnow()
        db.session.commit()
        organisation_services.decide(organisation.id, True, decided_by="Camille")
        db.session.commit()
        organisation_services.send_manage_links("lea.martin@example.org")
        db.session.commit()
    assert _join(client, name="Autre Asso", contact_email="autre@example.org").status_code == 303
    with app.app_context():
        other = db.session.execute(
            select(Organisation).where(Organisation.name == "Autre Asso")
        ).scalar_one()
        other.status = OrganisationStatus.PENDING
        db.session.commit()
        organisation_services.decide(other.id, False, decided_by="Camille", reason="Hors sujet")
        db.session.commit()

    subjects = [m.subject for m in outbox]
    assert subjects == [
        f"Confirmez votre demande d’adhésion au collectif {collective_name}",
        f"Votre organisation rejoint le collectif {collective_name}",
        f"Votre lien vers l’espace de gestion du collectif {collective_name}",
        f"Confirmez votre demande d’adhésion au collectif {collective_name}",
        f"Votre demande d’adhésion au collectif {collective_name}",
    ]
    for typed in ("Enfance", "Rennes", "Léa", "Martin", "Autre", "Hors sujet"):
        assert not any(typed in subject for subject in subjects), typed
    # The body still says which organisation it is about (escaped, never a subject line).
    assert "« Enfance Ensemble Rennes »" in outbox[0].body


# --- shared set-up for 5 and 6 ------------------------------------------------------------


@dataclass(frozen=True)
class World:
    slug: str
    member_id: int
    member_name: str
    member_email: str
    rally_id: int
    applicant_id: int


def _world(app: Flask) -> World:
    """A petition with a paper batch, a member running a rally with one participant, and
    an application waiting for the organisers."""
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        member = make_member(collective, "Parents d’élèves")
        applicant = make_member(collective, "Candidate")
        applicant.status = OrganisationStatus.PENDING
        applicant.confirmed_at = utcnow()
        rally = make_rally(make_day(collective), organisations=[member])
        db.session.add(
            Rsvp(
                rally_id=rally.id,
                name="Jeanne Dupont",
                email="jeanne@example.org",
                email_canonical="jeanne@example.org",
                status=RsvpStatus.CONFIRMED,
                consent_version="test",
                token_nonce="0" * 32,
                token_hash="1" * 64,
                token_expires_at=utcnow(),
                confirmed_at=utcnow(),
            )
        )
        db.session.add(
            PaperSignatures(
                petition_id=petition.id,
                count=12,
                collected_on=utcnow().date(),
                note="Marché de Lyon",
                added_by="Camille",
            )
        )
        db.session.commit()
        return World(
            petition.slug,
            member.id,
            member.name,
            member.contact_email,
            rally.id,
            applicant.id,
        )


MANAGE_LINK = re.compile(r"https?://\S+/organisations/gerer/[A-Za-z0-9_.-]+")


def _sign_in_member(app: Flask, client: FlaskClient, world: World, outbox) -> None:
    """Open the member's management space through its emailed one-use link."""
    with app.app_context():
        organisation_services.send_manage_links(world.member_email)
        db.session.commit()
    path = MANAGE_LINK.search(outbox[-1].body).group(0).removeprefix(PUBLIC_URL)
    ask = client.get(path)
    assert client.post(path, data={"csrf_token": csrf_from(ask.text)}).status_code == 303


def _audit_entries(app: Flask) -> list[AuditEntry]:
    with app.app_context():
        entries = list(db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
        db.session.expunge_all()
    return entries


# --- 5. every read of personal data is audited ----------------------------------------------

CONSOLE_READS = [
    ("console.moderation", "/console/moderation"),
    ("console.paper", "/console/papier"),
    ("console.participants", "/console/rassemblements/{rally}/participants"),
    ("console.participants_csv", "/console/rassemblements/{rally}/participants.csv"),
    ("console.counts", "/console/exports/{slug}/jours.csv"),
    ("console.counts", "/console/exports/{slug}/departements.xlsx"),
    ("console.counts", "/console/exports/{slug}/sources.json"),
    ("console.paper_export", "/console/exports/{slug}/papier.csv"),
    ("console.paper_export", "/console/exports/{slug}/papier.xlsx"),
    ("console.paper_export", "/console/exports/{slug}/papier.json"),
    ("console.signatories", "/console/exports/{slug}/signataires.csv"),
    ("console.signatories", "/console/exports/{slug}/signataires.xlsx"),
    ("console.dossier", "/console/petitions/{slug}/dossier.pdf?signataires=1"),
]
MEMBER_READS = [
    ("rally_admin.participants", "/organisations/espace/rassemblements/{rally}/participants"),
    (
        "rally_admin.participants_csv",
        "/organisations/espace/rassemblements/{rally}/participants.csv",
    ),
]


def _is_read_of_personal_data(rule: Rule) -> bool:
    """Routes that show people's data or hand a file out: participants, moderation queues,
    paper batches, every export, the hand-over dossier (with its list of signatories)."""
    return "GET" in rule.methods and (
        "participants" in rule.rule
        or rule.rule.startswith("/console/exports/")
        or rule.rule.endswith(".pdf")
        or rule.endpoint in {"console.moderation", "console.paper"}
    )


def test_every_route_reading_personal_data_is_in_the_audit_table(app: Flask):
    wanted = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/console/", "/organisations/espace"))
        and _is_read_of_personal_data(rule)
    }
    assert wanted == {endpoint for endpoint, _ in CONSOLE_READS + MEMBER_READS}


@pytest.mark.parametrize(("endpoint", "path"), CONSOLE_READS, ids=[p for _, p in CONSOLE_READS])
def test_each_console_read_of_personal_data_adds_one_audit_entry(
    app: Flask, client, endpoint: str, path: str
):
    world = _world(app)
    me = sign_in(app, client, Role.ADMIN)
    before = len(_audit_entries(app))

    url = path.format(rally=world.rally_id, slug=world.slug)
    assert app.url_map.bind("localhost").match(url.split("?")[0])[0] == endpoint
    response = client.get(url)
    response.get_data()  # a streamed export runs to its end
    response.close()

    assert response.status_code == 200, response.status
    new = _audit_entries(app)[before:]
    assert [(e.who, e.organiser_id) for e in new] == [(me.who, me.id)]
    assert new[0].action and new[0].rows is not None


@pytest.mark.parametrize(("endpoint", "path"), MEMBER_READS, ids=[p for _, p in MEMBER_READS])
def test_each_member_space_read_of_personal_data_adds_one_audit_entry_naming_the_organisation(
    app: Flask, client, outbox, endpoint: str, path: str
):
    world = _world(app)
    _sign_in_member(app, client, world, outbox)
    assert _audit_entries(app) == []

    url = path.format(rally=world.rally_id)
    assert app.url_map.bind("localhost").match(url)[0] == endpoint
    response = client.get(url)

    assert response.status_code == 200
    [entry] = _audit_entries(app)
    assert entry.who == f"Organisation membre : {world.member_name} (#{world.member_id})"
    assert entry.organiser_id is None
    assert entry.rows == 1
    assert entry.what == f"rassemblement {world.rally_id} Lyon"
    assert entry.action == ("export.rsvps.csv" if path.endswith(".csv") else "view.rsvps")


def test_a_refused_read_is_not_audited(app: Flask, client, outbox):
    world = _world(app)
    with app.app_context():
        stranger = make_member(db.session.get(Organisation, world.member_id).collective)
        db.session.commit()
        stranger = World(world.slug, stranger.id, stranger.name, stranger.contact_email, 0, 0)
    _sign_in_member(app, client, stranger, outbox)  # a member, not of this rally
    for _, path in MEMBER_READS:
        assert client.get(path.format(rally=world.rally_id)).status_code == 403
    assert _audit_entries(app) == []


# --- 6. pages with personal data are never cached ----------------------------------------

ARGUMENTS = {
    "breakdown": "jours",
    "fmt": "csv",
    "token": "jeton-inconnu",
    "name": "inconnu",
}


def _private_rules(app: Flask) -> list[Rule]:
    """Every route of the console and of the member space (the organisation's management
    space and its rallies, and the link that opens it)."""
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/console", "/organisations/espace", "/organisations/gerer/"))
    ]
    assert len(rules) > 25  # the console's routes and the member space's are all there
    return sorted(rules, key=lambda r: (r.rule, r.endpoint))


def _url(app: Flask, rule: Rule, world: World, organiser_id: int) -> str:
    values = {
        **ARGUMENTS,
        "slug": world.slug,
        "rally_id": world.rally_id,
        "organisation_id": world.applicant_id,
        "organiser_id": organiser_id,
    }
    with app.test_request_context():
        # Any other id (a day, a demand…): perhaps none such, and a 404 must not be cached either.
        values |= {k: 1 for k in rule.arguments if k.endswith("_id") and k not in values}
        return url_for(rule.endpoint, **{k: v for k, v in values.items() if k in rule.arguments})


def _assert_no_store_everywhere(app: Flask, client: FlaskClient, world: World, me_id: int) -> None:
    seen = {}
    for rule in _private_rules(app):
        if rule.endpoint in {"console.sign_out", "console.sign_out_everywhere"}:
            continue  # (a POST without a CSRF token does nothing; they are checked anyway)
        url = _url(app, rule, world, me_id)
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(url, method=method)
        response.close()
        seen[f"{method} {url} ({response.status_code})"] = response.headers.get("Cache-Control")
    assert {k: v for k, v in seen.items() if v != "no-store"} == {}
    for path in ("/console/deconnexion", "/console/deconnexion-partout"):
        response = client.post(path)  # no CSRF token: refused, and not cached either
        assert response.headers.get("Cache-Control") == "no-store", path


def test_no_console_or_member_space_response_is_cached_when_signed_out(app: Flask, client):
    world = _world(app)
    _assert_no_store_everywhere(app, client, world, 1)


def test_no_console_response_is_cached_when_signed_in(app: Flask, client):
    world = _world(app)
    me = sign_in(app, client, Role.ADMIN)
    _assert_no_store_everywhere(app, client, world, me.id)
    assert client.get("/console/moderation").status_code == 200  # still signed in


def test_no_member_space_response_is_cached_when_signed_in(app: Flask, client, outbox):
    world = _world(app)
    _sign_in_member(app, client, world, outbox)
    assert client.get("/organisations/espace").status_code == 200
    _assert_no_store_everywhere(app, client, world, 1)


def test_public_pages_keep_their_own_caching(app: Flask, client):
    world = _world(app)
    assert client.get("/rejoindre").headers.get("Cache-Control") != "no-store"
    page = client.get(f"/rassemblements/{world.rally_id}.ics")
    assert page.headers["Cache-Control"] == "public, max-age=300"


# --- 8. the interim moderation pages are gone --------------------------------------------

OLD_URLS = [
    "/moderation",
    "/moderation/connexion/un-ancien-jeton",
    "/moderation/12",
    "/moderation/rassemblements",
    "/moderation/rassemblements/12",
]


@pytest.mark.parametrize("path", OLD_URLS)
def test_an_old_moderation_bookmark_leads_to_the_console(client, path: str):
    response = client.get(path)

    assert response.status_code == 301
    assert response.headers["Location"] == "/console/moderation"
    assert "/console/connexion" in client.get("/console/moderation").headers["Location"]


@pytest.mark.parametrize("path", ["/moderation/12", "/moderation/rassemblements/12"])
def test_an_old_decision_form_leads_to_the_console_and_decides_nothing(
    app: Flask, client, path: str
):
    world = _world(app)
    token = csrf_from(client.get("/console/connexion").text)  # a valid token of the session
    assert token
    target = path.replace(
        "12", str(world.rally_id if "rassemblements" in path else world.applicant_id)
    )

    response = client.post(target, data={"csrf_token": token, "decision": "approve"})

    assert response.status_code == 303
    assert response.headers["Location"] == "/console/moderation"
    with app.app_context():
        assert db.session.get(Organisation, world.applicant_id).status is OrganisationStatus.PENDING


def test_the_moderation_link_command_is_gone_and_the_others_stay(app: Flask):
    runner = app.test_cli_runner()
    gone = runner.invoke(args=["organisations", "moderation-link", "--by", "Camille"])
    assert gone.exit_code != 0 and "No such command" in gone.output
    for command in ("pending", "approve", "reject"):
        assert runner.invoke(args=["organisations", command, "--help"]).exit_code == 0


def test_an_old_moderator_session_opens_nothing(app: Flask, client, outbox):
    world = _world(app)
    with client.session_transaction() as session:
        session.update({"moderator": "Camille", "moderator_until": 10**12})
    for _, path in MEMBER_READS:
        assert client.get(path.format(rally=world.rally_id)).status_code == 403
    edit = f"/organisations/espace/rassemblements/{world.rally_id}"
    assert client.get(edit).status_code == 403
    assert _audit_entries(app) == []
