"""Console sign-in, invitations, two-factor set-up, accounts and the audit log."""

from __future__ import annotations

from base64 import b64encode
from urllib.parse import urlsplit

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import ValidationError

from campaign.console import auth
from campaign.console.auth import Step, requires
from campaign.console.blueprint import bp
from campaign.console.models import ROLE_LABELS, AuditEntry, Organiser, Role
from campaign.content.services import current_collective
from campaign.core import crypto
from campaign.core.forms import PublicForm, email_field, max_length, name_field, required
from campaign.core.mail import queue_mail
from campaign.core.urls import public_url_for
from campaign.extensions import client_network, db, limiter
from campaign.kits.qr import qr_svg
from campaign.organisations.services import members


class SignInForm(PublicForm):
    email = email_field()
    password = PasswordField("Mot de passe", validators=[required(), max_length(200)])


def _code_field(label: str) -> StringField:
    return StringField(
        label,
        validators=[required(), max_length(10)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class CodeForm(PublicForm):
    code = _code_field("Code à 6 chiffres de votre application")


class ReplaceCodeForm(PublicForm):
    current_code = _code_field("Code de l’application configurée jusqu’ici")
    code = _code_field("Code à 6 chiffres de la nouvelle application")


class PasswordForm(PublicForm):
    password = PasswordField("Nouveau mot de passe", validators=[required(), max_length(200)])
    confirm = PasswordField("Le même, encore", validators=[required()])

    def __init__(self, *args: object, email: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def validate_password(self, field: PasswordField) -> None:
        if problem := auth.password_problem(field.data or "", self.email):
            raise ValidationError(problem)

    def validate_confirm(self, field: PasswordField) -> None:
        if field.data != self.password.data:
            raise ValidationError("Les deux mots de passe diffèrent.")


class InviteForm(PublicForm):
    name = name_field("Nom", "name")
    email = email_field()
    role = SelectField("Rôle", choices=[SelectChoice(r.value, ROLE_LABELS[r]) for r in Role])
    organisation = SelectField("Organisation (organisateur de rassemblement)", choices=[])


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect."""
    if target and target.startswith("/console") and not urlsplit(target).netloc:
        return target
    return url_for("console.home")


@bp.app_context_processor
def _console_globals() -> dict[str, object]:
    return {"current_organiser": auth.current_organiser, "role_labels": ROLE_LABELS}


@bp.get("/")
@requires(Role.ORGANISER, Role.RALLY_ORGANISER)
def home() -> Response:
    me = auth.current_organiser()
    assert me is not None  # nosec B101  # requires() let the request in
    target = "console.rallies" if me.role is Role.RALLY_ORGANISER else "console.dashboard"
    return redirect(url_for(target))


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["CONSOLE_LOGIN_RATE_LIMIT"], methods=["POST"])
def sign_in_form() -> Response | tuple[str, int]:
    form = SignInForm()
    if request.method == "GET":
        return render_template("console/sign_in.html", form=SignInForm(formdata=None)), 200
    if not form.validate():
        return render_template("console/sign_in.html", form=form), 422
    step, organiser = auth.check_password(form.email.data, form.password.data, client_network())
    db.session.commit()  # failures count even when refused
    if step is Step.REFUSED:
        return render_template("console/sign_in.html", form=form, error=auth.GENERIC_ERROR), 401
    if step is Step.SIGNED_IN:
        return _signed_in(organiser)
    auth.hold_for_code(organiser, step)
    target = "console.code" if step is Step.NEED_CODE else "console.enrol"
    return redirect(url_for(target, suivant=request.args.get("suivant", "")), code=303)


def _signed_in(organiser: Organiser) -> Response:
    auth.sign_in(organiser, client_network())
    db.session.commit()
    return redirect(_safe_next(request.args.get("suivant")), code=303)


@bp.route("/connexion/code", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["CONSOLE_LOGIN_RATE_LIMIT"], methods=["POST"])
def code() -> Response | tuple[str, int]:
    organiser = auth.pending_organiser()
    if organiser is None:
        return redirect(url_for("console.sign_in_form"))
    form = CodeForm()
    if request.method == "POST" and form.validate():
        if auth.check_code(organiser, form.code.data, client_network()):
            return _signed_in(organiser)
        db.session.commit()
        return render_template("console/code.html", form=form, error=auth.GENERIC_ERROR), 401
    status = 422 if request.method == "POST" else 200
    return render_template("console/code.html", form=form), status


def _qr_data_uri(uri: str) -> str:
    return "data:image/svg+xml;base64," + b64encode(qr_svg(uri, caption=False)).decode()


def _candidate_secret(organiser: Organiser) -> str:
    """The secret being set up, kept in the session encrypted (the cookie is only signed)
    and bound to its account."""
    held = session.get("totp_candidate")
    if isinstance(held, dict) and held.get("for") == organiser.id:
        try:
            return crypto.decrypt(str(held.get("secret")))
        except (RuntimeError, ValueError):
            pass
    secret = auth.new_totp_secret()
    session["totp_candidate"] = {"for": organiser.id, "secret": crypto.encrypt(secret)}
    return secret


@bp.route("/connexion/double-authentification", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["CONSOLE_LOGIN_RATE_LIMIT"], methods=["POST"])
def enrol() -> Response | tuple[str, int]:
    """Set a second factor up. Open to an account with none: after its password when the
    password step said so (admins must), or signed in. Replacing one, signed in, needs a
    code of the current secret as well."""
    me = auth.current_organiser()
    organiser = me or auth.pending_organiser(enrolling=True)
    if organiser is None:
        if auth.pending_organiser() is not None:
            return redirect(url_for("console.code", suivant=request.args.get("suivant", "")))
        return redirect(url_for("console.sign_in_form"))
    replacing = organiser.has_totp
    secret = _candidate_secret(organiser)
    form = ReplaceCodeForm() if replacing else CodeForm()
    if request.method == "POST" and form.validate():
        network = client_network()
        if replacing and not auth.check_code(organiser, form.current_code.data, network):
            db.session.commit()  # the failure counts
            form.current_code.errors = [auth.GENERIC_ERROR]
        elif auth.set_totp(organiser, secret, form.code.data):
            session.pop("totp_candidate", None)
            if replacing:
                _tell_owner_totp_changed(organiser, by=None)
                db.session.commit()
                flash("Double authentification remplacée.", "success")
                return redirect(url_for("console.home"), code=303)
            flash("Double authentification activée.", "success")
            if me is None:
                return _signed_in(organiser)
            db.session.commit()
            return redirect(url_for("console.home"), code=303)
        else:
            db.session.rollback()
            form.code.errors = ["Code incorrect : vérifiez l’heure de votre téléphone."]
    issuer = current_collective().name if current_collective() else "campaign"
    uri = auth.provisioning_uri(organiser, secret, issuer)
    return render_template(
        "console/enrol.html", form=form, secret=secret, qr=_qr_data_uri(uri), replacing=replacing
    ), (422 if request.method == "POST" else 200)


def _tell_owner_totp_changed(organiser: Organiser, by: Organiser | None) -> None:
    queue_mail(
        organiser.email,
        "Votre double authentification a changé",
        "console/totp_changed",
        organiser=organiser,
        by=by,
        link=public_url_for("console.sign_in_form"),
    )


@bp.post("/deconnexion")
def sign_out() -> Response:
    auth.sign_out()
    db.session.commit()
    flash("Vous êtes déconnecté·e.", "success")
    return redirect(url_for("console.sign_in_form"), code=303)


@bp.post("/deconnexion-partout")
@requires(Role.ORGANISER, Role.RALLY_ORGANISER)
def sign_out_everywhere() -> Response:
    me = auth.current_organiser()
    assert me is not None  # nosec B101  # requires() let the request in
    auth.sign_out_everywhere(me)
    db.session.commit()
    flash("Toutes vos sessions sont fermées.", "success")
    return redirect(url_for("console.sign_in_form"), code=303)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str) -> Response | tuple[str, int]:
    organiser = auth.invited(token)
    if organiser is None:
        return render_template("console/invitation.html", organiser=None, form=None), 404
    form = PasswordForm(email=organiser.email)
    if request.method == "POST" and form.validate():
        auth.set_password(organiser, form.password.data)
        organiser.invite_nonce = None  # one use
        db.session.commit()
        if organiser.role is Role.ADMIN and not organiser.has_totp:
            auth.hold_for_code(organiser, Step.ENROL)
            return redirect(url_for("console.enrol"), code=303)
        if organiser.has_totp:
            auth.hold_for_code(organiser, Step.NEED_CODE)
            return redirect(url_for("console.code"), code=303)
        auth.sign_in(organiser, client_network())
        db.session.commit()
        return redirect(url_for("console.home"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("console/invitation.html", organiser=organiser, form=form), status


# --- accounts (admins) --------------------------------------------------------------------


def _invite_form() -> InviteForm:
    form = InviteForm()
    form.organisation.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(o.id), o.name) for o in members()
    ]
    return form


def send_invitation(organiser: Organiser, token: str) -> None:
    queue_mail(
        organiser.email,
        "Votre accès à la console de la campagne",
        "console/invitation",
        organiser=organiser,
        role=ROLE_LABELS[organiser.role],
        link=public_url_for("console.accept_invitation", token=token),
        hours=auth.INVITE_HOURS,
    )


@bp.route("/comptes", methods=["GET", "POST"])
@requires(Role.ADMIN)
def accounts() -> Response | tuple[str, int]:
    form = _invite_form()
    status = 200
    if request.method == "POST":
        role = Role(form.role.data) if form.role.data in set(Role) else None
        organisation = form.organisation.data
        if role is Role.RALLY_ORGANISER and not organisation.isdigit():
            form.organisation.errors = ["Choisissez son organisation."]
        elif form.validate() and role is not None:
            try:
                organiser, token = auth.invite(
                    form.email.data,
                    form.name.data,
                    role,
                    by=auth.current_organiser(),
                    organisation_id=int(organisation) if organisation.isdigit() else None,
                )
                send_invitation(organiser, token)
                db.session.commit()
                flash(f"Invitation envoyée à {organiser.email}.", "success")
                return redirect(url_for("console.accounts"), code=303)
            except IntegrityError:
                db.session.rollback()
                form.email.errors = ["Un compte existe déjà pour cette adresse."]
        status = 422
    everyone = db.session.execute(select(Organiser).order_by(Organiser.name)).scalars()
    return render_template("console/accounts.html", form=form, accounts=list(everyone)), status


@bp.post("/comptes/<int:organiser_id>/desactiver")
@requires(Role.ADMIN)
def deactivate(organiser_id: int) -> Response:
    organiser = db.session.get(Organiser, organiser_id)
    me = auth.current_organiser()
    if organiser is None:
        abort(404)
    if me is not None and organiser.id == me.id:
        flash("Vous ne pouvez pas désactiver votre propre compte.", "error")
    else:
        organiser.active = False
        auth.end_sessions(organiser)
        db.session.commit()
        flash(f"Compte de {organiser.name} désactivé.", "success")
    return redirect(url_for("console.accounts"), code=303)


@bp.post("/comptes/<int:organiser_id>/double-authentification")
@requires(Role.ADMIN)
def reset_totp(organiser_id: int) -> Response:
    """An admin's reset of someone's second factor (a lost phone): audited, the owner told."""
    organiser = db.session.get(Organiser, organiser_id)
    me = auth.current_organiser()
    if organiser is None or me is None:
        abort(404)
    if organiser.id == me.id:
        flash("Remplacez votre propre double authentification depuis votre compte.", "error")
    elif organiser.has_totp:
        auth.reset_totp(organiser)
        auth.audit("account.totp_reset", what=f"compte {organiser.id} {organiser.email}")
        _tell_owner_totp_changed(organiser, by=me)
        db.session.commit()
        flash(f"Double authentification de {organiser.name} réinitialisée.", "success")
    return redirect(url_for("console.accounts"), code=303)


@bp.get("/journal")
@requires(Role.ADMIN)
def audit_log() -> str:
    entries = db.session.execute(
        select(AuditEntry).order_by(AuditEntry.at.desc()).limit(500)
    ).scalars()
    return render_template("console/audit.html", entries=list(entries))
