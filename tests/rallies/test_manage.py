"""Rallies behind a sign-in: a member organisation proposes, edits and runs its rallies, sees
who is coming and downloads the list; the collective's organisers publish or refuse them
in the console; nobody else gets in."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import time, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from campaign.console.models import Role
from campaign.extensions import db
from campaign.organisations import services as organisation_services
from campaign.organisations.models import Organisation
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus, Rsvp, RsvpStatus, today
from tests.conftest import PUBLIC_URL
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

MANAGE_LINK = re.compile(r"https?://\S+/organisations/gerer/[A-Za-z0-9_.-]+")
NEW = "/organisations/espace/rassemblements/nouveau"
QUEUE = "/console/moderation"
MODERATION = "/console/moderation/rassemblements"  # + /<id>: a decision


# --- helpers ---------------------------------------------------------------------------


def setting(app: Flask) -> dict:
    """A collective with an upcoming day and two member organisations."""
    with app.app_context():
        collective = make_collective()
        day = make_day(collective, title="Journée pour l’école")
        member = make_member(collective, "Parents d’élèves")
        other = make_member(collective, "Amis de l’école")
        db.session.commit()
        return {
            "day": day.id,
            "date": day.date,
            "member": member.id,
            "member_name": member.name,
            "member_email": member.contact_email,
            "other": other.id,
        }


def sign_in_member(app: Flask, client: FlaskClient, organisation_id: int, outbox) -> str:
    """Open the organisation's management space through an emailed link; a CSRF token."""
    with app.app_context():
        email = db.session.get(Organisation, organisation_id).contact_email
        organisation_services.send_manage_links(email)
        db.session.commit()
    path = MANAGE_LINK.search(outbox[-1].body).group(0).removeprefix(PUBLIC_URL)
    ask = client.get(path)
    assert ask.status_code == 200
    assert client.post(path, data={"csrf_token": csrf_from(ask.text)}).status_code == 303
    return csrf_from(client.get("/organisations/espace").text)


def sign_in_moderator(app: Flask, client: FlaskClient) -> str:
    """Sign in to the console as the organiser « Camille »; a CSRF token."""
    return sign_in(app, client, Role.ORGANISER, name="Camille").csrf(client)


def proposal(s: dict, **fields: str) -> dict[str, str]:
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
        "accessibility": "Accès de plain-pied.",
        "contact_name": "Camille Martin",
        "contact_email": "camille@example.org",
        "capacity": "",
        "latitude": "",
        "longitude": "",
    }
    values.update(fields)
    return values


def saved(app: Flask) -> list[dict]:
    """Every rally in the database, as the fields the tests look at."""
    with app.app_context():
        found = db.session.execute(select(Rally).order_by(Rally.id)).scalars()
        return [
            {
                "id": r.id,
                "status": r.status,
                "city": r.city,
                "commune_insee": r.commune_insee,
                "start_time": r.start_time,
                "end_time": r.end_time,
                "organisations": [o.id for o in r.organisations],
                "proposed_by": r.proposed_by_id,
                "status_note": r.status_note,
                "decided_by": r.decided_by,
            }
            for r in found
        ]


def new_rally(app: Flask, s: dict, organisation: str = "member", **kwargs: object) -> int:
    """A published rally of the day, run by one of the two member organisations."""
    with app.app_context():
        runner = db.session.get(Organisation, s[organisation])
        day = db.session.get(MobilisationDay, s["day"])
        rally = make_rally(day, organisations=[runner], **kwargs)  # type: ignore[arg-type]
        db.session.commit()
        return rally.id


def status_of(app: Flask, rally_id: int) -> RallyStatus:
    with app.app_context():
        return db.session.get(Rally, rally_id).status


def come(app: Flask, rally_id: int, outbox, confirm: bool = True, **fields: str) -> None:
    """Someone registers through the public form, and opens the emailed link if `confirm`."""
    client = app.test_client()
    assert rsvp_through_form(client, rally_id, **fields).status_code == 303
    if confirm:
        assert client.get(path_of(rsvp_link(outbox[-1]))).status_code == 200


