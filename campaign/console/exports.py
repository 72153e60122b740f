"""Exports: the counts (organisers), the paper batches, the signatories (admins only).

Counts per day, département, source, organisation and rally as CSV (`;` and a UTF-8 BOM
for French Excel), XLSX and JSON, with the paper signatures marked as such. The full list
of confirmed signatories, for handing the petition over, as CSV and XLSX streamed from a
server-side cursor: a million rows in a few seconds and flat memory (bench/exports.py).
Every cell goes through safe_cell. Every export is written to the audit log first, once
per request. No cache keeps any of them: the console's blueprint answers `no-store`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Response, abort, jsonify, render_template, stream_with_context
from sqlalchemy import DateTime, Select, String, cast, func, select, type_coerce

from campaign.console import auth, stats
from campaign.console.auth import requires
from campaign.console.blueprint import bp
from campaign.console.models import PaperSignatures, Role
from campaign.core.db import utcnow
from campaign.core.export import (
    CSV_MIMETYPE,
    XLSX_MIMETYPE,
    csv_response,
    csv_stream,
    download,
    xlsx_bytes,
    xlsx_stream,
)
from campaign.extensions import db
from campaign.organisations.models import Organisation
from campaign.petition import services
from campaign.petition.models import Petition, Signature
from campaign.rallies.models import PARIS

PAPER_LABEL = "Signatures papier"
COUNT_LABEL = "Signatures"
SIGNATORY_HEADER = [
    "Prénom",
    "Nom",
    "E-mail",
    "Pays",
    "Code postal",
    "Département",
    "Confirmée le (heure de Paris)",
    "Source",
    "Organisation",
    "Version du texte",  # Petition.version when they signed: which text they agreed to
]
SIGNATORY_WIDTHS = [18, 22, 32, 6, 11, 12, 28, 16, 28, 10]
PAPER_HEADER = ["Origine", "Collectées le", "Signatures", "Note", "Ajoutées par"]
# Rows fetched and written at a time: 1000 is as fast as 2000 with half the memory;
# 5000 is slower and holds 25 MB more (bench/exports.py).
BATCH = 1000
# Beyond this many rows the streamed workbook's sheet may pass 4 GiB: zip64 then.
ZIP64_ROWS = 4_000_000


def _petition_or_404(slug: str) -> Petition:
    petition = services.get_petition(slug, include_drafts=True)
    if petition is None:
        abort(404)
    return petition


def _stamp() -> str:
    return datetime.now(PARIS).strftime("%Y-%m-%d")


@bp.get("/exports")
@requires(Role.ORGANISER)
def exports() -> str:
    me = auth.current_organiser()
    petitions = services.public_petitions()  # a draft takes no signature
    return render_template(
        "console/exports.html",
        petitions=[(p, stats.totals(p)) for p in petitions],
        breakdowns=stats.BREAKDOWNS,
        is_admin=me is not None and me.role is Role.ADMIN,
    )


# --- counts ----------------------------------------------------------------------------------


def _key(value: object) -> object:
    """A breakdown's key as JSON has it: days as ISO dates."""
    return value.isoformat() if isinstance(value, date) else value


@bp.get("/exports/<slug>/<breakdown>.<any(csv, xlsx, json):fmt>")
@requires(Role.ORGANISER)
def counts(slug: str, breakdown: str, fmt: str) -> Response:
    if breakdown not in stats.BREAKDOWNS:
        abort(404)
    petition = _petition_or_404(slug)
    title, label, compute = stats.BREAKDOWNS[breakdown]
    rows = compute(petition)
    paper = stats.totals(petition).paper
    auth.audit(f"export.counts.{breakdown}.{fmt}", what=petition.slug, rows=len(rows))
    filename = f"{petition.slug}-{breakdown}-{_stamp()}.{fmt}"
    db.session.commit()
    if fmt == "json":
        response = jsonify(
            {
                "petition": slug,
                "breakdown": breakdown,
                "rows": [{"key": _key(k), "count": n} for k, n in rows],
                "paper": paper,
                "generated_at": utcnow().isoformat(timespec="seconds"),
            }
        )
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    if fmt == "csv":
        return csv_response(
            [label, COUNT_LABEL],
            [*((_day(k), n) for k, n in rows), (PAPER_LABEL, paper)],
            filename,
        )
    body = xlsx_bytes(title, [label, COUNT_LABEL], [*rows, (PAPER_LABEL, paper)], widths=[40, 12])
    return download(body, filename, XLSX_MIMETYPE)


def _day(value: object) -> object:
    """Days as French Excel reads them in a CSV."""
    return value.strftime("%d/%m/%Y") if isinstance(value, date) else value


