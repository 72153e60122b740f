"""Console exports: counts as CSV/XLSX/JSON, paper batches, the streamed signatories list
(admins only), formula neutralisation, and the audit log entry of each download."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import insert, select

from campaign.console.models import AuditEntry, PaperSignatures, Role
from campaign.core.export import (
    csv_stream,
    in_batches,
    safe_batch,
    safe_cell,
    xlsx_bytes,
    xlsx_stream,
)
from campaign.core.text import FORMULA_PREFIXES
from campaign.extensions import db
from campaign.petition.models import PetitionStatus, Signature
from tests.console.helpers import sign_in
from tests.factories import make_collective, make_day, make_member, make_petition, make_rally

BREAKDOWNS = ["jours", "departements", "sources", "organisations", "rassemblements"]
WINTER = datetime(2026, 1, 12, 13, 5, 30, tzinfo=UTC)  # 14:05 in Paris
SUMMER = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 July in Paris


# --- data ------------------------------------------------------------------------------------


@dataclass
class Data:
    slug: str
    petition_id: int
    expected: dict[str, dict[object, int]]  # breakdown -> key -> count (confirmed only)
    confirmed: list[dict[str, object]]  # in order of confirmation
    paper: int
    other_slug: str  # a second petition, whose signatures must never show


def _signature(petition_id: int, i: int, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "petition_id": petition_id,
        "first_name": f"Prénom{i}",
        "last_name": f"Nom{i}",
        "email": f"personne{i}@example.org",
        "email_canonical": f"personne{i}@example.org",
        "country": "FR",
        "postcode": "75011",
        "departement": "75",
        "consent_version": "v1",
        "optin_collective": False,
        "source": None,
        "organisation_id": None,
        "rally_id": None,
        "token_nonce": f"{i:032x}",
        "token_hash": f"{petition_id:08x}{i:056x}",
        "token_expires_at": WINTER + timedelta(days=30),
        "created_at": WINTER - timedelta(days=1),
        "confirmed_at": None,
        "emails_sent": 1,
        "petition_version": 1,
    }
    row.update(fields)
    return row


@pytest.fixture
def data(app: Flask) -> Data:
    """Eight confirmed signatures spread over days, départements, sources, two member
    organisations and a rally, two pending ones, two paper batches, and another petition."""
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        other = make_petition(collective)
        members = [make_member(collective, "Enfance Ensemble"), make_member(collective, "Abri")]
        rally = make_rally(make_day(collective))
        a, b = members[0], members[1]
        spec = [
            # confirmed_at, departement, postcode, country, source, organisation, rally
            (WINTER, "75", "75011", "FR", "qr-lyon", a, rally),
            (WINTER + timedelta(seconds=10), "75", "75011", "FR", "qr-lyon", a, None),
            (WINTER + timedelta(hours=2), "69", "69002", "FR", None, b, rally),
            (WINTER + timedelta(days=1), "2A", "20000", "FR", "presse", None, None),
            (WINTER + timedelta(days=1, hours=3), None, None, "BE", "presse", None, None),
            (SUMMER, "971", "97110", "FR", "qr-lyon", b, None),
            (SUMMER, "13", "13001", "FR", None, None, rally),  # same moment: by id
            (SUMMER + timedelta(days=2), "75", "75001", "FR", None, a, None),
        ]
        rows = [
            _signature(
                petition.id,
                i,
                confirmed_at=when,
                departement=dep,
                postcode=postcode,
                country=country,
                source=source,
                organisation_id=org.id if org else None,
                rally_id=r.id if r else None,
            )
            for i, (when, dep, postcode, country, source, org, r) in enumerate(spec)
        ]
        # Neutralised in every file: a name typed as a formula (the form refuses it; an
        # import or an older row might not).
        rows[1]["first_name"] = '=HYPERLINK("http://evil.example";"Cliquez")'
        rows[2]["last_name"] = "+33 6 12"
        rows[3]["first_name"] = "@SUM(A1)"
        rows[4]["last_name"] = "-Dupont"
        for r in rows[5:]:  # signed after a correction of the text
            r["petition_version"] = 2
        pending = [
            _signature(petition.id, 100 + i, email=f"attente{i}@example.org") for i in range(2)
        ]
        elsewhere = [_signature(other.id, 200, confirmed_at=WINTER, email="ailleurs@example.org")]
        db.session.execute(insert(Signature), rows + pending + elsewhere)
        db.session.add_all(
            [
                PaperSignatures(
                    petition_id=petition.id,
                    count=120,
                    collected_on=date(2026, 2, 1),
                    note="Marché de Lyon",
                    added_by="Camille Martin",
                ),
                PaperSignatures(
                    petition_id=petition.id,
                    count=35,
                    collected_on=date(2026, 1, 20),
                    note="=1+1",
                    added_by="Lou Bernard",
                ),
            ]
        )
        db.session.commit()
        confirmed = sorted(rows, key=lambda r: (r["confirmed_at"], rows.index(r)))
        orgs = {a.id: a.name, b.id: b.name}
        rally_key = f"{rally.city} ({rally.date:%Y-%m-%d})"
        expected: dict[str, dict[object, int]] = {
            "jours": dict(Counter(r["confirmed_at"].date() for r in rows)),  # type: ignore[union-attr]
            "departements": dict(Counter(r["departement"] or "(inconnu)" for r in rows)),
            "sources": dict(Counter(r["source"] or "(inconnu)" for r in rows)),
            "organisations": dict(
                Counter(orgs[r["organisation_id"]] for r in rows if r["organisation_id"])
            ),
            "rassemblements": dict(Counter(rally_key for r in rows if r["rally_id"])),
        }
        for r in confirmed:
            r["organisation"] = orgs.get(r["organisation_id"], "")  # type: ignore[arg-type]
        return Data(petition.slug, petition.id, expected, confirmed, 155, other.slug)


def _csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8")[1:], newline=""), delimiter=";"))


def _xlsx_rows(body: bytes) -> tuple[list[list[object]], object]:
    book = load_workbook(io.BytesIO(body))
    sheet = book.worksheets[0]
    cells = [list(row) for row in sheet.iter_rows()]
    for row in cells:
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
            assert not str(cell.value or "").startswith(FORMULA_PREFIXES), cell.value
    return [[c.value for c in row] for row in cells], sheet


def _audits(app: Flask) -> list[AuditEntry]:
    with app.app_context():
        entries = list(db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
        db.session.expunge_all()
        return entries


# --- counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("breakdown", BREAKDOWNS)
def test_counts_csv_equal_direct_counts(app: Flask, client, data: Data, breakdown: str):
    me = sign_in(app, client, Role.ORGANISER)
    response = client.get(f"/console/exports/{data.slug}/{breakdown}.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    rows = _csv_rows(response.data)
    assert rows[0][1] == "Signatures"
    assert rows[-1] == ["Signatures papier", "155"]
    expected = {
        (k.strftime("%d/%m/%Y") if isinstance(k, date) else k): str(n)
        for k, n in data.expected[breakdown].items()
    }
    assert dict(rows[1:-1]) == expected
    assert len(rows) == len(expected) + 2
    [entry] = _audits(app)
    assert (entry.action, entry.what, entry.rows) == (
        f"export.counts.{breakdown}.csv",
        data.slug,
        len(expected),
    )
    assert entry.who == me.who and entry.organiser_id == me.id


@pytest.mark.parametrize("breakdown", BREAKDOWNS)
def test_counts_xlsx_equal_direct_counts(app: Flask, client, data: Data, breakdown: str):
    sign_in(app, client, Role.ORGANISER)
    response = client.get(f"/console/exports/{data.slug}/{breakdown}.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    rows, sheet = _xlsx_rows(response.data)
    assert rows[0][1] == "Signatures"
    assert sheet["A1"].font.b  # a bold header
    assert rows[-1] == ["Signatures papier", 155]
    got = {(k.date() if isinstance(k, datetime) else k): n for k, n in rows[1:-1]}
    assert got == data.expected[breakdown]
    [entry] = _audits(app)
    assert entry.action == f"export.counts.{breakdown}.xlsx"
    assert entry.rows == len(data.expected[breakdown])


@pytest.mark.parametrize("breakdown", BREAKDOWNS)
def test_counts_json_equal_direct_counts(app: Flask, client, data: Data, breakdown: str):
    sign_in(app, client, Role.ORGANISER)
    response = client.get(f"/console/exports/{data.slug}/{breakdown}.json")
    assert response.status_code == 200
    payload = response.get_json()
    assert payload["petition"] == data.slug and payload["breakdown"] == breakdown
    assert payload["paper"] == 155
    datetime.fromisoformat(payload["generated_at"])
    expected = {
        (k.isoformat() if isinstance(k, date) else k): n
        for k, n in data.expected[breakdown].items()
    }
    assert {r["key"]: r["count"] for r in payload["rows"]} == expected
    assert len(payload["rows"]) == len(expected)
    [entry] = _audits(app)
    assert entry.action == f"export.counts.{breakdown}.json" and entry.rows == len(expected)


def test_paper_batches_marked_in_every_format(app: Flask, client, data: Data):
    sign_in(app, client, Role.ORGANISER)
    rows = _csv_rows(client.get(f"/console/exports/{data.slug}/papier.csv").data)
    assert rows == [
        ["Origine", "Collectées le", "Signatures", "Note", "Ajoutées par"],
        ["papier", "20/01/2026", "35", "'=1+1", "Lou Bernard"],
        ["papier", "01/02/2026", "120", "Marché de Lyon", "Camille Martin"],
        ["Total signatures papier", "", "155", "", ""],
    ]
    cells, _ = _xlsx_rows(client.get(f"/console/exports/{data.slug}/papier.xlsx").data)
    assert cells[1] == ["papier", datetime(2026, 1, 20), 35, "'=1+1", "Lou Bernard"]
    assert cells[-1][0] == "Total signatures papier" and cells[-1][2] == 155
    payload = client.get(f"/console/exports/{data.slug}/papier.json").get_json()
    assert payload["paper"] == 155
    assert [(r["origin"], r["collected_on"], r["count"]) for r in payload["rows"]] == [
        ("papier", "2026-01-20", 35),
        ("papier", "2026-02-01", 120),
    ]
    assert [(e.action, e.rows) for e in _audits(app)] == [
        ("export.counts.papier.csv", 2),
        ("export.counts.papier.xlsx", 2),
        ("export.counts.papier.json", 2),
    ]


def test_exports_page_lists_the_downloads(app: Flask, client, data: Data):
    sign_in(app, client, Role.ORGANISER)
    page = client.get("/console/exports")
    assert page.status_code == 200
    for breakdown in BREAKDOWNS:
        for fmt in ("csv", "xlsx", "json"):
            assert f"/console/exports/{data.slug}/{breakdown}.{fmt}" in page.text
    assert f"/console/exports/{data.slug}/papier.xlsx" in page.text
    assert "signataires" not in page.text  # an organiser does not see the list's links
    assert f"/donnees/{data.slug}/departements.csv" in page.text
    assert not _audits(app)  # the page itself shows counts only


def test_admin_sees_the_signatories_links(app: Flask, client, data: Data):
    sign_in(app, client, Role.ADMIN)
    page = client.get("/console/exports")
    assert f"/console/exports/{data.slug}/signataires.csv" in page.text
    assert f"/console/exports/{data.slug}/signataires.xlsx" in page.text


# --- who may ---------------------------------------------------------------------------------

URLS = [
    "/console/exports",
    "/console/exports/{slug}/jours.csv",
    "/console/exports/{slug}/papier.json",
    "/console/exports/{slug}/signataires.csv",
    "/console/exports/{slug}/signataires.xlsx",
]


@pytest.mark.parametrize("url", URLS)
def test_anonymous_is_sent_to_sign_in(client, data: Data, url: str):
    response = client.get(url.format(slug=data.slug))
    assert response.status_code == 302
    assert "/console/connexion" in response.headers["Location"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_organiser_may_not_export_signatories(app: Flask, client, data: Data, fmt: str):
    sign_in(app, client, Role.ORGANISER)
    assert client.get(f"/console/exports/{data.slug}/jours.{fmt}").status_code == 200
    response = client.get(f"/console/exports/{data.slug}/signataires.{fmt}")
    assert response.status_code == 403
    assert "personne0@example.org" not in response.text
    assert [e.action for e in _audits(app)] == [f"export.counts.jours.{fmt}"]


@pytest.mark.parametrize("url", URLS)
def test_rally_organiser_may_not_export(app: Flask, client, data: Data, url: str):
    with app.app_context():
        organisation_id = make_member(make_collective()).id
        db.session.commit()
    sign_in(app, client, Role.RALLY_ORGANISER, organisation_id)
    assert client.get(url.format(slug=data.slug)).status_code == 403
    assert not _audits(app)


@pytest.mark.parametrize(
    "path",
    [
        "inconnue/jours.csv",
        "inconnue/signataires.csv",
        "inconnue/papier.csv",
        "{slug}/semaines.csv",
        "{slug}/jours.pdf",
        "{slug}/jours.CSV",
        "{slug}/jours",
        "{slug}/signataires.json",
        "{slug}/papier.pdf",
        "{slug}/../jours.csv",
        "UPPER/jours.csv",
    ],
)
def test_unknown_petition_breakdown_or_format_is_404(app: Flask, client, data: Data, path: str):
    sign_in(app, client, Role.ADMIN)
    assert client.get(f"/console/exports/{path.format(slug=data.slug)}").status_code == 404
    assert not _audits(app)


# --- signatories -----------------------------------------------------------------------------


def _expected_signatories(data: Data) -> list[list[str]]:
    def paris(moment: datetime) -> str:
        return {
            WINTER: "12/01/2026 14:05",
            WINTER + timedelta(seconds=10): "12/01/2026 14:05",
            WINTER + timedelta(hours=2): "12/01/2026 16:05",
            WINTER + timedelta(days=1): "13/01/2026 14:05",
            WINTER + timedelta(days=1, hours=3): "13/01/2026 17:05",
            SUMMER: "02/07/2026 00:30",
            SUMMER + timedelta(days=2): "04/07/2026 00:30",
        }[moment]

    return [
        [
            safe_cell(r["first_name"]),
            safe_cell(r["last_name"]),
            str(r["email"]),
            str(r["country"]),
            str(r["postcode"] or ""),
            str(r["departement"] or ""),
            paris(r["confirmed_at"]),  # type: ignore[arg-type]
            str(r["source"] or ""),
            str(r["organisation"]),
            str(r["petition_version"]),
        ]
        for r in data.confirmed
    ]


HEADER = [
    "Prénom",
    "Nom",
    "E-mail",
    "Pays",
    "Code postal",
    "Département",
    "Confirmée le (heure de Paris)",
    "Source",
    "Organisation",
    "Version du texte",
]


def test_admin_gets_every_confirmed_signatory_as_csv(app: Flask, client, data: Data):
    me = sign_in(app, client, Role.ADMIN)
    response = client.get(f"/console/exports/{data.slug}/signataires.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Cache-Control"] == "no-store"
    assert f'filename="{data.slug}-signataires-' in response.headers["Content-Disposition"]
    rows = _csv_rows(response.data)
    assert rows[0] == HEADER
    assert rows[1:] == _expected_signatories(data)
    assert rows[2][0].startswith("'=HYPERLINK") and rows[3][1] == "'+33 6 12"
    assert "attente" not in response.text and "ailleurs" not in response.text
    [entry] = _audits(app)
    assert (entry.action, entry.what, entry.rows, entry.who) == (
        "export.signatories.csv",
        data.slug,
        8,
        me.who,
    )


def test_admin_gets_every_confirmed_signatory_as_xlsx(app: Flask, client, data: Data):
    sign_in(app, client, Role.ADMIN)
    response = client.get(f"/console/exports/{data.slug}/signataires.xlsx")
    assert response.status_code == 200
    assert response.is_streamed
    rows, sheet = _xlsx_rows(response.data)
    assert rows[0] == HEADER and sheet["A1"].font.b
    assert sheet.freeze_panes == "A2"
    assert [[v or "" for v in row] for row in rows[1:]] == _expected_signatories(data)
    assert all(c.data_type == "s" for row in sheet.iter_rows() for c in row)
    [entry] = _audits(app)
    assert (entry.action, entry.rows) == ("export.signatories.xlsx", 8)


def test_audit_is_committed_before_the_first_byte(app: Flask, client, data: Data):
    sign_in(app, client, Role.ADMIN)
    response = client.get(f"/console/exports/{data.slug}/signataires.csv", buffered=False)
    try:
        assert response.status_code == 200
        entries = _audits(app)  # read on another connection, nothing streamed yet
        assert [(e.action, e.rows) for e in entries] == [("export.signatories.csv", 8)]
    finally:
        response.close()


def test_the_audit_log_shows_exports_to_admins(app: Flask, client, data: Data):
    sign_in(app, client, Role.ADMIN)
    client.get(f"/console/exports/{data.slug}/signataires.csv").close()
    client.get(f"/console/exports/{data.slug}/sources.json")
    page = client.get("/console/journal")
    assert "export.signatories.csv" in page.text and "export.counts.sources.json" in page.text


def test_empty_petition_exports_the_header_alone(app: Flask, client, data: Data):
    sign_in(app, client, Role.ADMIN)
    rows = _csv_rows(client.get(f"/console/exports/{data.other_slug}/signataires.csv").data)
    assert [r[2] for r in rows] == ["E-mail", "ailleurs@example.org"]
    with app.app_context():
        empty = make_petition(status=PetitionStatus.CLOSED).slug
        db.session.commit()
    assert _csv_rows(client.get(f"/console/exports/{empty}/signataires.csv").data) == [HEADER]
    cells, _ = _xlsx_rows(client.get(f"/console/exports/{empty}/signataires.xlsx").data)
    assert cells == [HEADER]
    assert [e.rows for e in _audits(app)] == [1, 0, 0]


def test_thousands_of_rows_stream_in_chunks(app: Flask, client):
    n = 12_345  # more than two chunks of 5000
    with app.app_context():
        petition = make_petition()
        slug = petition.slug
        db.session.execute(
            insert(Signature),
            [
                _signature(
                    petition.id,
                    i,
                    email=f"p{i}@example.org",
                    first_name=f"Prénom{i}",
                    # every minute holds 7 signatures, a few of them in reverse id order
                    confirmed_at=WINTER + timedelta(seconds=(i // 7) * 60 + (6 - i % 7)),
                )
                for i in range(n)
            ]
            + [_signature(petition.id, n + i, email=f"q{i}@example.org") for i in range(50)],
        )
        db.session.commit()
    sign_in(app, client, Role.ADMIN)
    response = client.get(f"/console/exports/{slug}/signataires.csv", buffered=False)
    assert response.is_streamed
    chunks = list(response.response)
    response.close()
    assert len(chunks) >= 3
    rows = _csv_rows(b"".join(chunks))
    assert len(rows) == n + 1
    # by moment of confirmation, then id: within a minute, the later second first
    order = sorted(range(n), key=lambda i: ((i // 7) * 60 + (6 - i % 7), i))
    assert [r[0] for r in rows[1:]] == [f"Prénom{i}" for i in order]
    assert rows[1][6] == "12/01/2026 14:05"
    assert rows[-1][6] == "13/01/2026 19:28"  # 1763 minutes later
    assert len({r[2] for r in rows[1:]}) == n
    assert _audits(app)[0].rows == n

    response = client.get(f"/console/exports/{slug}/signataires.xlsx", buffered=False)
    chunks = list(response.response)
    response.close()
    assert len(chunks) >= 3
    cells, _ = _xlsx_rows(b"".join(chunks))
    assert len(cells) == n + 1
    assert [r[0] for r in cells[1:]] == [f"Prénom{i}" for i in order]


# --- formula neutralisation, over generated text ---------------------------------------------

_EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _as_excel_reads(value: object) -> str:
    """A cell's text as Excel shows it: _xHHHH_ is the character HHHH (openpyxl leaves it)."""
    return _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), str(value or ""))