# --- proposing -------------------------------------------------------------------------------


def test_a_member_proposes_a_rally_that_waits_for_the_organisers(app, client, outbox):
    s = setting(app)
    token = sign_in_member(app, client, s["member"], outbox)
    form = client.get(NEW)
    assert form.status_code == 200
    assert f'<option value="{s["day"]}">Journée pour l’école' in text_of(form)

    response = client.post(NEW, data={**proposal(s), "csrf_token": token})

    assert "Rassemblement proposé" in flashed(client, response)
    assert response.headers["Location"] == "/organisations/espace"
    [rally] = saved(app)
    assert rally["status"] is RallyStatus.PROPOSED
    assert (rally["city"], rally["commune_insee"]) == ("Lyon", "69123")
    assert (rally["start_time"], rally["end_time"]) == (time(14, 30), time(17, 0))
    assert rally["organisations"] == [s["member"]]
    assert rally["proposed_by"] == s["member"]
    assert client.get(f"/rassemblements/{rally['id']}").status_code == 404
    assert app.test_client().get(f"/rassemblements/{rally['id']}").status_code == 404
    space = text_of(client.get("/organisations/espace"))
    assert "Lyon" in space and "En attente de validation" in space
    assert f"/organisations/espace/rassemblements/{rally['id']}/participants" in space


def test_the_exact_position_typed_is_kept(app, client, outbox):
    s = setting(app)
    token = sign_in_member(app, client, s["member"], outbox)
    client.post(
        NEW,
        data={**proposal(s, latitude="45,7578", longitude="4.8320"), "csrf_token": token},
    )
    with app.app_context():
        rally = db.session.execute(select(Rally)).scalar_one()
        assert (rally.latitude, rally.longitude) == (45.7578, 4.832)


BAD_PROPOSALS = [
    ("place", "Xyzzy", "Commune inconnue : vérifiez le nom ou le code postal."),
    ("place", "Saint-Denis", "Plusieurs communes correspondent"),
    ("place", "", "Indiquez la commune du rassemblement."),
    ("end_time", "13:00", "L’heure de fin doit suivre l’heure de début."),
    ("date", "past", "Cette date est passée."),
    ("date", "31/02/2030", "Indiquez la date"),
    ("latitude", "abc", "Coordonnées invalides"),
    ("latitude", "95", "Coordonnées invalides"),
    ("longitude", "200", "Coordonnées invalides"),
    ("longitude", "", "Coordonnées invalides"),  # a latitude alone
    ("day", "999999", "Choisissez une journée dans la liste."),
    ("capacity", "0", "Un nombre entre 1 et 1 000 000."),
    ("venue", "=HYPERLINK(1)", "Ce texte ne peut pas commencer par =, +, - ou @."),
    ("contact_email", "pas-une-adresse", "Adresse e-mail invalide"),
]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    BAD_PROPOSALS,
    ids=[f"{f}-{v!r:.20}" for f, v, _ in BAD_PROPOSALS],
)
def test_a_bad_proposal_is_refused_in_french_beside_the_field_and_keeps_what_was_typed(
    app, client, outbox, field, value, message
):
    s = setting(app)
    token = sign_in_member(app, client, s["member"], outbox)
    if value == "past":
        value = (today() - timedelta(days=1)).isoformat()
    fields = {field: value}
    if field == "latitude":
        fields["longitude"] = "4.8357"
    if field == "longitude":
        fields["latitude"] = "45.7640"

    response = client.post(NEW, data={**proposal(s, **fields), "csrf_token": token})

    assert response.status_code == 422
    error = field_error(response, field)
    assert error is not None, f"no error shown beside {field}"
    assert message in error
    page = response.text
    if field != "day":
        assert f'value="{html.escape(value, quote=True)}"' in page
    for name, typed in (("venue", "Place Bellecour"), ("contact_name", "Camille Martin")):
        if name != field:
            assert re.search(rf'name="{name}"[^>]*value="{typed}"', page), name
    assert "Pour l’école publique." in text_of(response)
    assert saved(app) == []


