"""Mobilisation days and rallies in the console: organisers create, edit and cancel them;
participants are emailed when a rally they come to is cancelled; bad input is refused in
French beside the field, with a 422 and nothing saved; nobody else gets in."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from campaign.console.models import Role
from campaign.core.audit import AuditEntry
from campaign.extensions import db
from campaign.organisations.models import Organisation
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus, Rsvp, RsvpStatus, today
from tests.console.helpers import sign_in
from tests.factories import (
    csrf_from,
    make_collective,
    make_day,
    make_member,
    make_rally,
    path_of,
    rsvp_link,
    rsvp_through_form,
)
from tests.pages import field_error, flashed, text_of

DAYS = "/console/journees"
NEW_DAY = "/console/journees/nouvelle"


# --- helpers --------------------------------------------------------------------------------


def setting(app: Flask) -> dict:
    """A collective with an upcoming day and an approved member organisation."""
    with app.app_context():
        collective = make_collective()
        day = make_day(collective, title="Journée pour l’école")
        member = make_member(collective, "Parents d’élèves")
        db.session.commit()
        return {
            "collective": collective.id,
            "day": day.id,
            "slug": day.slug,
            "date": day.date,
            "member": member.id,
            "member_name": member.name,
        }


def organiser(app: Flask, client: FlaskClient, role: Role = Role.ORGANISER) -> str:
    """Sign in as « Camille » (an organiser by default); a CSRF token."""
    return sign_in(app, client, role, name="Camille").csrf(client)


def rally_fields(s: dict, **fields: str) -> dict[str, str]:
    values = {
        "day": str(s["day"]),
        "place": "Lyon",
        "city": "",
        "venue": "Place Bellecour",
        "address": "Place Bellecour, 69002 Lyon",
        "date": s["date"].isoformat(),
        "start_time": "14:30",
        "end_time": "17:00",
        "description": "Pour l’école publique.",
        "directions": "Métro A, arrêt Bellecour.",
        "accessibility": "Accès de plain-pied.",
        "contact_name": "Camille Martin",
        "contact_email": "camille@example.org",
        "capacity": "",
        "latitude": "",
        "longitude": "",
        "organisation": str(s["member"]),
    }
    values.update(fields)
    return values


def day_fields(**fields: str) -> dict[str, str]:
    values = {
        "title": "Journée nationale de l’enfance",
        "date": (today() + timedelta(days=60)).isoformat(),
        "presentation": "Partout en France.\n\nRejoignez-nous.",
        "slug": "",
    }
    values.update(fields)
    return values


def rallies(app: Flask) -> list[Rally]:
    with app.app_context():
        found = list(db.session.execute(select(Rally).order_by(Rally.id)).scalars())
        for r in found:
            _ = r.organisations, r.day  # loaded before the session goes
        db.session.expunge_all()
        return found


def days(app: Flask) -> list[MobilisationDay]:
    with app.app_context():
        found = list(
            db.session.execute(select(MobilisationDay).order_by(MobilisationDay.id)).scalars()
        )
        db.session.expunge_all()
        return found


def audit_actions(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        return [
            (e.action, e.what)
            for e in db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        ]


def come(app: Flask, rally_id: int, outbox, email: str, name: str = "Jeanne Dupont") -> None:
    """Someone registers through the public form and opens the emailed link."""
    client = app.test_client()
    assert rsvp_through_form(client, rally_id, name=name, email=email).status_code == 303
    assert client.get(path_of(rsvp_link(outbox[-1]))).status_code == 200


def published_rally(app: Flask, s: dict, held: bool = False, **kwargs: object) -> int:
    """A published rally of the setting's day; `held` by its member organisation."""
    with app.app_context():
        day = db.session.get(MobilisationDay, s["day"])
        if held:
            kwargs["organisations"] = [db.session.get(Organisation, s["member"])]
        rally = make_rally(day, **kwargs)  # type: ignore[arg-type]
        db.session.commit()
        return rally.id


# --- who gets in ----------------------------------------------------------------------------

