"""Public rally pages: the finder, a rally, « J'y serai », calendars and QR codes."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy.exc import IntegrityError

from campaign.content.services import current_collective
from campaign.core import pagecache, security
from campaign.core.db import retry_on_dropped_connection
from campaign.core.errors import refill_on_outage
from campaign.core.urls import public_url_for
from campaign.extensions import db, limiter
from campaign.kits.qr import qr_svg
from campaign.petition import services as petition_services
from campaign.petition.consent import consent_text
from campaign.places import gazetteer
from campaign.rallies import calendar, finder, rsvp, services
from campaign.rallies.forms import RsvpForm
from campaign.rallies.models import MobilisationDay, Rally, today

bp = Blueprint("rallies", __name__)
security.public_forms(bp)
# Without a search the finder is the same for everyone; a search is rendered each time.
pagecache.page(r"/rassemblements", uncached=("q", "commune", "lat", "lon"))
pagecache.page(r"/rassemblements/\d+", params=("source",))


@bp.get("/rassemblements")
def finder_page() -> tuple[str, int]:
    """Search by postcode, commune or position; without a search, every rally by day."""
    query = request.args.get("q", "")[:100]
    insee = request.args.get("commune", "")
    if insee and (commune := gazetteer.commune(insee)):
        resolution = finder.Resolution(place=finder.commune_place(commune))
    elif "lat" in request.args or "lon" in request.args:
        resolution = finder.position(request.args.get("lat", ""), request.args.get("lon", ""))
    elif query:
        resolution = finder.resolve(query)
    else:
        resolution = None
    results = finder.nearest(resolution.place, today()) if resolution and resolution.place else None
    collective = current_collective()
    days = services.days(collective) if collective else []
    return render_template(
        "rallies/finder.html",
        collective=collective,
        query=query,
        resolution=resolution,
        results=results,
        near_km=finder.NEAR_KM,
        days=days,
        # Without a search, the page lists the coming days' rallies (past days link to theirs).
        by_day={} if results else services.upcoming_by_day(days, today()),
        today=today(),
    ), (422 if resolution and resolution.error else 200)


@bp.get("/rassemblements/communes.json")
def communes() -> Response:
    """Suggestions for the finder's field: « Lyon 3e Arrondissement (69) »."""
    found = gazetteer.find(request.args.get("q", ""), limit=8)
    response = jsonify(
        [
            {"label": c.label, "commune": c.insee, "postcodes": list(c.postcodes[:3])}
            for c in found[:8]
        ]
    )
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


@bp.get("/rassemblements/carte.json")
def map_data() -> Response:
    """The map's markers: a day's rallies (?jour=<slug>), else every upcoming one."""
    day = services.get_day(request.args.get("jour", "")) if "jour" in request.args else None
    now = today()
    response = jsonify(
        [
            {
                "id": m.id,
                "city": m.city,
                "lat": m.latitude,
                "lon": m.longitude,
                "date": m.date.isoformat(),
                "state": m.state(now),
                "url": url_for("rallies.show", rally_id=m.id),
            }
            for m in services.markers(day, now)
        ]
    )
    response.cache_control.max_age = 60
    return response


def _rally_or_404(rally_id: int) -> Rally:
    rally = services.visible_rally(rally_id)
    if rally is None:
        abort(404)
    return rally


def _rally_page(rally: Rally, form: RsvpForm, status: int = 200) -> tuple[str, int]:
    confirmed = services.confirmed_counts([rally.id]).get(rally.id, 0)
    petitions = [p for p in petition_services.public_petitions() if p.is_open()]
    return render_template(
        "rallies/show.html",
        rally=rally,
        collective=rally.day.collective,
        form=form,
        confirmed=confirmed,
        full=rally.is_full(confirmed),
        takes_rsvps=rsvp.takes_rsvps(rally),
        state=rally.state(today()),
        consent=consent_text(rally.day.collective.name),
        page_url=public_url_for("rallies.show", rally_id=rally.id),
        petitions=petitions,
    ), status


