"""Who may open what: every console route, for each role (a table).

Each row is a route; each column what a person of that role gets: 200 (or 303 for a
POST that does something), 403 (signed in, not allowed), or a redirect to the sign-in
page (not signed in). POSTs here carry an invalid body on purpose: the role check comes
first, so a refused role never reaches the form.
"""

from __future__ import annotations

import pytest
from flask import Flask

from campaign.console.models import Role
from campaign.core.outbox import OutboxMessage, OutboxStatus
from campaign.extensions import db
from campaign.rallies.models import RallyStatus
from tests.console.helpers import sign_in
from tests.factories import (
    csrf_from,
    make_collective,
    make_day,
    make_member,
    make_petition,
    make_rally,
)

ANON, RALLY, ORG, ADMIN = "anonymous", "rally_organiser", "organiser", "admin"
OK, FORBIDDEN, SIGN_IN = "ok", 403, "sign-in"

# (method, path template, {role: expected}); {own} is a rally of the rally organiser's
# organisation, {other} one of another organisation, {slug} the petition, {message} a failed mail.
TABLE = [
    ("GET", "/console/tableau-de-bord", {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK}),
    ("GET", "/console/moderation", {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK}),
    (
        "POST",
        "/console/moderation/organisations/{member}",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK},
    ),
    (
        "POST",
        "/console/moderation/rassemblements/{own}",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK},
    ),
    ("GET", "/console/papier", {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK}),
    ("POST", "/console/papier", {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK}),
    ("GET", "/console/rassemblements", {ANON: SIGN_IN, RALLY: OK, ORG: OK, ADMIN: OK}),
    (
        "GET",
        "/console/rassemblements/{own}/participants",
        {ANON: SIGN_IN, RALLY: OK, ORG: OK, ADMIN: OK},
    ),
    (
        "GET",
        "/console/rassemblements/{own}/participants.csv",
        {ANON: SIGN_IN, RALLY: OK, ORG: OK, ADMIN: OK},
    ),
    (
        "GET",
        "/console/rassemblements/{other}/participants",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK},
    ),
    (
        "GET",
        "/console/rassemblements/{other}/participants.csv",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK},
    ),
    ("GET", "/console/exports", {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK}),
    (
        "GET",
        "/console/exports/{slug}/jours.csv",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK},
    ),
    (
        "GET",
        "/console/exports/{slug}/departements.xlsx",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK},
    ),
    (
        "GET",
        "/console/exports/{slug}/sources.json",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK},
    ),
    (
        "GET",
        "/console/exports/{slug}/papier.csv",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK},
    ),
    (
        "GET",
        "/console/exports/{slug}/signataires.csv",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK},
    ),
    (
        "GET",
        "/console/exports/{slug}/signataires.xlsx",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK},
    ),
    ("GET", "/console/comptes", {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK}),
    ("POST", "/console/comptes", {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK}),
    (
        "POST",
        "/console/comptes/{admin_id}/desactiver",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK},
    ),
    ("GET", "/console/journal", {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK}),
    (
        "POST",
        "/console/comptes/{admin_id}/double-authentification",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK},
    ),
    # The mail outbox: organisers see it; only admins retry failed mails (that sends mail).
    ("GET", "/console/envois", {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK}),
    *(
        ("POST", path, {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK})
        for path in ("/console/envois/relancer", "/console/envois/{message}/relancer")
    ),
    # Petitions: organisers write them; only admins take a step (open, close, hand over).
    *(
        (method, path, {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK})
        for method, path in [
            ("GET", "/console/petitions"),
            ("GET", "/console/petitions/nouvelle"),
            ("POST", "/console/petitions/nouvelle"),
            ("GET", "/console/petitions/{slug}"),
            ("GET", "/console/petitions/{slug}/modifier"),
            ("POST", "/console/petitions/{slug}/modifier"),
            ("POST", "/console/petitions/{relayed}/decompte-officiel"),
        ]
    ),
    (
        "POST",
        "/console/petitions/{slug}/etape",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK},
    ),
    (
        "GET",
        "/console/petitions/{slug}/dossier.pdf",
        {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK},
    ),
    # Days and rallies: organisers create, edit and cancel them.
    *(
        (method, path, {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: OK, ADMIN: OK})
        for method, path in [
            ("GET", "/console/journees"),
            ("GET", "/console/journees/nouvelle"),
            ("POST", "/console/journees/nouvelle"),
            ("GET", "/console/journees/{day}"),
            ("POST", "/console/journees/{day}"),
            ("GET", "/console/journees/{day}/annuler"),
            ("POST", "/console/journees/{day}/annuler"),
            ("GET", "/console/journees/{day}/rassemblements/nouveau"),
            ("POST", "/console/journees/{day}/rassemblements/nouveau"),
            ("GET", "/console/rassemblements/{other}/modifier"),
            ("POST", "/console/rassemblements/{other}/modifier"),
            ("GET", "/console/rassemblements/{other}/annuler"),
            ("POST", "/console/rassemblements/{other}/annuler"),
        ]
    ),
    # The collective (identity, demands, key figures): admins only.
    *(
        (method, path, {ANON: SIGN_IN, RALLY: FORBIDDEN, ORG: FORBIDDEN, ADMIN: OK})
        for method, path in [
            ("GET", "/console/collectif"),
            ("POST", "/console/collectif"),
            ("GET", "/console/collectif/revendications"),
            ("POST", "/console/collectif/revendications"),
            ("GET", "/console/collectif/revendications/{demand}"),
            ("POST", "/console/collectif/revendications/{demand}"),
            ("POST", "/console/collectif/revendications/{demand}/monter"),
            ("POST", "/console/collectif/revendications/{demand}/descendre"),
            ("POST", "/console/collectif/revendications/{demand}/supprimer"),
            ("GET", "/console/collectif/chiffres"),
            ("POST", "/console/collectif/chiffres"),
            ("GET", "/console/collectif/chiffres/{figure}"),
            ("POST", "/console/collectif/chiffres/{figure}"),
            ("POST", "/console/collectif/chiffres/{figure}/monter"),
            ("POST", "/console/collectif/chiffres/{figure}/descendre"),
            ("POST", "/console/collectif/chiffres/{figure}/supprimer"),
        ]
    ),
]
ROLES = {RALLY: Role.RALLY_ORGANISER, ORG: Role.ORGANISER, ADMIN: Role.ADMIN}