ANON, RALLY, ORG, ADMIN = "anonymous", "rally_organiser", "organiser", "admin"
ROUTES = [
    ("GET", DAYS),
    ("GET", NEW_DAY),
    ("POST", NEW_DAY),
    ("GET", "/console/journees/{day}"),
    ("POST", "/console/journees/{day}"),
    ("GET", "/console/journees/{day}/annuler"),
    ("POST", "/console/journees/{day}/annuler"),
    ("GET", "/console/journees/{day}/rassemblements/nouveau"),
    ("POST", "/console/journees/{day}/rassemblements/nouveau"),
    ("GET", "/console/rassemblements/{rally}/modifier"),
    ("POST", "/console/rassemblements/{rally}/modifier"),
    ("GET", "/console/rassemblements/{rally}/annuler"),
    ("POST", "/console/rassemblements/{rally}/annuler"),
]


@pytest.mark.parametrize("role", [ANON, RALLY, ORG, ADMIN])
def test_only_organisers_and_admins_get_in_on_every_route(app: Flask, role: str):
    s = setting(app)
    # The rally organiser's own organisation holds the rally: still nothing for them here.
    rally_id = published_rally(app, s, held=True)
    client = app.test_client()
    token = csrf_from(client.get("/console/connexion").text)
    if role != ANON:
        roles = {RALLY: Role.RALLY_ORGANISER, ORG: Role.ORGANISER, ADMIN: Role.ADMIN}
        token = sign_in(app, client, roles[role], organisation_id=s["member"]).csrf(client)
    found = {}
    for method, template in ROUTES:
        path = template.format(day=s["day"], rally=rally_id)
        response = (
            client.get(path) if method == "GET" else client.post(path, data={"csrf_token": token})
        )
        status = response.status_code
        if status == 302 and "/console/connexion" in response.headers.get("Location", ""):
            got = "sign-in"
        elif status in (200, 422):
            got = "in"
        else:
            got = status
        found[f"{method} {template}"] = got
    expected = {ANON: "sign-in", RALLY: 403, ORG: "in", ADMIN: "in"}[role]
    assert found == {f"{m} {t}": expected for m, t in ROUTES}
    # The empty POSTs changed nothing.
    [rally] = rallies(app)
    assert rally.status is RallyStatus.PUBLISHED
    assert [d.cancelled_at for d in days(app)] == [None]


def test_the_console_navigation_links_to_the_days_for_organisers_only(app: Flask):
    s = setting(app)
    client = app.test_client()
    organiser(app, client)
    assert 'href="/console/journees">Journées</a>' in client.get("/console/rassemblements").text
    rally_client = app.test_client()
    sign_in(app, rally_client, Role.RALLY_ORGANISER, organisation_id=s["member"])
    page = rally_client.get("/console/rassemblements").text
    assert "/console/journees" not in page
    assert "/modifier" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/console/journees/999999",
        "/console/journees/99999999999999999999",
        "/console/journees/999999/annuler",
        "/console/journees/999999/rassemblements/nouveau",
        "/console/rassemblements/999999/modifier",
        "/console/rassemblements/99999999999999999999/modifier",
        "/console/rassemblements/999999/annuler",
        "/console/journees/abc",
    ],
)
def test_unknown_days_and_rallies_are_404s(app: Flask, client: FlaskClient, path: str):
    setting(app)
    token = organiser(app, client)
    assert client.get(path).status_code == 404
    assert client.post(path, data={"csrf_token": token, "reason": "x"}).status_code == 404


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (NEW_DAY, day_fields()),
        ("/console/journees/{day}", day_fields(title="Autre titre")),
        ("/console/journees/{day}/annuler", {"reason": "Grève"}),
        ("/console/journees/{day}/rassemblements/nouveau", None),
        ("/console/rassemblements/{rally}/modifier", None),
        ("/console/rassemblements/{rally}/annuler", {"reason": "Grève"}),
    ],
)
def test_a_post_without_its_csrf_token_is_refused_and_saves_nothing(
    app: Flask, client: FlaskClient, outbox, path: str, data: dict | None
):
    s = setting(app)
    rally_id = published_rally(app, s)
    come(app, rally_id, outbox, "jeanne@example.org")
    organiser(app, client)
    sent = len(outbox)
    response = client.post(
        path.format(day=s["day"], rally=rally_id), data=data or rally_fields(s, venue="Ailleurs")
    )
    assert response.status_code == 400
    assert "Le formulaire a expiré" in text_of(response)
    [day] = days(app)
    assert (day.title, day.cancelled_at) == ("Journée pour l’école", None)
    [rally] = rallies(app)
    assert (rally.status, rally.venue) == (RallyStatus.PUBLISHED, "Place Bellecour")
    assert len(outbox) == sent


# --- days -----------------------------------------------------------------------------------


