"""Public pages for organisations: apply to join, confirm the contact email, the directory,
asking for a management link. The member space itself is manage_views.py, nested here."""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from sqlalchemy.exc import IntegrityError

from campaign.content.models import Collective
from campaign.content.services import current_collective
from campaign.core import security
from campaign.core.db import retry_on_dropped_connection
from campaign.core.errors import refill_on_outage
from campaign.core.forms import EmailForm
from campaign.core.geo import DEPARTEMENTS
from campaign.extensions import db, limiter
from campaign.organisations import services
from campaign.organisations.forms import KIND_LABELS, ApplyForm
from campaign.organisations.manage_views import bp as member_space_bp
from campaign.organisations.manage_views import referral_links
from campaign.organisations.models import NATIONAL, OrganisationKind

bp = Blueprint("organisations", __name__)
security.public_forms(bp)
bp.register_blueprint(member_space_bp)

DUPLICATE_MESSAGE = (
    "Une demande d’adhésion existe déjà pour cette organisation. Si vous en êtes le contact, "
    "vérifiez votre boîte mail ; sinon, rapprochez-vous de la personne qui l’a déposée."
)


def _collective_or_404() -> Collective:
    collective = current_collective()
    if collective is None:
        abort(404)
    return collective


def _page(collective: Collective, form: ApplyForm, status: int = 200, duplicate: bool = False):  # type: ignore[no-untyped-def]
    return render_template(
        "organisations/apply.html",
        collective=collective,
        form=form,
        duplicate=duplicate,
        duplicate_message=DUPLICATE_MESSAGE,
    ), status


@bp.get("/rejoindre")
def apply_form() -> tuple[str, int]:
    return _page(_collective_or_404(), ApplyForm(formdata=None))


@bp.post("/rejoindre")
@limiter.limit(lambda: current_app.config["SIGN_RATE_LIMIT"])
@refill_on_outage(ApplyForm)
@retry_on_dropped_connection
def apply() -> Response | tuple[str, int]:
    collective = _collective_or_404()
    form = ApplyForm()
    if not form.validate():
        return _page(collective, form, 422)
    if not form.is_bot():
        try:
            services.apply(collective, form.to_application())
            db.session.commit()
        except (services.DuplicateApplicationError, IntegrityError):
            db.session.rollback()  # IntegrityError: a twin application won the race
            return _page(collective, form, 409, duplicate=True)
    return redirect(url_for("organisations.check_mail"), code=303)


@bp.get("/rejoindre/merci")
def check_mail() -> str:
    return render_template("organisations/check_mail.html", collective=current_collective())


@bp.get("/organisations/confirmer/<int:organisation_id>/<token>")
def confirm(organisation_id: int, token: str) -> tuple[str, int]:
    organisation = services.confirm_email(organisation_id, token)
    db.session.commit()
    return render_template(
        "organisations/confirmed.html",
        organisation=organisation,
        collective=current_collective(),
    ), (200 if organisation else 404)


@bp.get("/organisations")
def directory() -> str:
    """The public directory of members, filtered without JavaScript (a GET form)."""
    kind = request.args.get("type", "")
    departement = request.args.get("departement", "")
    search = request.args.get("q", "")[:100]
    kinds = {k.value: k for k in OrganisationKind}
    return render_template(
        "organisations/directory.html",
        collective=current_collective(),
        members=services.members(
            kind=kinds.get(kind),
            departement=departement if departement in {NATIONAL, *DEPARTEMENTS} else None,
            search=search,
        ),
        total=services.member_count(),
        kind_labels=KIND_LABELS,
        departements=DEPARTEMENTS,
        national=NATIONAL,
        filters={"type": kind, "departement": departement, "q": search},
    )


@bp.get("/organisations/<int:organisation_id>")
def member(organisation_id: int) -> str:
    organisation = services.public_member(organisation_id)
    if organisation is None:
        abort(404)
    return render_template(
        "organisations/member.html",
        collective=organisation.collective,
        organisation=organisation,
        kind_label=KIND_LABELS[organisation.kind],
        national=NATIONAL,
        brought=services.signatures_brought(organisation.id),
        referral_links=referral_links(organisation),
    )


_LOGO_NAME = re.compile(r"[0-9a-f]{32}\.png")


@bp.get("/organisations/logos/<name>")
def logo(name: str) -> Response:
    if not _LOGO_NAME.fullmatch(name):
        abort(404)
    # Random, never reused names: the file behind a name never changes.
    return send_from_directory(
        services.logo_folder(), name, mimetype="image/png", max_age=365 * 24 * 3600
    )


LINK_SENT = (
    "Si cette adresse est celle d’une organisation membre, "
    "un lien de gestion vient de lui être envoyé."
)


@bp.route("/organisations/gerer", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGN_RATE_LIMIT"], methods=["POST"])
@refill_on_outage(EmailForm)
def request_manage_link() -> Response | tuple[str, int]:
    form = EmailForm()
    if request.method == "POST":
        if not form.validate():
            return render_template("organisations/request_link.html", form=form), 422
        services.send_manage_links(form.email.data)
        db.session.commit()
        # The answer travels in the URL, not in a session: this page sets no cookie.
        return redirect(url_for("organisations.request_manage_link", envoye=1), code=303)
    sent = LINK_SENT if request.args.get("envoye") == "1" else None
    return render_template(
        "organisations/request_link.html", form=EmailForm(formdata=None), sent=sent
    ), 200


# --- the interim moderation pages' old addresses: the console's queues replaced them -----


@bp.route("/moderation", methods=["GET", "POST"])
@bp.route("/moderation/connexion/<token>", methods=["GET", "POST"])
@bp.route("/moderation/<int:organisation_id>", methods=["GET", "POST"])
@bp.route("/moderation/rassemblements", methods=["GET", "POST"])
@bp.route("/moderation/rassemblements/<int:rally_id>", methods=["GET", "POST"])
def old_moderation(**_: object) -> Response:
    """Old bookmarks land in the console (which asks its own sign-in). A form posted from
    an old page decides nothing: the browser is sent to look at the queue instead."""
    return redirect(url_for("console.moderation"), code=301 if request.method == "GET" else 303)
