"""The console's dashboard, moderation queues, paper signatures and rally participants."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from campaign.console import charts, papers
from campaign.console.models import AuditEntry, PaperSignatures, Role
from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.organisations.models import ModerationDecision, Organisation, OrganisationStatus
from campaign.petition import counting
from campaign.petition.models import Petition, PetitionStatus, Signature
from campaign.rallies.models import Rally, RallyStatus, Rsvp, RsvpStatus, today
from tests.console.helpers import sign_in
from tests.factories import (
    CSRF_INPUT,
    make_collective,
    make_day,
    make_member,
    make_petition,
    make_rally,
)

_seq = itertools.count(1)
D0 = date(2025, 5, 1)


def _at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def _signature(
    petition: Petition,
    confirmed_at: datetime | None,
    departement: str | None = None,
    source: str | None = None,
    organisation: Organisation | None = None,
    rally: Rally | None = None,
) -> None:
    n = next(_seq)
    db.session.add(
        Signature(
            petition_id=petition.id,
            first_name="Jeanne",
            last_name=f"Essai {n}",
            email=f"signataire{n}@example.org",
            email_canonical=f"signataire{n}@example.org",
            country="FR" if departement else "BE",
            departement=departement,
            consent_version="test",
            source=source,
            organisation_id=organisation.id if organisation else None,
            rally_id=rally.id if rally else None,
            token_nonce=f"{n:032x}",
            token_hash=f"{n:064x}",
            token_expires_at=utcnow() + timedelta(days=7),
            confirmed_at=confirmed_at,
        )
    )
    if confirmed_at is not None:
        counting.record_change(petition.id, +1)  # as a confirmation does


def _rsvp(rally: Rally, status: RsvpStatus, name: str = "") -> None:
    n = next(_seq)
    db.session.add(
        Rsvp(
            rally_id=rally.id,
            name=name or f"Participant {n}",
            email=f"participant{n}@example.org",
            email_canonical=f"participant{n}@example.org",
            phone="06 12 34 56 78" if n % 2 else None,
            consent_version="test",
            source="qr-tract" if n % 3 == 0 else None,
            status=status,
            token_nonce=f"{n:032x}",
            token_hash=f"r{n:063x}",
            token_expires_at=utcnow() + timedelta(days=7),
            confirmed_at=None if status is RsvpStatus.PENDING else utcnow(),
        )
    )


@dataclass(frozen=True)
class DataSet:
    slug: str
    other_slug: str
    draft_slug: str
    petition_id: int
    organisations: dict[int, str]  # id -> name
    rallies: dict[int, str]  # id -> « Lyon (2025-06-14) »
    all_rallies: list[int]


def _data_set(app: Flask) -> DataSet:
    """Two open petitions and a draft; signatures of the first over several days (with a
    gap), départements (overseas, abroad), sources (None too), organisations, rallies,
    pending ones; paper batches; RSVPs in every state."""
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective, slug="la-petition", target=50)
        other = make_petition(collective, slug="autre-petition")
        draft = make_petition(collective, slug="brouillon", status=PetitionStatus.DRAFT)
        first, second = (
            make_member(collective, "Enfance Ensemble"),
            make_member(collective, "Parents"),
        )
        day = make_day(collective, when=date(2025, 6, 14))
        lyon = make_rally(day, "69123", organisations=[first])
        paris = make_rally(day, "75056", organisations=[second])
        rennes = make_rally(day, "35238", status=RallyStatus.CANCELLED)
        d1, d3 = D0 + timedelta(days=1), D0 + timedelta(days=3)  # nothing on D0 + 2
        confirmed = [
            # (confirmed_at, département, source, organisation, rally)
            (_at(D0, 0, 0, 0), "75", "qr-flyer-lyon", first, lyon),
            (_at(D0, 23, 59, 59), "75", "qr-flyer-lyon", first, None),
            (_at(D0, 9), "69", None, None, lyon),
            (_at(d1, 0, 0, 1), "69", "facebook", second, paris),
            (_at(d1, 15), "13", "facebook", None, None),
            (_at(d1, 16), "2A", None, first, None),
            (_at(d1, 17), "971", "newsletter", None, rennes),
            (_at(d3, 8), "976", None, None, None),
            (_at(d3, 9), "988", "qr-flyer-lyon", second, None),  # Nouvelle-Calédonie
            (_at(d3, 10), None, "facebook", None, None),  # abroad
            (_at(d3, 23, 30), None, None, None, paris),
            (_at(d3, 23, 59), "75", None, first, None),
        ]
        for row in confirmed:
            _signature(petition, *row)
        for departement in ("75", "33", None):  # pending: never counted
            _signature(petition, None, departement, "facebook", first, lyon)
        _signature(other, _at(D0, 10), "33", "ailleurs", second, paris)  # another petition
        _signature(other, _at(d3 + timedelta(days=5), 10), "29")
        papers.add_batch(petition, 120, D0, "Marché de Lyon", "Camille")
        papers.add_batch(petition, 30, d1, "", "Camille")
        papers.add_batch(other, 7, d1, "", "Camille")
        for status in (RsvpStatus.CONFIRMED,) * 3 + (RsvpStatus.WAITLISTED, RsvpStatus.PENDING):
            _rsvp(lyon, status)
        _rsvp(paris, RsvpStatus.CONFIRMED)
        _rsvp(paris, RsvpStatus.PENDING)
        db.session.commit()
        return DataSet(
            slug=petition.slug,
            other_slug=other.slug,
            draft_slug=draft.slug,
            petition_id=petition.id,
            organisations={first.id: first.name, second.id: second.name},
            rallies={r.id: f"{r.city} ({r.date:%Y-%m-%d})" for r in (lyon, paris, rennes)},
            all_rallies=[lyon.id, paris.id, rennes.id],
        )


# --- reading the page ------------------------------------------------------------------------

_ROW = re.compile(
    r'<tr><th scope="row"(?: data-key="([^"]*)")?>(.*?)</th><td class="num" data-value="(\d+)">',
    re.S,
)


def _table(page: str, table_id: str) -> dict[str, int]:
    """A breakdown table of the page: row header (or its data-key) -> count."""
    start = page.index(f'id="{table_id}"')
    body = page[start : page.index("</table>", start)]
    return {
        key or html.unescape(re.sub(r"<[^>]+>", "", label)).strip(): int(value)
        for key, label, value in _ROW.findall(body)
    }


def _stat(page: str, stat_id: str) -> int:
    match = re.search(rf'data-value="(\d+)" id="{stat_id}"', page)
    assert match, stat_id
    return int(match.group(1))


def _svg(page: str, css_class: str) -> str:
    start = page.index(f'<svg class="chart {css_class}"')
    return page[start : page.index("</svg>", start)]


# --- direct counts -----------------------------------------------------------------------------


def _count(petition_id: int, *where) -> int:  # type: ignore[no-untyped-def]
    return db.session.execute(
        select(func.count())
        .select_from(Signature)
        .where(Signature.petition_id == petition_id, Signature.confirmed_at.is_not(None), *where)
    ).scalar_one()


def _column_or_null(column, key: str):  # type: ignore[no-untyped-def]
    return column.is_(None) if key == "(inconnu)" else column == key


# --- the dashboard -----------------------------------------------------------------------------


def test_the_dashboard_figures_equal_direct_counts(app: Flask, client):
    data = _data_set(app)
    sign_in(app, client, Role.ORGANISER)
    page = client.get("/console/tableau-de-bord")
    assert page.status_code == 200
    text = page.text
    assert "<script" not in text
    again = client.get(f"/console/tableau-de-bord?petition={data.slug}").text
    # The same page but for the sign-out form's CSRF token, signed with the second it was made.
    assert CSRF_INPUT.sub("", again) == CSRF_INPUT.sub("", text)

    with app.app_context():
        pid = data.petition_id
        confirmed = _count(pid)
        pending = db.session.execute(
            select(func.count())
            .select_from(Signature)
            .where(Signature.petition_id == pid, Signature.confirmed_at.is_(None))
        ).scalar_one()
        paper = db.session.execute(
            select(func.sum(PaperSignatures.count)).where(PaperSignatures.petition_id == pid)
        ).scalar_one()
        assert (confirmed, pending, paper) == (12, 3, 150)
        assert _stat(text, "total-confirmees") == confirmed
        assert _stat(text, "total-en-attente") == pending
        assert _stat(text, "total-papier") == paper
        assert _stat(text, "total-public") == confirmed + paper
        assert client.get(f"/petitions/{data.slug}/count.json").json["signature_count"] == (
            confirmed + paper
        )

        days = _table(text, "par-jour")
        assert list(days) == [(D0 + timedelta(days=i)).isoformat() for i in range(4)]
        for key, shown in days.items():
            start = _at(date.fromisoformat(key), 0)
            assert shown == _count(
                pid, Signature.confirmed_at >= start, Signature.confirmed_at < start + timedelta(1)
            ), key
        assert days[(D0 + timedelta(days=2)).isoformat()] == 0
        assert sum(days.values()) == confirmed

        departements = _table(text, "par-departement")
        assert set(departements) == {"75", "69", "13", "2A", "971", "976", "988", "(inconnu)"}
        for key, shown in departements.items():
            assert shown == _count(pid, _column_or_null(Signature.departement, key)), key

        sources = _table(text, "par-source")
        assert set(sources) == {"qr-flyer-lyon", "facebook", "newsletter", "(inconnu)"}
        for key, shown in sources.items():
            assert shown == _count(pid, _column_or_null(Signature.source, key)), key

        organisations = _table(text, "par-organisation")
        assert set(organisations) == set(data.organisations.values())
        for organisation_id, name in data.organisations.items():
            assert organisations[name] == _count(pid, Signature.organisation_id == organisation_id)

        rallies = _table(text, "par-rassemblement")
        assert set(rallies) == set(data.rallies.values())
        for rally_id, label in data.rallies.items():
            assert rallies[label] == _count(pid, Signature.rally_id == rally_id)

        for rally_id in data.all_rallies:
            row = re.search(rf'<tr data-rally="{rally_id}">.*?</tr>', text, re.S)
            assert row, rally_id
            shown = [int(v) for v in re.findall(r'data-value="(\d+)"', row.group(0))]
            expected = [
                db.session.execute(
                    select(func.count()).where(Rsvp.rally_id == rally_id, Rsvp.status == status)
                ).scalar_one()
                for status in (RsvpStatus.CONFIRMED, RsvpStatus.WAITLISTED)
            ]
            assert shown == expected


def test_the_day_chart_has_one_bar_per_day_and_says_what_it_shows(app: Flask, client):
    data = _data_set(app)
    sign_in(app, client, Role.ORGANISER)
    text = client.get("/console/tableau-de-bord").text
    chart = _svg(text, "chart-bars")
    assert 'role="img"' in chart
    assert (
        '<title id="graphique-jours-title">' in chart
        and '<desc id="graphique-jours-desc">' in chart
    )
    bars = re.findall(r'<rect class="bar" data-day="([^"]+)" data-count="(\d+)"', chart)
    assert [d for d, _ in bars] == [(D0 + timedelta(days=i)).isoformat() for i in range(4)]
    assert {d: int(n) for d, n in bars} == _table(text, "par-jour")
    heights = [float(h) for h in re.findall(r'class="bar"[^>]* height="([\d.]+)"', chart)]
    assert heights[2] == 0 and max(heights) > 0  # the day without signatures is empty

    other = client.get(f"/console/tableau-de-bord?petition={data.other_slug}").text
    other_bars = re.findall(r'<rect class="bar" data-day="([^"]+)"', _svg(other, "chart-bars"))
    assert len(other_bars) == 9  # D0 to D0 + 8: the first and the last day, the gap between


def test_the_map_has_a_circle_per_departement_with_signatures(app: Flask, client):
    _data_set(app)
    sign_in(app, client, Role.ORGANISER)
    text = client.get("/console/tableau-de-bord").text
    svg = _svg(text, "chart-map")
    assert '<title id="carte-departements-title">' in svg and "<desc" in svg
    circles = dict(
        re.findall(r'<circle class="dep" data-departement="([^"]+)" data-count="(\d+)"', svg)
    )
    table = _table(text, "par-departement")
    table.pop("(inconnu)")  # abroad: in the table, not on the map
    assert {k: int(v) for k, v in circles.items()} == table

    def centre(code: str) -> tuple[float, float, float]:
        x, y, r = re.search(
            rf'data-departement="{code}" data-count="\d+" cx="([\d.]+)" cy="([\d.]+)" r="([\d.]+)"',
            svg,
        ).groups()
        return float(x), float(y), float(r)

    paris, lyon, corsica = centre("75"), centre("69"), centre("2A")
    assert paris[1] < lyon[1] < corsica[1]  # north to south
    assert paris[0] < lyon[0] < corsica[0]  # west to east
    assert paris[2] == pytest.approx(charts.MAX_RADIUS)  # the most signatures: 3
    assert lyon[2] ** 2 / paris[2] ** 2 == pytest.approx(2 / 3, rel=1e-3)  # areas
    # Overseas: below the metropolitan box, in the row of insets.
    assert centre("971")[1] > charts.MAP_HEIGHT and centre("988")[1] > charts.MAP_HEIGHT


def test_departement_centres_are_computed_once_and_in_their_place(app: Flask):
    centres = charts.departement_centres()
    assert charts.departement_centres() is centres  # lru_cache
    assert all(code in centres for code in ("01", "2A", "2B", "95", "971", "976"))
    lat, lon = centres["29"]  # Finistère
    assert 47.5 < lat < 49 and -5 < lon < -3.5
    for code, (lat, lon) in centres.items():
        if charts.is_metropolitan(code):
            x, y = charts.project(lat, lon)
            assert 0 < x < charts.MAP_WIDTH and 0 < y < charts.MAP_HEIGHT, code


def test_an_empty_petition_and_unknown_or_draft_petitions(app: Flask, client):
    with app.app_context():
        make_petition(slug="vide")
        db.session.commit()
    sign_in(app, client, Role.ADMIN)  # admins pass everywhere (and sign in with a code)
    page = client.get("/console/tableau-de-bord")
    assert page.status_code == 200
    assert "Aucune signature confirmée pour le moment." in page.text
    assert 'class="bar"' not in page.text and 'class="dep"' not in page.text
    assert client.get("/console/tableau-de-bord?petition=inconnue").status_code == 404
    with app.app_context():
        make_petition(slug="brouillon", status=PetitionStatus.DRAFT)
        db.session.commit()
    assert client.get("/console/tableau-de-bord?petition=brouillon").status_code == 404


def test_the_dashboard_is_for_organisers(app: Flask, client):
    assert "/console/connexion" in client.get("/console/tableau-de-bord").headers["Location"]
    sign_in(app, client, Role.RALLY_ORGANISER)
    for path in ("/console/tableau-de-bord", "/console/moderation", "/console/papier"):
        assert client.get(path).status_code == 403, path


# --- moderation -----------------------------------------------------------------------------


def _queues(app: Flask) -> tuple[int, int, int]:
    """A pending application, a coming proposal and a past one."""
    with app.app_context():
        collective = make_collective()
        member = make_member(collective, "Proposante")
        applicant = make_member(collective, "Candidate")
        applicant.status = OrganisationStatus.PENDING
        applicant.confirmed_at = utcnow()
        coming = make_rally(
            make_day(collective), "35238", status=RallyStatus.PROPOSED, organisations=[member]
        )
        coming.proposed_by = member
        past = make_rally(
            make_day(collective, when=today() - timedelta(days=3)),
            "13055",
            status=RallyStatus.PROPOSED,
            organisations=[member],
        )
        db.session.commit()
        return applicant.id, coming.id, past.id


def _flash(client, answer) -> str:  # type: ignore[no-untyped-def]
    assert answer.status_code == 303
    return html.unescape(client.get(answer.headers["Location"]).text)


def test_moderation_decisions_are_recorded_with_the_organisers_name(app: Flask, client, outbox):
    applicant, coming, past = _queues(app)
    me = sign_in(app, client, Role.ORGANISER, name="Dominique Moderatrice")
    page = client.get("/console/moderation")
    assert page.status_code == 200
    assert "Candidate" in page.text and "Rennes" in page.text and "Marseille" in page.text
    token = me.csrf(client)

    def post(path: str, **form: str):  # type: ignore[no-untyped-def]
        return client.post(f"/console/moderation/{path}", data={"csrf_token": token, **form})

    assert "motif du refus" in _flash(client, post(f"organisations/{applicant}", decision="reject"))
    assert post(f"organisations/{applicant}", decision="peut-être").status_code == 400
    assert "approuvée" in _flash(client, post(f"organisations/{applicant}", decision="approve"))
    assert "déjà été traitée" in _flash(
        client, post(f"organisations/{applicant}", decision="reject", reason="Non")
    )
    assert "rejoint le collectif" in outbox[-1].subject

    assert "motif du refus" in _flash(client, post(f"rassemblements/{coming}", decision="refuse"))
    assert "date de ce rassemblement est passée" in _flash(
        client, post(f"rassemblements/{past}", decision="publish")
    )
    assert "publié" in _flash(client, post(f"rassemblements/{coming}", decision="publish"))
    assert "déjà été traitée" in _flash(
        client, post(f"rassemblements/{coming}", decision="publish")
    )
    assert "refusé" in _flash(
        client, post(f"rassemblements/{past}", decision="refuse", reason="Date passée")
    )
    assert post("rassemblements/999999", decision="publish").status_code == 303

    with app.app_context():
        [decision] = db.session.execute(select(ModerationDecision)).scalars().all()
        assert (decision.decided_by, decision.status) == (me.name, OrganisationStatus.APPROVED)
        assert db.session.get(Organisation, applicant).status is OrganisationStatus.APPROVED
        published, refused = db.session.get(Rally, coming), db.session.get(Rally, past)
        assert (published.status, published.decided_by) == (RallyStatus.PUBLISHED, me.name)
        assert (refused.status, refused.decided_by) == (RallyStatus.REFUSED, me.name)
        assert refused.status_note == "Date passée"
    empty = client.get("/console/moderation").text
    assert "Aucune demande en attente." in empty and "Aucune proposition en attente." in empty


def test_moderation_is_refused_to_rally_organisers(app: Flask, client):
    applicant, coming, _ = _queues(app)
    me = sign_in(app, client, Role.RALLY_ORGANISER)
    token = me.csrf(client)
    for path in (f"organisations/{applicant}", f"rassemblements/{coming}"):
        answer = client.post(
            f"/console/moderation/{path}", data={"csrf_token": token, "decision": "approve"}
        )
        assert answer.status_code == 403
    with app.app_context():
        assert db.session.get(Organisation, applicant).status is OrganisationStatus.PENDING


# --- paper signatures --------------------------------------------------------------------------


def _petition_with_signatures(app: Flask, confirmed: int = 2) -> tuple[int, str]:
    with app.app_context():
        petition = make_petition(slug="papier", target=1000)
        for _ in range(confirmed):
            _signature(petition, utcnow(), "75")
        db.session.commit()
        return petition.id, petition.slug


def test_paper_signatures_join_the_public_total(app: Flask, client):
    petition_id, slug = _petition_with_signatures(app)
    assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 2
    me = sign_in(app, client, Role.ORGANISER, name="Noé Papier")
    form = client.get("/console/papier")
    assert form.status_code == 200
    assert re.search(rf'<option (selected )?value="{slug}"( selected)?>', form.text)
    answer = client.post(
        "/console/papier",
        data={
            "csrf_token": me.csrf(client),
            "petition": slug,
            "count": "1 250",
            "collected_on": (today() - timedelta(days=2)).strftime("%d/%m/%Y"),
            "note": "Marché du samedi",
        },
    )
    assert re.search(r"1\s250 signatures papier ajoutées à « Pétition", _flash(client, answer))
    assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 1252
    with app.app_context():
        petition = db.session.get(Petition, petition_id)
        assert counting.count(petition) == 1252
        assert petition.paper_count == 1250
        [batch] = db.session.execute(select(PaperSignatures)).scalars().all()
        assert (batch.count, batch.added_by, batch.note) == (1250, me.name, "Marché du samedi")
        assert batch.collected_on == today() - timedelta(days=2)
    listing = html.unescape(client.get("/console/papier").text)
    assert "Marché du samedi" in listing and me.name in listing
    dashboard = client.get(f"/console/tableau-de-bord?petition={slug}").text
    assert _stat(dashboard, "total-papier") == 1250 and _stat(dashboard, "total-public") == 1252


def test_the_public_count_is_forgotten_from_the_cache(app: Flask, client):
    _, slug = _petition_with_signatures(app)
    app.config["COUNT_CACHE_SECONDS"] = 60
    try:
        assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 2  # cached
        me = sign_in(app, client, Role.ORGANISER)
        client.post(
            "/console/papier",
            data={
                "csrf_token": me.csrf(client),
                "petition": slug,
                "count": "10",
                "collected_on": today().isoformat(),
            },
        )
        assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 12
    finally:
        app.config["COUNT_CACHE_SECONDS"] = 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("count", "0", "Un nombre entre 1 et 1 000 000."),
        ("count", "-5", "Un nombre entre 1 et 1 000 000."),
        ("count", str(10**9), "Un nombre entre 1 et 1 000 000."),
        ("count", "beaucoup", "Indiquez un nombre entier, par exemple 250."),
        ("count", "", "Indiquez le nombre de signatures."),
        ("collected_on", "tomorrow", "Date invalide : indiquez-la sous la forme jj/mm/aaaa."),
        ("collected_on", "31/02/2025", "Date invalide : indiquez-la sous la forme jj/mm/aaaa."),
        ("collected_on", "", "Indiquez la date de collecte."),
        ("collected_on", "future", "La date de collecte ne peut pas être dans le futur."),
        ("petition", "", "Choisissez une pétition dans la liste."),
        ("petition", "inconnue", "Choisissez une pétition dans la liste."),
        ("petition", "brouillon", "Choisissez une pétition dans la liste."),
        ("note", "x" * 1001, "1000 caractères au maximum."),
        ("note", "Bonjour\x00", "Ce champ contient des caractères invisibles ou de contrôle."),
    ],
)
def test_bad_paper_input_is_refused_in_french(app: Flask, client, field, value, message):
    petition_id, slug = _petition_with_signatures(app)
    with app.app_context():
        make_petition(slug="brouillon", status=PetitionStatus.DRAFT)
        db.session.commit()
    if value == "future":
        value = (today() + timedelta(days=1)).isoformat()
    me = sign_in(app, client, Role.ORGANISER)
    form = {"petition": slug, "count": "42", "collected_on": today().isoformat(), "note": "Gardée"}
    answer = client.post(
        "/console/papier", data={"csrf_token": me.csrf(client), **form, field: value}
    )
    assert answer.status_code == 422
    text = html.unescape(answer.text)
    assert message in text
    assert 'aria-invalid="true"' in answer.text
    if field != "count":
        assert 'value="42"' in answer.text  # what was typed stays
    if field != "note":
        assert "Gardée" in text
    assert client.get(f"/petitions/{slug}/count.json").json["signature_count"] == 2
    with app.app_context():
        assert db.session.get(Petition, petition_id).paper_count == 0
        assert db.session.execute(select(func.count(PaperSignatures.id))).scalar_one() == 0


def test_a_missing_petition_field_is_refused(app: Flask, client):
    _petition_with_signatures(app)
    me = sign_in(app, client, Role.ORGANISER)
    answer = client.post(
        "/console/papier",
        data={"csrf_token": me.csrf(client), "count": "5", "collected_on": today().isoformat()},
    )
    assert answer.status_code == 422
    assert "Choisissez une pétition dans la liste." in html.unescape(answer.text)


# --- rallies and participants -----------------------------------------------------------------


@dataclass(frozen=True)
class Rallies:
    theirs: int
    shared: int
    others: int
    organisation_id: int


def _rallies(app: Flask) -> Rallies:
    with app.app_context():
        collective = make_collective()
        mine, other = make_member(collective, "Mienne"), make_member(collective, "Autre")
        day = make_day(collective)
        theirs = make_rally(day, "69123", organisations=[mine])
        shared = make_rally(day, "13055", organisations=[other, mine])
        others = make_rally(day, "75056", organisations=[other])
        _rsvp(theirs, RsvpStatus.CONFIRMED, "Alice Lyonnaise")
        _rsvp(theirs, RsvpStatus.CONFIRMED, "=Bob Formule")
        _rsvp(theirs, RsvpStatus.WAITLISTED, "Chloé Attente")
        _rsvp(theirs, RsvpStatus.PENDING, "Denis Pas Confirmé")
        _rsvp(others, RsvpStatus.CONFIRMED, "Eve Parisienne")
        db.session.commit()
        return Rallies(theirs.id, shared.id, others.id, mine.id)


def _audit_rows(app: Flask) -> list[tuple[str, str, str, int | None]]:
    with app.app_context():
        return [
            (e.action, e.who, e.what, e.rows)
            for e in db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        ]


def test_a_rally_organiser_sees_only_their_organisations_rallies(app: Flask, client):
    rallies = _rallies(app)
    me = sign_in(app, client, Role.RALLY_ORGANISER, rallies.organisation_id)
    assert client.get("/console/").headers["Location"].endswith("/console/rassemblements")
    listing = client.get("/console/rassemblements").text
    assert (
        f'data-rally="{rallies.theirs}"' in listing and f'data-rally="{rallies.shared}"' in listing
    )
    assert f'data-rally="{rallies.others}"' not in listing

    page = client.get(f"/console/rassemblements/{rallies.theirs}/participants")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    text = html.unescape(page.text)
    assert "Alice Lyonnaise" in text and "Chloé Attente" in text
    assert "Denis Pas Confirmé" not in text  # not confirmed: not a participant yet

    csv = client.get(f"/console/rassemblements/{rallies.theirs}/participants.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert len(lines) == 4 and lines[0].startswith("Nom;E-mail")
    assert any(line.startswith("'=Bob Formule;") for line in lines)  # no formula

    for path in (
        f"/console/rassemblements/{rallies.others}/participants",
        f"/console/rassemblements/{rallies.others}/participants.csv",
    ):
        assert client.get(path).status_code == 403, path
    assert client.get("/console/rassemblements/999999/participants").status_code == 404
    assert client.get("/console/rassemblements/999999/participants.csv").status_code == 404
    assert client.get(f"/console/rassemblements/{rallies.shared}/participants").status_code == 200

    with app.app_context():
        city = db.session.get(Rally, rallies.theirs).city
        shared_city = db.session.get(Rally, rallies.shared).city
    assert _audit_rows(app) == [
        ("view.rsvps", me.who, f"rassemblement {rallies.theirs} {city}", 3),
        ("export.rsvps.csv", me.who, f"rassemblement {rallies.theirs} {city}", 3),
        ("view.rsvps", me.who, f"rassemblement {rallies.shared} {shared_city}", 0),
    ]


def test_organisers_and_admins_see_every_rally_and_are_audited(app: Flask, client, app_client):
    rallies = _rallies(app)
    organiser = sign_in(app, client, Role.ORGANISER)
    listing = client.get("/console/rassemblements").text
    for rally_id in (rallies.theirs, rallies.shared, rallies.others):
        assert f'data-rally="{rally_id}"' in listing
    row = re.search(rf'<tr data-rally="{rallies.theirs}">.*?</tr>', listing, re.S).group(0)
    assert re.findall(r'data-value="(\d+)"', row) == ["2", "1"]
    assert (
        "Eve Parisienne"
        in client.get(f"/console/rassemblements/{rallies.others}/participants").text
    )

    admin = sign_in(app, app_client, Role.ADMIN)
    assert (
        app_client.get(f"/console/rassemblements/{rallies.others}/participants.csv").status_code
        == 200
    )
    with app.app_context():
        city = db.session.get(Rally, rallies.others).city
    assert _audit_rows(app) == [
        ("view.rsvps", organiser.who, f"rassemblement {rallies.others} {city}", 1),
        ("export.rsvps.csv", admin.who, f"rassemblement {rallies.others} {city}", 1),
    ]
    journal = html.unescape(app_client.get("/console/journal").text)
    assert "export.rsvps.csv" in journal and organiser.who in journal


def test_a_rally_organiser_without_organisation_sees_nothing(app: Flask, client):
    rallies = _rallies(app)
    sign_in(app, client, Role.RALLY_ORGANISER)
    listing = html.unescape(client.get("/console/rassemblements").text)
    assert "rattaché à aucune organisation" in listing and "data-rally=" not in listing
    assert client.get(f"/console/rassemblements/{rallies.theirs}/participants").status_code == 403
    assert _audit_rows(app) == []


@pytest.fixture
def app_client(app: Flask):  # type: ignore[no-untyped-def]
    """A second browser."""
    return app.test_client()