def test_an_organiser_creates_a_day_whose_address_comes_from_its_title_and_date(
    app: Flask, client: FlaskClient
):
    setting(app)
    token = organiser(app, client)
    when = today() + timedelta(days=60)
    assert client.get(NEW_DAY).status_code == 200

    done = client.post(
        NEW_DAY, data={**day_fields(date=when.strftime("%d/%m/%Y")), "csrf_token": token}
    )

    assert "Journée « Journée nationale de l’enfance » créée" in flashed(client, done)
    day = days(app)[-1]
    assert day.slug == f"journee-nationale-de-l-enfance-{when:%Y-%m-%d}"
    assert (day.title, day.date) == ("Journée nationale de l’enfance", when)
    assert day.presentation == "Partout en France.\n\nRejoignez-nous."
    assert ("day.create", f"journée {day.id} {day.slug}") in audit_actions(app)
    listing = text_of(client.get(DAYS))
    assert "Journée nationale de l’enfance" in listing and when.strftime("%d/%m/%Y") in listing
    assert client.get(f"/mobilisations/{day.slug}").status_code == 200

    # The same title on the same date: the address gets a number.
    again = client.post(NEW_DAY, data={**day_fields(date=when.isoformat()), "csrf_token": token})
    assert again.status_code == 303
    assert days(app)[-1].slug == f"journee-nationale-de-l-enfance-{when:%Y-%m-%d}-2"


def test_a_typed_address_is_kept(app: Flask, client: FlaskClient):
    setting(app)
    token = organiser(app, client)
    done = client.post(NEW_DAY, data={**day_fields(slug="mai-2030"), "csrf_token": token})
    assert done.status_code == 303
    assert days(app)[-1].slug == "mai-2030"


BAD_DAYS = [
    ("title", "", "Indiquez le titre de la journée."),
    ("title", "x" * 201, "200 caractères au maximum."),
    ("title", "Journée\u0007", "caractères invisibles ou de contrôle"),
    ("date", "", "Indiquez la date de la journée"),
    ("date", "31/02/2030", "Date invalide"),
    ("date", "past", "Cette date est passée."),
    ("presentation", "x" * 5001, "5000 caractères au maximum."),
    ("presentation", "Texte\u202eà l’envers", "caractères invisibles ou de contrôle"),
    ("slug", "Mai 2030", "Lettres minuscules sans accents"),
    ("slug", "journée", "Lettres minuscules sans accents"),
    ("slug", "taken", "Une autre journée a déjà cette adresse"),
    ("slug", "x" * 81, "80 caractères au maximum."),
]


@pytest.mark.parametrize(
    ("field", "value", "message"), BAD_DAYS, ids=[f"{f}-{v!r:.15}" for f, v, _ in BAD_DAYS]
)
def test_a_bad_day_is_refused_in_french_beside_the_field(
    app: Flask, client: FlaskClient, field: str, value: str, message: str
):
    s = setting(app)
    token = organiser(app, client)
    value = {"past": (today() - timedelta(days=1)).isoformat(), "taken": s["slug"]}.get(
        value, value
    )

    response = client.post(NEW_DAY, data={**day_fields(**{field: value}), "csrf_token": token})

    assert response.status_code == 422
    error = field_error(response, field)
    assert error is not None and message in error, error
    assert len(days(app)) == 1  # the setting's only
    assert [a for a, _ in audit_actions(app)] == []


def test_editing_a_day_moves_its_rallies_along_and_keeps_its_address(
    app: Flask, client: FlaskClient
):
    s = setting(app)
    rally_id = published_rally(app, s)
    token = organiser(app, client)
    page = text_of(client.get(f"/console/journees/{s['day']}"))
    assert "Journée pour l’école" in page and "Lyon" in page
    later = s["date"] + timedelta(days=7)

    done = client.post(
        f"/console/journees/{s['day']}",
        data={
            **day_fields(title="Journée reportée", date=later.isoformat()),
            "csrf_token": token,
        },
    )

    assert "1 rassemblement déplacé à la nouvelle date" in flashed(client, done)
    [day] = days(app)
    assert (day.title, day.date, day.slug) == ("Journée reportée", later, s["slug"])
    [rally] = rallies(app)
    assert (rally.id, rally.date) == (rally_id, later)
    assert ("day.update", f"journée {day.id} {day.slug}") in audit_actions(app)