def test_a_day_that_is_over_takes_no_more_proposals(app, client, outbox):
    with app.app_context():
        collective = make_collective()
        past = make_day(collective, when=today() - timedelta(days=3))
        member = make_member(collective)
        db.session.commit()
        member_id, s = member.id, {"day": past.id, "date": today() + timedelta(days=3)}
    token = sign_in_member(app, client, member_id, outbox)
    page = text_of(client.get(NEW))
    assert "Aucune journée de mobilisation n’est annoncée" in page
    assert 'name="place"' not in page

    forced = client.post(NEW, data={**proposal(s), "csrf_token": token})
    assert forced.status_code == 422
    assert "Aucune journée de mobilisation n’est annoncée" in text_of(forced)
    assert saved(app) == []


# --- moderation ------------------------------------------------------------------------------


def _proposed(app: Flask, s: dict, client: FlaskClient, outbox) -> int:
    token = sign_in_member(app, client, s["member"], outbox)
    client.post(NEW, data={**proposal(s), "csrf_token": token})
    [rally] = saved(app)
    return rally["id"]


def test_a_moderator_publishes_a_proposal_and_the_organisation_is_told(app, client, outbox):
    s = setting(app)
    rally_id = _proposed(app, s, app.test_client(), outbox)
    token = sign_in_moderator(app, client)

    listed = text_of(client.get(QUEUE))
    assert "Rassemblements proposés (1)" in listed
    assert "Lyon (69) — Journée pour l’école" in listed
    assert s["member_name"] in listed

    response = client.post(
        f"{MODERATION}/{rally_id}", data={"csrf_token": token, "decision": "publish"}
    )

    assert "Rassemblement de Lyon publié." in flashed(client, response)
    [rally] = saved(app)
    assert (rally["status"], rally["decided_by"]) == (RallyStatus.PUBLISHED, "Camille")
    assert outbox[-1].recipients == [s["member_email"]]
    assert outbox[-1].subject == "Votre rassemblement à Lyon est publié"
    assert f"{PUBLIC_URL}/rassemblements/{rally_id}" in outbox[-1].body
    assert app.test_client().get(f"/rassemblements/{rally_id}").status_code == 200


def test_a_refusal_needs_a_reason_which_is_sent_to_the_organisation(app, client, outbox):
    s = setting(app)
    rally_id = _proposed(app, s, app.test_client(), outbox)
    token = sign_in_moderator(app, client)
    sent = len(outbox)

    bare = client.post(
        f"{MODERATION}/{rally_id}", data={"csrf_token": token, "decision": "refuse", "reason": " "}
    )
    assert "Indiquez le motif du refus" in flashed(client, bare)
    assert status_of(app, rally_id) is RallyStatus.PROPOSED
    assert len(outbox) == sent

    client.post(
        f"{MODERATION}/{rally_id}",
        data={"csrf_token": token, "decision": "refuse", "reason": "Doublon avec Lyon 3e"},
    )
    [rally] = saved(app)
    assert (rally["status"], rally["status_note"]) == (RallyStatus.REFUSED, "Doublon avec Lyon 3e")
    assert outbox[-1].subject == "Votre rassemblement à Lyon est refusé"
    assert "Motif : Doublon avec Lyon 3e" in outbox[-1].body
    assert app.test_client().get(f"/rassemblements/{rally_id}").status_code == 404


