"""The hand-over dossier: what is given to a petition's addressee, as a tagged PDF.

The text and its earlier versions, the final counts online and on paper, per département
(with the map) and per day, and, when an admin asks for it, the list of signatories
(audited: it is personal data leaving the site)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Response, abort, request
from sqlalchemy import select

from campaign.console import auth, charts, stats
from campaign.console.auth import requires
from campaign.console.blueprint import bp
from campaign.console.models import PaperSignatures, Role
from campaign.core.templating import long_date
from campaign.extensions import db
from campaign.kits import render
from campaign.kits.documents import wordmark_svg
from campaign.petition.models import Petition, PetitionStatus, Signature

# Beyond this many names the PDF would run to thousands of pages: the dossier then says so
# and the list is handed over as the signatories' export (CSV or XLSX) beside it.
MAX_LISTED = 20_000


@dataclass(frozen=True)
class Signatory:
    name: str
    place: str
    signed_on: str
    version: int


def _signatories(petition: Petition) -> list[Signatory]:
    rows = db.session.execute(
        select(
            Signature.first_name,
            Signature.last_name,
            Signature.departement,
            Signature.country,
            Signature.confirmed_at,
            Signature.petition_version,
        )
        .where(Signature.petition_id == petition.id, Signature.confirmed_at.is_not(None))
        .order_by(Signature.confirmed_at, Signature.id)
        .limit(MAX_LISTED)
    )
    return [
        Signatory(
            f"{first} {last}",
            dep or ("France" if country == "FR" else country),
            at.strftime("%d/%m/%Y"),
            version,
        )
        for first, last, dep, country, at, version in rows
    ]


def dossier_pdf(petition: Petition, with_signatories: bool) -> bytes:
    totals = stats.totals(petition)
    departements = stats.per_departement(petition)
    map_svg = charts.symbol_map(departements, chart_id="carte", title="Signatures par département")
    papers = db.session.execute(
        select(PaperSignatures)
        .where(PaperSignatures.petition_id == petition.id)
        .order_by(PaperSignatures.collected_on)
    ).scalars()
    return render.pdf(
        "dossier.html",
        {"map.svg": str(map_svg).encode(), "wordmark.svg": wordmark_svg(petition.collective.name)},
        collective=petition.collective,
        petition=petition,
        demands=list(petition.demands),
        versions=list(petition.versions),
        history=list(petition.status_changes),
        totals=totals,
        per_departement=departements,
        per_day=stats.per_day(petition),
        papers=list(papers),
        signatories=_signatories(petition) if with_signatories else None,
        max_listed=MAX_LISTED,
        made_on=long_date(datetime.now().date()),
        handed_over=petition.status is PetitionStatus.HANDED_OVER,
    )


@bp.get("/petitions/<slug>/dossier.pdf")
@requires(Role.ADMIN)
def dossier(slug: str) -> Response:
    petition = db.session.execute(select(Petition).where(Petition.slug == slug[:80])).scalar()
    if petition is None:
        abort(404)
    with_signatories = request.args.get("signataires") == "1"
    if with_signatories:  # audited before the first byte, like every export of names
        count = min(stats.totals(petition).confirmed, MAX_LISTED)
        auth.audit("export.dossier.signatories", what=petition.slug, rows=count)
        db.session.commit()
    body = dossier_pdf(petition, with_signatories)
    name = f"dossier-{petition.slug}{'-signataires' if with_signatories else ''}.pdf"
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