def test_a_day_cannot_take_another_days_address(app: Flask, client: FlaskClient):
    s = setting(app)
    with app.app_context():
        other = make_day(db.session.get(MobilisationDay, s["day"]).collective)
        db.session.commit()
        other_slug = other.slug
    token = organiser(app, client)
    response = client.post(
        f"/console/journees/{s['day']}",
        data={**day_fields(slug=other_slug), "csrf_token": token},
    )
    assert response.status_code == 422
    assert "Une autre journée a déjà cette adresse" in field_error(response, "slug")
    assert days(app)[0].slug == s["slug"]


def test_a_past_day_keeps_its_date_when_its_title_is_fixed(app: Flask, client: FlaskClient):
    with app.app_context():
        past = make_day(make_collective(), when=today() - timedelta(days=10))
        db.session.commit()
        day_id, when = past.id, past.date
    token = organiser(app, client)
    done = client.post(
        f"/console/journees/{day_id}",
        data={**day_fields(title="Titre corrigé", date=when.isoformat()), "csrf_token": token},
    )
    assert done.status_code == 303
    assert days(app)[0].title == "Titre corrigé"


# --- adding and editing rallies -------------------------------------------------------------


def test_a_rally_added_in_the_console_is_published_at_once_and_found_by_the_public(
    app: Flask, client: FlaskClient
):
    member = setting(app)["member"]
    token = organiser(app, client)
    when = today() + timedelta(days=45)
    made = client.post(
        NEW_DAY,
        data={**day_fields(title="Journée de Lyon", date=when.isoformat()), "csrf_token": token},
    )
    day = days(app)[-1]
    s = {"day": day.id, "date": when, "member": member}
    assert made.status_code == 303
    form = client.get(f"/console/journees/{day.id}/rassemblements/nouveau")
    assert form.status_code == 200
    assert f'value="{when.isoformat()}"' in form.text  # the day's date by default
    # The finder's suggestions, without inline script.
    assert 'list="commune-suggestions"' in form.text and "js/rallies.js" in form.text

    done = client.post(
        f"/console/journees/{day.id}/rassemblements/nouveau",
        data={**rally_fields(s, place="Lyon (69)", capacity="200"), "csrf_token": token},
    )

    assert "Rassemblement de Lyon publié." in flashed(client, done)
    [rally] = rallies(app)
    assert rally.status is RallyStatus.PUBLISHED
    assert (rally.city, rally.commune_insee, rally.departement) == ("Lyon", "69123", "69")
    assert (rally.date, rally.start_time, rally.end_time) == (when, time(14, 30), time(17, 0))
    assert (rally.capacity, rally.directions) == (200, "Métro A, arrêt Bellecour.")
    assert rally.decided_by == "Camille" and rally.decided_at is not None
    assert [o.id for o in rally.organisations] == [s["member"]]
    assert ("rally.create", f"rassemblement {rally.id} Lyon ({day.slug})") in audit_actions(app)

    found = text_of(app.test_client().get("/rassemblements?q=69002"))
    assert f"/rassemblements/{rally.id}" in found and "Place Bellecour" in found
    assert f"/rassemblements/{rally.id}" in app.test_client().get(f"/mobilisations/{day.slug}").text
    assert app.test_client().get(f"/rassemblements/{rally.id}").status_code == 200


def test_a_rally_without_times_or_organisation_is_a_preciser(app: Flask, client: FlaskClient):
    s = setting(app)
    token = organiser(app, client)
    done = client.post(
        f"/console/journees/{s['day']}/rassemblements/nouveau",
        data={
            **rally_fields(s, start_time="", end_time="", venue="", organisation=""),
            "csrf_token": token,
        },
    )
    assert done.status_code == 303
    [rally] = rallies(app)
    assert (rally.start_time, rally.end_time, rally.venue, rally.organisations) == (
        None,
        None,
        "",
        [],
    )
    assert "horaire à préciser" in text_of(app.test_client().get(f"/rassemblements/{rally.id}"))