def test_a_proposal_is_decided_once(app, client, outbox):
    s = setting(app)
    rally_id = _proposed(app, s, app.test_client(), outbox)
    token = sign_in_moderator(app, client)
    publish = {"csrf_token": token, "decision": "publish"}
    client.post(f"{MODERATION}/{rally_id}", data=publish)
    sent = len(outbox)

    again = client.post(
        f"{MODERATION}/{rally_id}", data={**publish, "decision": "refuse", "reason": "Non"}
    )

    assert "Cette proposition a déjà été traitée." in flashed(client, again)
    assert status_of(app, rally_id) is RallyStatus.PUBLISHED
    assert len(outbox) == sent
    # An id no database column can hold is no route at all.
    assert client.post(f"{MODERATION}/99999999999999999999", data=publish).status_code == 404


@pytest.mark.parametrize("decision", [None, "", "approve", "PUBLISH", "delete"])
def test_a_decision_other_than_publish_or_refuse_is_a_400(app, client, outbox, decision):
    s = setting(app)
    rally_id = _proposed(app, s, app.test_client(), outbox)
    token = sign_in_moderator(app, client)
    data = {"csrf_token": token, "reason": "x"}
    if decision is not None:
        data["decision"] = decision
    assert client.post(f"{MODERATION}/{rally_id}", data=data).status_code == 400
    assert status_of(app, rally_id) is RallyStatus.PROPOSED


# --- who may do what ---------------------------------------------------------------------------


def test_anonymous_visitors_are_refused_everywhere(app, client, outbox):
    s = setting(app)
    rally_id = new_rally(app, s)
    # A valid token of the visitor's session (the public pages have none): refused anyway.
    token = csrf_from(client.get("/console/connexion").text)
    assert token
    base = f"/organisations/espace/rassemblements/{rally_id}"

    for path in (NEW, base, f"{base}/participants", f"{base}/participants.csv"):
        assert client.get(path).status_code == 403, path
    for path, data in (
        (NEW, proposal(s)),
        (base, proposal(s)),
        (f"{base}/annuler", {"reason": "Pluie"}),
    ):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    decided = client.post(f"{MODERATION}/{rally_id}", data={"csrf_token": token, "decision": "x"})
    assert "/console/connexion" in decided.headers["Location"]
    assert [r["status"] for r in saved(app)] == [RallyStatus.PUBLISHED]


def test_a_member_organisation_cannot_touch_a_rally_it_does_not_run(app, client, outbox):
    s = setting(app)
    theirs = new_rally(app, s, "other")
    come(app, theirs, outbox, name="Jeanne Dupont", email="jeanne@example.org")
    token = sign_in_member(app, client, s["member"], outbox)
    base = f"/organisations/espace/rassemblements/{theirs}"

    for path in (base, f"{base}/participants", f"{base}/participants.csv"):
        assert client.get(path).status_code == 403, path
    for path, data in (
        (base, proposal(s, start_time="09:00", end_time="")),
        (f"{base}/annuler", {"reason": "Pluie"}),
    ):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    # A member is no organiser of the collective: the console asks it to sign in.
    decided = client.post(f"{MODERATION}/{theirs}", data={"csrf_token": token, "decision": "x"})
    assert "/console/connexion" in decided.headers["Location"]
    [rally] = saved(app)
    assert (rally["status"], rally["start_time"]) == (RallyStatus.PUBLISHED, time(14, 30))
    assert "/participants" not in text_of(client.get("/organisations/espace"))
    unknown = "/organisations/espace/rassemblements/99999999999999999999"
    assert client.get(unknown).status_code == 404


# --- participants, the CSV, cancelling ---------------------------------------------------------


