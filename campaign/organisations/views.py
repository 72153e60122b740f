"""Public pages for organisations: apply to join, confirm the contact email."""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from sqlalchemy.exc import IntegrityError

from campaign.console import decisions
from campaign.content.models import Collective
from campaign.content.services import current_collective
from campaign.core.forms import EmailForm
from campaign.core.geo import DEPARTEMENTS
from campaign.core.urls import public_url_for
from campaign.extensions import db, limiter
from campaign.organisations import access, services
from campaign.organisations.forms import KIND_LABELS, ApplyForm, ManageForm
from campaign.organisations.models import NATIONAL, Organisation, OrganisationKind
from campaign.petition import services as petition_services
from campaign.petition.models import Petition
from campaign.rallies import services as rally_services
from campaign.rallies.models import today

bp = Blueprint("organisations", __name__)

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
        referral_links=_referral_links(organisation),
    )


def _referral_links(organisation: Organisation) -> list[tuple[Petition, str]]:
    """Each open petition with the organisation's link to it."""
    return [
        (p, public_url_for("petition.show", slug=p.slug, org=organisation.referral_code))
        for p in petition_services.public_petitions()
        if p.is_open()
    ]


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
def request_manage_link() -> Response | tuple[str, int]:
    form = EmailForm()
    if request.method == "POST":
        if not form.validate():
            return render_template("organisations/request_link.html", form=form), 422
        services.send_manage_links(form.email.data)
        db.session.commit()
        flash(LINK_SENT, "success")
        return redirect(url_for("organisations.request_manage_link"), code=303)
    return render_template("organisations/request_link.html", form=EmailForm(formdata=None)), 200


@bp.route("/organisations/gerer/<token>", methods=["GET", "POST"])
def manage_link(token: str) -> Response | tuple[str, int]:
    """GET only asks (a mail scanner must not spend the one-use link); POST opens the space."""
    if request.method == "GET":
        return render_template("organisations/manage_link.html", token=token), 200
    organisation = services.use_manage_link(token)
    db.session.commit()
    if organisation is None:
        form = EmailForm(formdata=None)
        return render_template("organisations/request_link.html", form=form, spent=True), 410
    access.open_management(organisation)
    return redirect(url_for("organisations.manage"), code=303)


@bp.route("/organisations/espace", methods=["GET", "POST"])
def manage() -> Response | tuple[str, int]:
    organisation = access.managed_organisation()
    if organisation is None:
        return redirect(url_for("organisations.request_manage_link"))
    form = ManageForm(obj=organisation if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        if form.validate():
            services.update_profile(organisation, form.presentation.data, form.logo_png)
            db.session.commit()
            flash("Modifications enregistrées.", "success")
            return redirect(url_for("organisations.manage"), code=303)
        status = 422
    rallies = rally_services.rallies_of(organisation)
    return render_template(
        "organisations/manage.html",
        organisation=organisation,
        collective=organisation.collective,
        form=form,
        brought=services.signatures_brought(organisation.id),
        referral_links=_referral_links(organisation),
        rallies=rallies,
        counts=rally_services.confirmed_counts([r.id for r in rallies]),
        today=today(),
    ), status


# --- interim moderation page (the organisers' console takes it over) ----------------------


@bp.route("/moderation/connexion/<token>", methods=["GET", "POST"])
def moderation_sign_in(token: str) -> Response | tuple[str, int]:
    """GET asks, POST signs in: a link printed by `flask organisations moderation-link`."""
    moderator = services.moderator_from_link(token)
    if moderator is None:
        abort(404)
    if request.method == "GET":
        return render_template("organisations/moderation_sign_in.html", moderator=moderator), 200
    access.open_moderation(moderator)
    return redirect(url_for("organisations.moderation"), code=303)


@bp.get("/moderation")
def moderation() -> str:
    access.current_moderator()
    return render_template(
        "organisations/moderation.html",
        pending=services.pending_applications(),
        kind_labels=KIND_LABELS,
        national=NATIONAL,
        collective=current_collective(),
    )


@bp.post("/moderation/<int:organisation_id>")
def moderate(organisation_id: int) -> Response:
    moderator = access.current_moderator()
    flash(*decisions.decide_organisation(organisation_id, request.form, moderator))
    return redirect(url_for("organisations.moderation"), code=303)