BAD_RALLIES = [
    ("place", "Xyzzy", "Aucune commune ne s’appelle « Xyzzy »"),
    ("place", "00000", "Le code postal 00000 n’existe pas"),
    ("place", "750", "Un code postal a 5 chiffres"),
    ("place", "", "Indiquez la commune du rassemblement."),
    ("place", "Saint-Denis", "Plusieurs communes correspondent"),
    ("place", "01400", "Plusieurs communes correspondent"),
    ("date", "other", "La date doit être celle de la journée choisie"),
    ("date", "31/02/2030", "Indiquez la date"),
    ("end_time", "13:00", "L’heure de fin doit suivre l’heure de début."),
    ("end_time", "14:30", "L’heure de fin doit suivre l’heure de début."),
    ("start_time", "25:99", "Heure invalide"),
    ("capacity", "-5", "Un nombre entre 1 et 1 000 000."),
    ("capacity", "0", "Un nombre entre 1 et 1 000 000."),
    ("capacity", "1000001", "Un nombre entre 1 et 1 000 000."),
    ("capacity", "99999999999999999999", "Indiquez un nombre entier"),
    ("capacity", "beaucoup", "Indiquez un nombre entier"),
    ("venue", "x" * 201, "200 caractères au maximum."),
    ("address", "x" * 301, "300 caractères au maximum."),
    ("city", "x" * 121, "120 caractères au maximum."),
    ("description", "x" * 1001, "1000 caractères au maximum."),
    ("contact_name", "=HYPERLINK(1)", "Ce texte ne peut pas commencer par =, +, - ou @."),
    ("contact_email", "pas-une-adresse", "Adresse e-mail invalide"),
    ("venue", "Place\u0000Bellecour", "caractères invisibles ou de contrôle"),
    ("organisation", "999999", "Choisissez une organisation dans la liste."),
    ("day", "999999", "Choisissez une journée dans la liste."),
    ("latitude", "95", "Coordonnées invalides"),
]


@pytest.mark.parametrize(
    ("field", "value", "message"), BAD_RALLIES, ids=[f"{f}-{v!r:.15}" for f, v, _ in BAD_RALLIES]
)
def test_a_bad_rally_is_refused_in_french_beside_the_field_and_saves_nothing(
    app: Flask, client: FlaskClient, field: str, value: str, message: str
):
    s = setting(app)
    token = organiser(app, client)
    if value == "other":
        value = (s["date"] + timedelta(days=1)).isoformat()
    fields = {field: value}
    if field == "latitude":
        fields["longitude"] = "4.8357"

    response = client.post(
        f"/console/journees/{s['day']}/rassemblements/nouveau",
        data={**rally_fields(s, **fields), "csrf_token": token},
    )

    assert response.status_code == 422
    error = field_error(response, field)
    assert error is not None and message in error, error
    kept = "Métro A, arrêt Bellecour." if field == "description" else "Pour l’école publique."
    assert kept in text_of(response)  # what was typed stays
    assert rallies(app) == []
    assert [a for a, _ in audit_actions(app)] == []


def test_homonyms_are_offered_and_the_one_picked_is_saved(app: Flask, client: FlaskClient):
    s = setting(app)
    token = organiser(app, client)
    path = f"/console/journees/{s['day']}/rassemblements/nouveau"

    ambiguous = client.post(
        path, data={**rally_fields(s, place="Saint-Denis"), "csrf_token": token}
    )

    assert ambiguous.status_code == 422
    page = text_of(ambiguous)
    for label, insee in (("Saint-Denis (93)", "93066"), ("Saint-Denis (974)", "97411")):
        assert label in page
        assert f'name="homonym" value="{insee}"' in ambiguous.text
    assert rallies(app) == []

    picked = client.post(
        path,
        data={**rally_fields(s, place="Saint-Denis", homonym="93066"), "csrf_token": token},
    )

    assert picked.status_code == 303
    [rally] = rallies(app)
    assert (rally.city, rally.commune_insee, rally.departement) == ("Saint-Denis", "93066", "93")


def test_a_cancelled_or_past_day_takes_no_new_rally(app: Flask, client: FlaskClient):
    s = setting(app)
    with app.app_context():
        collective = db.session.get(MobilisationDay, s["day"]).collective
        past = make_day(collective, when=today() - timedelta(days=2))
        db.session.get(MobilisationDay, s["day"]).cancelled_at = past.created_at
        db.session.commit()
        past_id = past.id
    token = organiser(app, client)
    for day_id, word in ((s["day"], "annulée"), (past_id, "passée")):
        path = f"/console/journees/{day_id}/rassemblements/nouveau"
        refused = client.post(path, data={**rally_fields(s), "csrf_token": token})
        assert f"Cette journée est {word}" in flashed(client, refused)
    assert rallies(app) == []