def test_the_organiser_sees_who_is_coming_and_downloads_a_safe_spreadsheet(app, client, outbox):
    s = setting(app)
    rally_id = new_rally(app, s, capacity=1)
    phone = "+33 6 12 34 56 78"
    come(app, rally_id, outbox, name="Jeanne Dupont", email="jeanne@example.org", phone=phone)
    come(app, rally_id, outbox, name="Paul Martin", email="paul@example.org")
    come(app, rally_id, outbox, confirm=False, name="Léa Roux", email="lea@example.org")
    # A name that would be a formula in a spreadsheet never gets in.
    formula = '=HYPERLINK("http://x.example";"Clic")'
    sneaky = rsvp_through_form(app.test_client(), rally_id, name=formula, email="x@example.org")
    assert sneaky.status_code == 422
    sign_in_member(app, client, s["member"], outbox)

    page = text_of(client.get(f"/organisations/espace/rassemblements/{rally_id}/participants"))
    assert "<strong>1</strong> confirmé sur 1 place, 1 en liste d’attente" in page
    assert "Jeanne Dupont" in page and "Paul Martin" in page
    assert "Léa Roux" not in page and "HYPERLINK" not in page

    response = client.get(f"/organisations/espace/rassemblements/{rally_id}/participants.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="participants-rassemblement-{rally_id}.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Nom", "E-mail", "Téléphone", "Statut", "Confirmé le", "Source"]
    people = {row[1]: row for row in rows[1:]}
    assert set(people) == {"jeanne@example.org", "paul@example.org"}
    jeanne, paul = people["jeanne@example.org"], people["paul@example.org"]
    assert jeanne[0] == "Jeanne Dupont"
    assert jeanne[2] == "'+33 6 12 34 56 78"  # a leading + would make a formula
    assert (jeanne[3], paul[3]) == ("confirmé", "liste d’attente")
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", jeanne[4])
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_cancelling_needs_a_reason_and_then_tells_every_participant(app, client, outbox):
    s = setting(app)
    rally_id = new_rally(app, s, capacity=1)
    come(app, rally_id, outbox, name="Jeanne Dupont", email="jeanne@example.org")
    come(app, rally_id, outbox, name="Paul Martin", email="paul@example.org")
    come(app, rally_id, outbox, confirm=False, name="Léa Roux", email="lea@example.org")
    token = sign_in_member(app, client, s["member"], outbox)
    participants = f"/organisations/espace/rassemblements/{rally_id}/participants"
    assert "Annuler le rassemblement" in text_of(client.get(participants))
    sent = len(outbox)

    bare = client.post(
        f"/organisations/espace/rassemblements/{rally_id}/annuler",
        data={"csrf_token": token, "reason": "  "},
    )
    assert "Indiquez le motif de l’annulation" in flashed(client, bare)
    assert status_of(app, rally_id) is RallyStatus.PUBLISHED
    assert len(outbox) == sent

    done = client.post(
        f"/organisations/espace/rassemblements/{rally_id}/annuler",
        data={"csrf_token": token, "reason": "Arrêté préfectoral"},
    )

    assert "Rassemblement annulé : les participants sont prévenus" in flashed(client, done)
    [rally] = saved(app)
    assert (rally["status"], rally["status_note"]) == (RallyStatus.CANCELLED, "Arrêté préfectoral")
    assert rally["decided_by"] == s["member_name"]
    told = outbox[sent:]
    assert sorted(m.recipients[0] for m in told) == ["jeanne@example.org", "paul@example.org"]
    assert all(m.subject == "Rassemblement annulé : Lyon" for m in told)
    assert all("Motif : Arrêté préfectoral" in m.body for m in told)
    public = text_of(app.test_client().get(f"/rassemblements/{rally_id}"))
    assert "Ce rassemblement est annulé. Motif : Arrêté préfectoral" in public
    assert "Annuler le rassemblement" not in text_of(client.get(participants))
    with app.app_context():  # the list stays, for the organisers to reach people if needed
        assert db.session.query(Rsvp).filter(Rsvp.status != RsvpStatus.PENDING).count() == 2


def test_editing_a_rally_changes_what_the_public_page_says(app, client, outbox):
    s = setting(app)
    rally_id = new_rally(app, s)
    token = sign_in_member(app, client, s["member"], outbox)
    path = f"/organisations/espace/rassemblements/{rally_id}"

    form = client.get(path)
    assert form.status_code == 200
    assert re.search(r'name="place"[^>]*value="Lyon \(69\)"', form.text)
    assert re.search(r'name="start_time"[^>]*value="14:30"', form.text)

    response = client.post(
        path,
        data={**proposal(s, start_time="18:00", end_time="20:15"), "csrf_token": token},
    )

    assert "Modifications enregistrées." in flashed(client, response)
    [rally] = saved(app)
    assert (rally["status"], rally["start_time"]) == (RallyStatus.PUBLISHED, time(18, 0))
    public = text_of(app.test_client().get(f"/rassemblements/{rally_id}"))
    assert "18\u00a0h – 20\u00a0h\u00a015" in public
    assert "14\u00a0h\u00a030" not in public


def test_a_rally_that_is_not_published_cannot_be_cancelled_again(app, client, outbox):
    s = setting(app)
    rally_id = new_rally(app, s)
    token = sign_in_member(app, client, s["member"], outbox)
    path = f"/organisations/espace/rassemblements/{rally_id}/annuler"
    client.post(path, data={"csrf_token": token, "reason": "Arrêté préfectoral"})
    sent = len(outbox)

    again = client.post(path, data={"csrf_token": token, "reason": "Autre motif"})

    assert "Seul un rassemblement publié peut être annulé." in flashed(client, again)
    [rally] = saved(app)
    assert rally["status_note"] == "Arrêté préfectoral"
    assert len(outbox) == sent


def test_more_places_move_the_waiting_list_up_at_once(app, client, outbox):
    s = setting(app)
    rally_id = new_rally(app, s, capacity=1)
    come(app, rally_id, outbox, name="Jeanne Dupont", email="jeanne@example.org")
    come(app, rally_id, outbox, name="Paul Martin", email="paul@example.org")
    come(app, rally_id, outbox, name="Léa Roux", email="lea@example.org")
    token = sign_in_member(app, client, s["member"], outbox)
    sent = len(outbox)

    response = client.post(
        f"/organisations/espace/rassemblements/{rally_id}",
        data={**proposal(s, capacity="2"), "csrf_token": token},
    )

    assert response.status_code == 303
    with app.app_context():
        statuses = dict(db.session.execute(select(Rsvp.email, Rsvp.status)).all())
    assert statuses == {
        "jeanne@example.org": RsvpStatus.CONFIRMED,
        "paul@example.org": RsvpStatus.CONFIRMED,  # waited longest
        "lea@example.org": RsvpStatus.WAITLISTED,
    }
    [told] = outbox[sent:]
    assert told.recipients == ["paul@example.org"]
    assert told.subject.startswith("Une place s’est libérée")


def test_a_proposal_whose_date_has_passed_cannot_be_published(app, client, outbox):
    s = setting(app)
    with app.app_context():
        runner = db.session.get(Organisation, s["member"])
        day = db.session.get(MobilisationDay, s["day"])
        past = make_rally(
            day, organisations=[runner], status=RallyStatus.PROPOSED, when=today() - timedelta(1)
        )
        db.session.commit()
        rally_id = past.id
    token = sign_in_moderator(app, client)

    response = client.post(
        f"{MODERATION}/{rally_id}", data={"csrf_token": token, "decision": "publish"}
    )

    assert "ne peut plus être publié" in flashed(client, response)
    assert status_of(app, rally_id) is RallyStatus.PROPOSED


def test_an_organiser_not_in_the_directory_is_named_without_a_link(app, client):
    s = setting(app)
    with app.app_context():
        db.session.get(Organisation, s["other"]).listed = False
        db.session.commit()
    rally_id = new_rally(app, s, organisation="other")

    page = text_of(client.get(f"/rassemblements/{rally_id}"))

    assert "Amis de l’école" in page
    assert f'/organisations/{s["other"]}"' not in page


@pytest.mark.parametrize(
    "path",
    [
        "/organisations/99999999999999999999",
        "/rassemblements/99999999999999999999",
        "/rassemblements/2147483648.ics",
        "/organisations/confirmer/99999999999999999999/abc",
    ],
)
def test_an_id_no_column_can_hold_is_a_404(client, path):
    assert client.get(path).status_code == 404
