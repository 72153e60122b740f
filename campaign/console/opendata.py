"""Public open data: counts per département and per day, no personal data.

`/donnees/<slug>/departements.csv|json` and `/donnees/<slug>/jours.csv|json`, for the
petitions the public sees (a draft is a 404). Counts only: a département code or a day,
and how many confirmed signatures. Any site may fetch them (CORS) and caches may keep them
five minutes; each worker keeps them PAGE_CACHE_SECONDS, so a crowd asking for them runs
the GROUP BY once in a while, not once per request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template
from sqlalchemy import func, select

from campaign.console import stats
from campaign.console.models import PaperSignatures
from campaign.content.services import current_collective
from campaign.core.db import utcnow
from campaign.core.export import csv_text
from campaign.core.ttlcache import TTLCache
from campaign.extensions import db
from campaign.petition import services
from campaign.petition.models import Petition

bp = Blueprint("opendata", __name__, url_prefix="/donnees")

MAX_AGE = 300
# kind: (CSV column, JSON field, rows of (key, count) of a petition, ordered)
KINDS: dict[str, tuple[str, str, Callable[[Petition], list[tuple[Any, int]]]]] = {
    "departements": ("Département", "departement", lambda p: sorted(stats.per_departement(p))),
    "jours": ("Jour", "jour", stats.per_day),
}
_bodies: TTLCache[tuple[str, str]] = TTLCache(max_entries=200)  # (body, mimetype)


def _public(response: Response) -> Response:
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response.headers["Access-Control-Allow-Origin"] = "*"  # counts only: any site may show them
    return response


@bp.get("/")
def index() -> str:
    return render_template(
        "opendata/index.html",
        petitions=services.public_petitions(),
        collective=current_collective(),
    )


@bp.get("/<slug>/<any(departements, jours):kind>.<any(csv, json):fmt>")
def counts(slug: str, kind: str, fmt: str) -> Response:
    petition = services.get_petition(slug)  # None for a draft
    if petition is None:
        abort(404)
    body, mimetype = _bodies.get_or_compute(
        (petition.slug, kind, fmt),
        current_app.config["PAGE_CACHE_SECONDS"],
        lambda: _render(petition, kind, fmt),
    )
    response = Response(body, mimetype=mimetype)
    if fmt == "csv":
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{petition.slug}-{kind}.csv"'
        )
    return _public(response)


def _render(petition: Petition, kind: str, fmt: str) -> tuple[str, str]:
    column, field, compute = KINDS[kind]
    rows = compute(petition)
    if fmt == "csv":
        return csv_text([column, "Signatures"], [(_csv_key(k), n) for k, n in rows]), "text/csv"
    paper = db.session.execute(
        select(func.coalesce(func.sum(PaperSignatures.count), 0)).where(
            PaperSignatures.petition_id == petition.id
        )
    ).scalar_one()
    data = {
        "petition": petition.slug,
        "title": petition.title,
        "rows": [{field: _json_key(k), "count": n} for k, n in rows],
        "confirmed": sum(n for _, n in rows),
        "paper": int(paper),
        "generated_at": utcnow().isoformat(timespec="seconds"),
    }
    return json.dumps(data, ensure_ascii=False), "application/json"


def _csv_key(key: Any) -> Any:
    return key.isoformat() if isinstance(key, date) else key  # days as ISO 8601


def _json_key(key: Any) -> Any:
    if key == stats.UNKNOWN:
        return None  # abroad, or no postcode
    return key.isoformat() if isinstance(key, date) else key