def test_an_organiser_edits_any_rally_and_more_places_move_the_waiting_list_up(
    app: Flask, client: FlaskClient, outbox
):
    s = setting(app)
    rally_id = published_rally(app, s, capacity=1)
    come(app, rally_id, outbox, "jeanne@example.org")
    come(app, rally_id, outbox, "paul@example.org", name="Paul Martin")
    with app.app_context():
        statuses = dict(db.session.execute(select(Rsvp.email, Rsvp.status)).all())
    assert statuses["paul@example.org"] is RsvpStatus.WAITLISTED
    token = organiser(app, client)
    form = client.get(f"/console/rassemblements/{rally_id}/modifier")
    assert form.status_code == 200
    assert 'value="Lyon (69)"' in form.text
    assert "ne sont pas prévenues par e-mail d’un changement" in text_of(form)
    sent = len(outbox)

    done = client.post(
        f"/console/rassemblements/{rally_id}/modifier",
        data={
            **rally_fields(s, capacity="2", venue="Place des Terreaux", organisation=""),
            "csrf_token": token,
        },
    )

    assert "1 personne de la liste d’attente a maintenant une place" in flashed(client, done)
    [rally] = rallies(app)
    assert (rally.capacity, rally.venue, rally.status) == (2, "Place des Terreaux", "published")
    with app.app_context():
        statuses = dict(db.session.execute(select(Rsvp.email, Rsvp.status)).all())
    assert statuses["paul@example.org"] is RsvpStatus.CONFIRMED
    told = outbox[sent:]
    assert [m.recipients for m in told] == [["paul@example.org"]]
    assert told[0].subject == "Une place s’est libérée : rassemblement à Lyon"
    assert ("rally.update", f"rassemblement {rally_id} Lyon ({s['slug']})") in audit_actions(app)


def test_a_proposal_edited_in_the_console_still_waits_for_moderation(
    app: Flask, client: FlaskClient
):
    s = setting(app)
    rally_id = published_rally(app, s, held=True, status=RallyStatus.PROPOSED)
    token = organiser(app, client)
    form = client.get(f"/console/rassemblements/{rally_id}/modifier")
    assert f'<option selected value="{s["member"]}">' in form.text  # its holder

    done = client.post(
        f"/console/rassemblements/{rally_id}/modifier",
        data={**rally_fields(s, venue="Parc de la Tête d’Or"), "csrf_token": token},
    )

    assert done.status_code == 303
    [rally] = rallies(app)
    assert (rally.status, rally.venue) == (RallyStatus.PROPOSED, "Parc de la Tête d’Or")
    assert [o.id for o in rally.organisations] == [s["member"]]
    assert app.test_client().get(f"/rassemblements/{rally_id}").status_code == 404


def test_a_bad_edit_saves_nothing(app: Flask, client: FlaskClient):
    s = setting(app)
    rally_id = published_rally(app, s)
    token = organiser(app, client)
    response = client.post(
        f"/console/rassemblements/{rally_id}/modifier",
        data={**rally_fields(s, venue="Ailleurs", end_time="12:00"), "csrf_token": token},
    )
    assert response.status_code == 422
    assert "L’heure de fin doit suivre" in field_error(response, "end_time")
    [rally] = rallies(app)
    assert rally.venue == "Place Bellecour"


# --- cancelling -----------------------------------------------------------------------------


def test_cancelling_a_rally_needs_a_reason_then_emails_each_participant(
    app: Flask, client: FlaskClient, outbox
):
    s = setting(app)
    rally_id = published_rally(app, s)
    come(app, rally_id, outbox, "jeanne@example.org")
    come(app, rally_id, outbox, "paul@example.org", name="Paul Martin")
    token = organiser(app, client)
    path = f"/console/rassemblements/{rally_id}/annuler"
    page = text_of(client.get(path))
    assert "Ses 2 participants confirmés" in page
    sent = len(outbox)

    for reason in ("", "   ", "x" * 1001):
        bare = client.post(path, data={"csrf_token": token, "reason": reason})
        assert bare.status_code == 422
        assert field_error(bare, "reason")
    assert rallies(app)[0].status is RallyStatus.PUBLISHED
    assert len(outbox) == sent

    done = client.post(path, data={"csrf_token": token, "reason": "Arrêté préfectoral"})

    assert "Rassemblement de Lyon annulé" in flashed(client, done)
    [rally] = rallies(app)
    assert (rally.status, rally.status_note, rally.decided_by) == (
        RallyStatus.CANCELLED,
        "Arrêté préfectoral",
        "Camille",
    )
    told = outbox[sent:]
    assert sorted(m.recipients[0] for m in told) == ["jeanne@example.org", "paul@example.org"]
    assert all(m.subject == "Rassemblement annulé : Lyon" for m in told)
    assert all("Motif : Arrêté préfectoral" in m.body for m in told)
    assert ("rally.cancel", f"rassemblement {rally_id} Lyon ({s['slug']})") in audit_actions(app)

    # Cancelled already: nothing more happens, nobody is emailed again.
    again = client.post(path, data={"csrf_token": token, "reason": "Encore"})
    assert "Seul un rassemblement publié peut être annulé." in flashed(client, again)
    assert len(outbox) == sent + 2