def _world(app: Flask) -> dict[str, object]:
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        ours, theirs = make_member(collective), make_member(collective)
        day = make_day(collective)
        own = make_rally(day, "69123", organisations=[ours], status=RallyStatus.PROPOSED)
        other = make_rally(day, "75056", organisations=[theirs])
        relayed = make_petition(collective)
        relayed.official_url = "https://petitions.assemblee-nationale.fr/initiatives/i-1"
        failed = OutboxMessage(kind="mail", payload={}, status=OutboxStatus.FAILED, attempts=8)
        db.session.add(failed)
        db.session.commit()
        return {
            "slug": petition.slug,
            "relayed": relayed.slug,
            "day": day.id,
            "demand": collective.demands[-1].id,
            "figure": collective.key_figures[0].id,
            "member": ours.id,
            "own": own.id,
            "other": other.id,
            "ours": ours.id,
            "message": failed.id,
        }


@pytest.mark.parametrize("role", [ANON, RALLY, ORG, ADMIN])
def test_each_role_gets_what_its_role_allows_on_every_route(app: Flask, role: str):
    world = _world(app)
    client = app.test_client()
    # A valid CSRF token even when anonymous: the role check is what is tested.
    token = csrf_from(client.get("/console/connexion").text)
    admin_id = 0
    if role != ANON:
        me = sign_in(app, client, ROLES[role], organisation_id=world["ours"])
        token = me.csrf(client)
        admin_id = me.id if role == ADMIN else 0
    if not admin_id:  # an account to deactivate that is not the admin's own
        other_admin = sign_in(app, app.test_client(), Role.ORGANISER)
        admin_id = other_admin.id
    found = {}
    for method, template, expected in TABLE:
        path = template.format(**world, admin_id=admin_id)
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data={"csrf_token": token})
        response.close()
        status = response.status_code
        if status == 302 and "/console/connexion" in response.headers.get("Location", ""):
            got = SIGN_IN
        elif status in (200, 303, 422, 400) and expected[role] == OK:
            got = OK  # allowed in: a bad or empty form is the form's business
        else:
            got = status
        found[f"{method} {template}"] = got
    wanted = {f"{m} {t}": e[role] for m, t, e in TABLE}
    assert found == wanted


# Pages anyone reaches (signing in, an invitation) and the console's own redirect.
OPEN_TO_ALL = {
    "console.home",
    "console.sign_in_form",
    "console.code",
    "console.enrol",
    "console.sign_out",
    "console.sign_out_everywhere",
    "console.accept_invitation",
}


def test_the_table_covers_every_console_route(app: Flask):
    """A new console route must get its row above: nothing is left to a default."""
    urls = app.url_map.bind("localhost")
    values = {"slug": "p", "relayed": "r", "admin_id": 1, "own": 1, "other": 1, "member": 1}
    values |= {"day": 1, "demand": 1, "figure": 1, "message": 1}
    covered = {
        (method, urls.match(path.format(**values), method=method)[0]) for method, path, _ in TABLE
    }
    wanted = {
        (method, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("console.") and rule.endpoint not in OPEN_TO_ALL
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    }
    assert wanted - covered == set()