@bp.get("/rassemblements/<int:rally_id>")
def show(rally_id: int) -> tuple[str, int]:
    form = RsvpForm(formdata=None, data={"source": request.args.get("source", "")[:64]})
    return _rally_page(_rally_or_404(rally_id), form)


@bp.post("/rassemblements/<int:rally_id>")
@limiter.limit(lambda: current_app.config["SIGN_RATE_LIMIT"])
@refill_on_outage(RsvpForm)
@retry_on_dropped_connection
def register(rally_id: int) -> Response | tuple[str, int]:
    rally = _rally_or_404(rally_id)
    form = RsvpForm()
    if not form.validate():
        return _rally_page(rally, form, 422)
    if not rsvp.takes_rsvps(rally):
        return _rally_page(rally, form, 409)
    if not form.is_bot():
        try:
            rsvp.register(rally, form.to_input())
            db.session.commit()
        except IntegrityError:  # the rally was deleted meanwhile
            db.session.rollback()
            abort(404)
    return redirect(url_for("rallies.check_mail", rally_id=rally.id), code=303)


@bp.get("/rassemblements/<int:rally_id>/inscription")
def check_mail(rally_id: int) -> str:
    rally = _rally_or_404(rally_id)
    return render_template("rallies/check_mail.html", rally=rally, collective=rally.day.collective)


@bp.get("/rassemblements/venue/<token>")
def confirm_rsvp(token: str) -> tuple[str, int]:
    """GET confirms, idempotently, as the signature link does (see the README)."""
    status, found = rsvp.confirm(token)
    db.session.commit()
    confirmed = services.confirmed_counts([found.rally_id]).get(found.rally_id, 0) if found else 0
    code = 404 if status is rsvp.ConfirmStatus.UNKNOWN else 200
    return render_template(
        "rallies/confirmed.html",
        status=status.value,
        rsvp=found,
        confirmed=confirmed,
        collective=current_collective(),
    ), code


@bp.route("/rassemblements/venue/<token>/annuler", methods=["GET", "POST"])
def cancel_rsvp(token: str) -> tuple[str, int]:
    """GET asks (mail scanners follow links), POST deletes."""
    if request.method == "GET":
        found = rsvp.find_by_token(token)
        return render_template(
            "rallies/cancel.html", rsvp=found, done=False, collective=current_collective()
        ), (200 if found else 404)
    rally = rsvp.cancel(token)
    db.session.commit()
    return render_template(
        "rallies/cancel.html", rsvp=None, rally=rally, done=True, collective=current_collective()
    ), (200 if rally else 404)


def _host() -> str:
    return urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"


def _calendar(rallies: list[Rally], name: str, filename: str) -> Response:
    return Response(
        calendar.ics(rallies, name, _host()),
        mimetype="text/calendar",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "public, max-age=300",
        },
    )


@bp.get("/rassemblements/<int:rally_id>.ics")
def rally_ics(rally_id: int) -> Response:
    rally = _rally_or_404(rally_id)
    return _calendar([rally], f"{rally.day.title} : {rally.city}", f"rassemblement-{rally.id}.ics")


@bp.get("/rassemblements/<int:rally_id>/qr.svg")
def rally_qr(rally_id: int) -> Response:
    rally = _rally_or_404(rally_id)
    response = Response(
        qr_svg(public_url_for("rallies.show", rally_id=rally.id)), mimetype="image/svg+xml"
    )
    response.cache_control.max_age = 86400
    return response


def _day_or_404(slug: str) -> MobilisationDay:
    day = services.get_day(slug)
    if day is None:
        abort(404)
    return day


@bp.get("/mobilisations/<slug>")
def day_page(slug: str) -> str:
    day = _day_or_404(slug)
    rallies = services.visible_rallies(day)
    return render_template(
        "rallies/day.html",
        day=day,
        collective=day.collective,
        rallies=rallies,
        counts=services.confirmed_counts([r.id for r in rallies]),
        today=today(),
    )


@bp.get("/mobilisations/<slug>.ics")
def day_ics(slug: str) -> Response:
    """A feed to subscribe to: every published (and cancelled) rally of the day."""
    day = _day_or_404(slug)
    return _calendar(services.visible_rallies(day), day.title, f"{day.slug}.ics")