def test_cancelling_a_day_cancels_its_rallies_and_tells_their_participants(
    app: Flask, client: FlaskClient, outbox
):
    s = setting(app)
    lyon = published_rally(app, s)
    paris = published_rally(app, s, commune="75056", venue="Place de la République")
    with app.app_context():
        day = db.session.get(MobilisationDay, s["day"])
        proposed = make_rally(day, "13055", status=RallyStatus.PROPOSED).id
        db.session.commit()
    come(app, lyon, outbox, "jeanne@example.org")
    come(app, paris, outbox, "paul@example.org", name="Paul Martin")
    token = organiser(app, client)
    path = f"/console/journees/{s['day']}/annuler"
    assert "ses 2 rassemblements publiés sont annulés" in text_of(client.get(path))
    sent = len(outbox)

    bare = client.post(path, data={"csrf_token": token, "reason": ""})
    assert bare.status_code == 422
    assert "Indiquez le motif" in field_error(bare, "reason")
    assert days(app)[0].cancelled_at is None and len(outbox) == sent

    done = client.post(path, data={"csrf_token": token, "reason": "Alerte météo"})

    assert "Journée annulée, et avec elle 2 rassemblements publiés" in flashed(client, done)
    [day] = days(app)
    assert day.cancelled_at is not None and day.cancel_reason == "Alerte météo"
    status = {r.id: (r.status, r.status_note) for r in rallies(app)}
    assert status[lyon] == status[paris] == (RallyStatus.CANCELLED, "Alerte météo")
    assert status[proposed][0] is RallyStatus.PROPOSED  # still the moderators' to decide
    told = sorted((m.recipients[0], m.subject) for m in outbox[sent:])
    assert told == [
        ("jeanne@example.org", "Rassemblement annulé : Lyon"),
        ("paul@example.org", "Rassemblement annulé : Paris"),
    ]
    assert ("day.cancel", f"journée {day.id} {day.slug} (2 rassemblements annulés)") in (
        audit_actions(app)
    )

    public = text_of(app.test_client().get(f"/mobilisations/{s['slug']}"))
    assert "Cette journée est annulée. Motif : Alerte météo" in public
    assert "Annulée" in public and f"/rassemblements/{lyon}" in public
    finder = text_of(app.test_client().get("/rassemblements"))
    assert "Cette journée est annulée. Motif : Alerte météo" in finder
    assert "Annulée" in text_of(client.get(DAYS))

    again = client.post(path, data={"csrf_token": token, "reason": "Encore"})
    assert "Cette journée est déjà annulée." in flashed(client, again)
    assert len(outbox) == sent + 2


def test_the_console_rally_list_links_to_editing_and_cancelling(app: Flask, client: FlaskClient):
    s = setting(app)
    rally_id = published_rally(app, s)
    organiser(app, client)
    page = client.get("/console/rassemblements").text
    assert f"/console/rassemblements/{rally_id}/modifier" in page
    assert f"/console/rassemblements/{rally_id}/annuler" in page
    day_page = client.get(f"/console/journees/{s['day']}").text
    assert f"/console/journees/{s['day']}/rassemblements/nouveau" in day_page
    assert f"/console/rassemblements/{rally_id}/modifier" in day_page


def test_odd_unicode_in_a_day_title_is_kept_as_typed(app: Flask, client: FlaskClient):
    setting(app)
    token = organiser(app, client)
    title = "Journée 🌍 « Enfance » — Ꙃ"
    done = client.post(NEW_DAY, data={**day_fields(title=title), "csrf_token": token})
    assert done.status_code == 303
    day = days(app)[-1]
    assert day.title == title
    assert re.fullmatch(r"journee-enfance-\d{4}-\d{2}-\d{2}", day.slug), day.slug
