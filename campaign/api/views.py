"""`/api/v1/`: the campaign's public data for journalists, researchers and member sites.

Read only, no personal data ever (no signer, participant or contact field; counts only),
open to any site (CORS), cacheable (ETag, Cache-Control), errors as
application/problem+json, lists paginated, rate-limited per client. Described by
`/api/v1/openapi.json` (api/spec.py), readable at `/api/v1/`.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from campaign.api import spec
from campaign.api.spec import (
    DATE,
    DATETIME,
    INTEGER,
    STRING,
    URL,
    Operation,
    documented,
    nullable,
    obj,
)
from campaign.console import stats
from campaign.content.services import current_collective
from campaign.core import errors
from campaign.core.urls import public_url_for
from campaign.extensions import limiter
from campaign.organisations import services as organisations
from campaign.organisations.models import Organisation, OrganisationKind
from campaign.petition import counting
from campaign.petition import services as petitions
from campaign.petition.models import Petition, PetitionStatus
from campaign.rallies import services as rallies
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus

PREFIX = "/api/v1"
MAX_AGE = 60
bp = Blueprint("api", __name__, url_prefix=PREFIX)
# One allowance per client for the whole API, not one per route.
limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api")(bp)

# --- answers -------------------------------------------------------------------------------


def _cacheable(body: str, media_type: str) -> Response:
    response = Response(body, mimetype=media_type)
    response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response.make_conditional(request)


def _json(payload: Any, media_type: str = "application/json") -> Response:
    return _cacheable(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), media_type)


def _problem(code: int, title: str, detail: str, headers: dict[str, str]) -> Response:
    body = {"type": "about:blank", "title": title, "status": code, "detail": detail}
    response = Response(json.dumps(body, ensure_ascii=False), code, mimetype=spec.PROBLEM)
    response.headers.extend(headers)
    response.headers["Cache-Control"] = "no-store"
    return _open_to_any_site(response)  # errors before a route matched skip after_request


@bp.errorhandler(HTTPException)
def _view_error(error: HTTPException) -> Response:
    """A view's abort(code, "…"), the rate limit: said in the API's own words. (Errors
    before a route matched, or unexpected ones, come through core/errors.answer_under.)"""
    code = error.code or 500
    title, message = errors.MESSAGES.get(code, (error.name, ""))
    detail = error.description if error.description != type(error).description else message
    headers = {k: v for k, v in error.get_response().headers if k in errors.KEPT_HEADERS}
    if code == 429 and (limit := limiter.current_limit) is not None:
        headers["Retry-After"] = str(max(1, int(limit.reset_at - time.time())))
    return _problem(code, title, detail or title, headers)


@bp.after_request
def _open_to_any_site(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag, Link, Retry-After"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "If-None-Match"
        response.headers["Access-Control-Max-Age"] = "86400"
    return response


def _number(name: str, default: int, highest: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= highest:
        abort(400, f"« {name} » doit être un entier entre 1 et {highest}.")
    return int(raw)


_FILTERS = ("day",)


def _page(
    items: list[Any],
    shape: Any,
    key: str = "items",
    media_type: str = "application/json",
    head: dict[str, Any] | None = None,
) -> Response:
    """One page of `items`, each through `shape`, after `head`, with a Link to the next."""
    page = _number("page", 1, spec.MAX_PAGE)
    per_page = _number("per_page", spec.PER_PAGE, spec.MAX_PER_PAGE)
    chosen = items[(page - 1) * per_page : page * per_page]
    next_url = None
    if page * per_page < len(items):
        # Only the parameters the API reads: any other would make a cache entry of its own.
        args = {k: v for k, v in request.args.items() if k in _FILTERS}
        args.update(request.view_args or {}, page=page + 1, per_page=per_page)
        next_url = public_url_for(request.endpoint or "", **args)
    payload = {
        **(head or {}),
        key: [shape(i) for i in chosen],
        "page": page,
        "per_page": per_page,
        "total": len(items),
        "next": next_url,
    }
    response = _json(payload, media_type)
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


# --- petitions -----------------------------------------------------------------------------

COUNTS = obj(confirmed=INTEGER, paper=INTEGER, total=INTEGER)
PETITION = obj(
    slug=STRING,
    title=STRING,
    summary=STRING,
    addressee=STRING,
    url=URL,
    status={"enum": [s.value for s in PetitionStatus if s is not PetitionStatus.DRAFT]},
    text_version={"type": "integer", "minimum": 1},
    counts=COUNTS,
    target=INTEGER,
    opens_at=nullable(DATETIME),
    closes_at=nullable(DATETIME),
    handed_over_on=nullable(DATE),
    official_url=nullable(URL),
)
SLUG = {"slug": "The petition's identifier, as in its page's address."}


def _petition(petition: Petition, online: int) -> dict[str, Any]:
    return {
        "slug": petition.slug,
        "title": petition.title,
        "summary": petition.summary,
        "addressee": petition.addressee,
        "url": public_url_for("petition.show", slug=petition.slug),
        "status": petition.status.value,
        "text_version": petition.version,
        "counts": {
            "confirmed": online,
            "paper": petition.paper_count,
            "total": online + petition.paper_count,
        },
        "target": petition.target,
        "opens_at": _iso(petition.opens_at),
        "closes_at": _iso(petition.closes_at),
        "handed_over_on": _iso(petition.handed_over_on),
        "official_url": petition.official_url or None,
    }


def _public_petition(slug: str) -> Petition:
    petition = petitions.get_petition(slug)  # None for a draft
    if petition is None:
        abort(404, "Aucune pétition publique ne porte cet identifiant.")
    return petition


@bp.get("/petitions")
@documented(
    Operation(
        "Petitions",
        "Every public petition, oldest first: status, text version, counts, target, dates.",
        spec.page_of(PETITION),
        spec.PAGE_PARAMETERS,
    )
)
def petition_list() -> Response:
    found = petitions.public_petitions()
    online = counting.online_counts([p.id for p in found])
    return _page(found, lambda p: _petition(p, online[p.id]))


@bp.get("/petitions/<slug>")
@documented(Operation("A petition", "One public petition.", PETITION, path_descriptions=SLUG))
def petition_detail(slug: str) -> Response:
    petition = _public_petition(slug)
    return _json(_petition(petition, counting.online_counts([petition.id])[petition.id]))


def _breakdown(key: str, key_schema: Any, description: str) -> Operation:
    row = obj(**{key: key_schema, "count": INTEGER})
    schema = obj(
        petition=STRING,
        confirmed=INTEGER,
        rows={"type": "array", "items": row},
    )
    return Operation(f"Confirmed signatures per {key}", description, schema, path_descriptions=SLUG)


@bp.get("/petitions/<slug>/departements")
@documented(
    _breakdown(
        "departement",
        nullable(STRING),
        "Confirmed online signatures per département (INSEE code; null: abroad or unknown),"
        " most first. Paper signatures have no département.",
    )
)
def petition_departements(slug: str) -> Response:
    petition = _public_petition(slug)
    rows = [
        {"departement": None if d == stats.UNKNOWN else d, "count": n}
        for d, n in stats.per_departement(petition)
    ]
    return _json({"petition": slug, "confirmed": sum(r["count"] for r in rows), "rows": rows})


@bp.get("/petitions/<slug>/days")
@documented(_breakdown("day", DATE, "Confirmed online signatures per day of confirmation (UTC)."))
def petition_days(slug: str) -> Response:
    petition = _public_petition(slug)
    rows = [{"day": d.isoformat(), "count": n} for d, n in stats.per_day(petition)]
    return _json({"petition": slug, "confirmed": sum(r["count"] for r in rows), "rows": rows})


# --- rallies, days, members ----------------------------------------------------------------

RALLY = obj(
    type={"const": "Feature"},
    id={"type": "integer"},
    geometry=obj(
        type={"const": "Point"},
        coordinates={
            "type": "array",
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 2,
        },
    ),
    properties=obj(
        city=STRING,
        departement=STRING,
        venue=STRING,
        address=STRING,
        date=DATE,
        start_time=nullable(STRING),
        end_time=nullable(STRING),
        status={"enum": [s.value for s in (RallyStatus.PUBLISHED, RallyStatus.CANCELLED)]},
        day=obj(slug=STRING, title=STRING),
        organisations={"type": "array", "items": STRING},
        url=URL,
    ),
)
RALLIES = obj(
    type={"const": "FeatureCollection"},
    features={"type": "array", "items": RALLY},
    page={"type": "integer", "minimum": 1, "maximum": spec.MAX_PAGE},
    per_page={"type": "integer", "minimum": 1, "maximum": spec.MAX_PER_PAGE},
    total=INTEGER,
    next=nullable(URL),
)
DAY_PARAMETER = {
    "name": "day",
    "in": "query",
    "required": False,
    "description": "Only the rallies of this mobilisation day (its slug).",
    "schema": STRING,
}


def _rally(rally: Rally) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": rally.id,
        "geometry": {"type": "Point", "coordinates": [rally.longitude, rally.latitude]},
        "properties": {
            "city": rally.city,
            "departement": rally.departement,
            "venue": rally.venue,
            "address": rally.address,
            "date": rally.date.isoformat(),
            "start_time": _iso(rally.start_time),
            "end_time": _iso(rally.end_time),
            "status": rally.status.value,
            "day": {"slug": rally.day.slug, "title": rally.day.title},
            "organisations": [o.name for o in rally.organisations],
            "url": public_url_for("rallies.show", rally_id=rally.id),
        },
    }


@bp.get("/rallies")
@documented(
    Operation(
        "Rallies",
        "Published rallies (and cancelled ones, marked so) as a GeoJSON FeatureCollection"
        " (RFC 7946: longitude, latitude), by date then city. No contact details.",
        RALLIES,
        (DAY_PARAMETER, *spec.PAGE_PARAMETERS),
        media_type="application/geo+json",
    )
)
def rally_list() -> Response:
    day = None
    if (slug := request.args.get("day")) is not None:
        day = rallies.get_day(slug)
        if day is None:
            abort(404, "Aucune journée de mobilisation ne porte cet identifiant.")
    found = rallies.visible_rallies(day)
    collection = {"type": "FeatureCollection"}
    return _page(found, _rally, "features", "application/geo+json", collection)


DAY = obj(
    slug=STRING,
    title=STRING,
    date=DATE,
    cancelled={"type": "boolean"},
    rallies=INTEGER,
    url=URL,
)


def _day(day: MobilisationDay, counts: dict[int, dict[RallyStatus, int]]) -> dict[str, Any]:
    return {
        "slug": day.slug,
        "title": day.title,
        "date": day.date.isoformat(),
        "cancelled": day.cancelled_at is not None,
        "rallies": counts.get(day.id, {}).get(RallyStatus.PUBLISHED, 0),
        "url": public_url_for("rallies.day_page", slug=day.slug),
    }


@bp.get("/days")
@documented(
    Operation(
        "Mobilisation days",
        "The collective's mobilisation days, the next one first, with their published rallies.",
        spec.page_of(DAY),
        spec.PAGE_PARAMETERS,
    )
)
def day_list() -> Response:
    collective = current_collective()
    found = rallies.days(collective) if collective else []
    counts = rallies.rally_counts_by_day([d.id for d in found])
    return _page(found, lambda d: _day(d, counts))


MEMBER = obj(
    id={"type": "integer"},
    name=STRING,
    kind={"enum": [k.value for k in OrganisationKind]},
    departement=STRING,
    website=STRING,
    url=URL,
)


def _member(organisation: Organisation) -> dict[str, Any]:
    return {
        "id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind.value,
        "departement": organisation.departement,
        "website": organisation.website,
        "url": public_url_for("organisations.member", organisation_id=organisation.id),
    }


@bp.get("/organisations")
@documented(
    Operation(
        "Member organisations",
        "The collective's public directory: approved members that agreed to be listed, by"
        " name. No contact person, address or phone.",
        spec.page_of(MEMBER),
        spec.PAGE_PARAMETERS,
    )
)
def member_list() -> Response:
    return _page(organisations.members(), _member)


# --- the description -----------------------------------------------------------------------


@bp.get("/openapi.json")
@documented(
    Operation(
        "This description",
        "The OpenAPI 3.1 description of this API.",
        {"type": "object"},
    )
)
def openapi() -> Response:
    return _json(_description())


def _description() -> dict[str, Any]:
    collective = current_collective()
    name = collective.name if collective else "campaign"
    info = {
        "title": f"{name} — données publiques",
        "version": "1",
        "description": "Petitions, counts, rallies, days and members. No personal data.",
    }
    return spec.describe(current_app.url_map, PREFIX, bp.name, info)


@bp.get("/")
@documented(
    Operation(
        "Documentation",
        "This API's documentation, as a web page.",
        STRING,
        media_type="text/html",
    )
)
def docs() -> Response:
    html = render_template(
        "api/docs.html", api=_description(), prefix=PREFIX, collective=current_collective()
    )
    return _cacheable(html, "text/html")


@bp.get("/<path:rest>")
@documented(Operation("", "", {}))
def unknown(rest: str) -> Response:
    abort(404, "Cette adresse n’existe pas dans l’API : voir /api/v1/openapi.json.")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    errors.answer_under(app, PREFIX + "/", _problem)