@bp.get("/exports/<slug>/papier.<any(csv, xlsx, json):fmt>")
@requires(Role.ORGANISER)
def paper_export(slug: str, fmt: str) -> Response:
    """Every batch of paper signatures: when collected, how many, the note, who added it."""
    petition = _petition_or_404(slug)
    batches = db.session.execute(
        select(
            PaperSignatures.collected_on,
            PaperSignatures.count,
            PaperSignatures.note,
            PaperSignatures.added_by,
        )
        .where(PaperSignatures.petition_id == petition.id)
        .order_by(PaperSignatures.collected_on, PaperSignatures.id)
    ).all()
    total = sum(b.count for b in batches)
    auth.audit(f"export.counts.papier.{fmt}", what=petition.slug, rows=len(batches))
    filename = f"{petition.slug}-papier-{_stamp()}.{fmt}"
    db.session.commit()
    if fmt == "json":
        response = jsonify(
            {
                "petition": slug,
                "breakdown": "papier",
                "rows": [
                    {
                        "origin": "papier",
                        "collected_on": b.collected_on.isoformat(),
                        "count": b.count,
                        "note": b.note,
                        "added_by": b.added_by,
                    }
                    for b in batches
                ],
                "paper": total,
                "generated_at": utcnow().isoformat(timespec="seconds"),
            }
        )
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    rows: list[tuple[Any, ...]] = [
        ("papier", b.collected_on, b.count, b.note, b.added_by) for b in batches
    ]
    total_row = (f"Total {PAPER_LABEL.lower()}", "", total, "", "")
    if fmt == "csv":
        return csv_response(
            PAPER_HEADER,
            [*((o, _day(d), n, note, who) for o, d, n, note, who in rows), total_row],
            filename,
        )
    body = xlsx_bytes(PAPER_LABEL, PAPER_HEADER, [*rows, total_row], widths=[18, 14, 12, 40, 24])
    return download(body, filename, XLSX_MIMETYPE)


# --- signatories -----------------------------------------------------------------------------


class _ParisMinutes:
    """« dd/mm/yyyy HH:MM » in Paris time of UTC datetimes (naive ones: SQLite's), computed
    once per minute: the rows come in order of confirmation, many in the same minute."""

    def __init__(self) -> None:
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.text = ""

    def __call__(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        if self.start is not None and self.start <= moment < self.end:  # type: ignore[operator]
            return self.text
        self.start = moment.replace(second=0, microsecond=0)
        self.end = self.start + timedelta(minutes=1)
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        self.text = aware.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")
        return self.text


def signatories_query(petition_id: int, until: datetime, dialect: str) -> Select[Any]:
    """Confirmed signatures confirmed at `until` at the latest, in order of confirmation,
    as columns of text (no ORM object, no per-row conversion): PostgreSQL writes the moment
    in Paris time itself; on SQLite it comes as a naive UTC datetime for _ParisMinutes."""
    if dialect == "postgresql":
        confirmed: Any = func.to_char(
            func.timezone("Europe/Paris", Signature.confirmed_at), "DD/MM/YYYY HH24:MI"
        )
    else:
        confirmed = type_coerce(Signature.confirmed_at, DateTime())
    return (
        select(
            Signature.first_name,
            Signature.last_name,
            Signature.email,
            Signature.country,
            func.coalesce(Signature.postcode, ""),
            func.coalesce(Signature.departement, ""),
            confirmed,
            func.coalesce(Signature.source, ""),
            func.coalesce(Organisation.name, ""),
            cast(Signature.petition_version, String),
        )
        .outerjoin(Organisation, Organisation.id == Signature.organisation_id)
        .where(
            Signature.petition_id == petition_id,
            Signature.confirmed_at.is_not(None),
            Signature.confirmed_at <= until,
        )
        .order_by(Signature.confirmed_at, Signature.id)
    )


def signatory_batches(petition_id: int, until: datetime) -> Iterator[Sequence[Sequence[Any]]]:
    """The rows, BATCH at a time (a server-side cursor on PostgreSQL), through the
    session's Core connection: no ORM machinery per row."""
    connection = db.session.connection()
    dialect = connection.dialect.name
    query = signatories_query(petition_id, until, dialect).execution_options(yield_per=BATCH)
    result = connection.execute(query)
    paris = None if dialect == "postgresql" else _ParisMinutes()
    try:
        for batch in result.partitions():
            if paris is None:
                yield batch
            else:
                yield [(*row[:6], paris(row[6]), *row[7:]) for row in batch]
    finally:
        result.close()


@bp.get("/exports/<slug>/signataires.<any(csv, xlsx):fmt>")
@requires(Role.ADMIN)
def signatories(slug: str, fmt: str) -> Response:
    """Every confirmed signatory, streamed. The audit entry is committed before the first
    byte goes out; the list stops at the moment it was counted, so both agree (but for a
    signature withdrawn meanwhile)."""
    petition = _petition_or_404(slug)
    petition_id, petition_slug = petition.id, petition.slug
    until = utcnow()
    count = db.session.execute(
        select(func.count())
        .select_from(Signature)
        .where(
            Signature.petition_id == petition_id,
            Signature.confirmed_at.is_not(None),
            Signature.confirmed_at <= until,
        )
    ).scalar_one()
    auth.audit(f"export.signatories.{fmt}", what=petition_slug, rows=count)
    db.session.commit()
    batches = signatory_batches(petition_id, until)
    filename = f"{petition_slug}-signataires-{_stamp()}.{fmt}"
    if fmt == "csv":
        body = csv_stream(SIGNATORY_HEADER, batches)
        mimetype = CSV_MIMETYPE
    else:
        body = xlsx_stream(
            "Signataires",
            SIGNATORY_HEADER,
            batches,
            widths=SIGNATORY_WIDTHS,
            zip64=count > ZIP64_ROWS,
        )
        mimetype = XLSX_MIMETYPE
    response = download(stream_with_context(body), filename, mimetype)
    response.headers["X-Rows"] = str(count)
    return response