dangerous = st.builds(
    lambda prefix, rest: prefix + rest, st.sampled_from(FORMULA_PREFIXES), st.text(max_size=20)
)
names = st.one_of(st.text(max_size=30), dangerous)


@settings(max_examples=200, deadline=None)
@given(names)
def test_safe_cell_neutralises_formulas_and_keeps_the_text(text: str):
    cell = safe_cell(text)
    assert not cell.startswith(FORMULA_PREFIXES)
    if text.startswith(FORMULA_PREFIXES):
        assert cell == "'" + text
    else:
        assert cell == text
    assert cell.endswith(text)  # nothing else is touched


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.dates()))
def test_safe_cell_of_other_values(value: object):
    cell = safe_cell(value)
    assert not cell.startswith(FORMULA_PREFIXES)
    assert cell.lstrip("'") == ("" if value is None else str(value))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(names, st.none(), st.integers()), min_size=3, max_size=3)))
def test_safe_batch_is_safe_cell_on_every_cell(batch: list[list[object]]):
    assert [list(row) for row in safe_batch(batch)] == [[safe_cell(v) for v in r] for r in batch]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(names, names), min_size=1, max_size=8))
def test_csv_round_trip_never_yields_a_formula(people: list[tuple[str, str]]):
    body = b"".join(csv_stream(["Prénom", "Nom"], in_batches(people, 3)))
    rows = _csv_rows(body)
    assert rows[0] == ["Prénom", "Nom"]
    assert len(rows) == len(people) + 1
    for (first, last), row in zip(people, rows[1:], strict=True):
        assert row == [safe_cell(first), safe_cell(last)]
        assert not any(cell.startswith(FORMULA_PREFIXES) for cell in row)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(names, names), min_size=1, max_size=8))
def test_streamed_xlsx_round_trip_never_yields_a_formula(people: list[tuple[str, str]]):
    body = b"".join(xlsx_stream("Essai", ["Prénom", "Nom"], in_batches(people, 3)))
    rows, _ = _xlsx_rows(body)  # no formula cell, no cell starting like one
    assert len(rows) == len(people) + 1
    for (first, last), row in zip(people, rows[1:], strict=True):
        shown = [_as_excel_reads(v) for v in row]
        assert shown == [safe_cell(first), safe_cell(last)]
        assert not any(cell.startswith(FORMULA_PREFIXES) for cell in shown)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(names, st.integers(0, 10**9)), min_size=1, max_size=8))
def test_xlsx_counts_round_trip_never_yields_a_formula(rows: list[tuple[str, int]]):
    body = xlsx_bytes("Par source", ["Source", "Signatures"], rows)
    cells, _ = _xlsx_rows(body)
    assert len(cells) == len(rows) + 1
    for (key, n), row in zip(rows, cells[1:], strict=True):
        assert row[1] == n
        shown = _as_excel_reads(row[0])
        assert shown == safe_cell(key)
        assert not shown.startswith(FORMULA_PREFIXES)
