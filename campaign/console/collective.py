"""The collective's identity, demands and key figures, edited by admins (content/editing.py).

Two app-wide pieces live here too, since this is where the identity is edited:
- the `brand()` template global: the collective's name, short name, logo and colour, for
  the site header (base.html) and the emails' layout;
- `/theme.css`: the brand colour as the site's `--accent` custom property. The CSP
  allows no inline style (core/security.py: style-src 'self'), so the colour comes as a
  tiny stylesheet of the site's own, linked after site.css with the colour in its URL:
  a new colour is a new URL, an unchanged one stays in the browser's cache, and its ETag
  (the colour itself) answers a revalidation with a 304.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_wtf.file import FileField
from sqlalchemy.exc import SQLAlchemyError
from wtforms import BooleanField, EmailField, StringField, TextAreaField
from wtforms.validators import Optional, ValidationError

from campaign.console import auth
from campaign.console.auth import requires
from campaign.console.blueprint import bp
from campaign.console.models import Role
from campaign.content import editing
from campaign.content.models import Collective, Demand, KeyFigure
from campaign.content.services import current_collective
from campaign.core import colour
from campaign.core.forms import (
    PublicForm,
    email_address,
    max_length,
    no_control_characters,
    required,
    uploaded_logo,
)
from campaign.core.text import collapse_spaces, has_control_characters
from campaign.extensions import db
from campaign.petition import editing as petition_editing
from campaign.petition import services as petition_services

# --- app-wide: the brand in templates, the theme stylesheet ---------------------------------


@bp.app_template_global("brand")
def brand(collective: Collective | None = None) -> editing.Brand:
    """The brand of `collective`, or of the site's collective when a page has none."""
    if collective:
        return editing.brand_of(collective)
    try:
        return editing.brand_of(current_collective())
    except SQLAlchemyError:  # an error page after a failed transaction: still a page
        return editing.brand_of(None)


def theme_css() -> Response:
    value = brand().colour
    response = Response(f":root {{ --accent: {value}; }}\n", mimetype="text/css")
    response.set_etag(value[1:])
    response.cache_control.public = True
    if request.args.get("v") == value[1:]:
        response.cache_control.max_age = 365 * 24 * 3600
        response.cache_control.immutable = True
    else:  # an old or no version in the URL: check each time, with the ETag
        response.cache_control.no_cache = True
    return response.make_conditional(request)


@bp.record_once
def _theme_route(state: BlueprintSetupState) -> None:
    # At the site's root, outside the console's /console prefix and its no-store.
    state.app.add_url_rule("/theme.css", "theme_css", theme_css)


# --- fields ---------------------------------------------------------------------------------


def _line(value: str | None) -> str:
    return collapse_spaces(value) if value else ""


def _text(value: str | None) -> str:
    """A multi-line text: Windows line ends folded, outer blank space dropped."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip() if value else ""


def multiline_text(form: object, field: TextAreaField) -> None:
    if field.data and has_control_characters(field.data.replace("\n", "").replace("\t", "")):
        raise ValidationError("Ce champ contient des caractères invisibles ou de contrôle.")


def _web_address(https_only: bool):  # type: ignore[no-untyped-def]
    def check(form: object, field: StringField) -> None:
        if not field.data:
            return
        parts = urlsplit(field.data)
        schemes = ("https",) if https_only else ("http", "https")
        if (
            parts.scheme not in schemes
            or not parts.hostname
            or "." not in parts.hostname
            or any(ch.isspace() for ch in field.data)
        ):
            start = "https://" if https_only else "https:// ou http://"
            raise ValidationError(
                f"Adresse web invalide : elle doit commencer par {start}, "
                "par exemple https://exemple.fr."
            )

    return check


def line_field(label: str, limit: int, *, needed: bool = False) -> StringField:
    return StringField(
        label,
        filters=[_line],
        validators=[*([required()] if needed else []), max_length(limit), no_control_characters],
    )


def text_field(label: str, limit: int, *, needed: bool = False, **kwargs: object) -> TextAreaField:
    return TextAreaField(
        label,
        filters=[_text],
        validators=[*([required()] if needed else []), max_length(limit), multiline_text],
        **kwargs,
    )


def address_field(label: str, limit: int = 300, *, https_only: bool = False) -> StringField:
    return StringField(
        label,
        filters=[lambda v: v.strip() if v else ""],
        validators=[max_length(limit), no_control_characters, _web_address(https_only)],
        render_kw={"inputmode": "url"},
    )


# --- the identity ---------------------------------------------------------------------------

LINKS = range(1, editing.MAX_SOCIAL_LINKS + 1)


class CollectiveForm(PublicForm):
    name = line_field("Nom du collectif", 200, needed=True)
    short_name = line_field("Nom court (facultatif)", 60)
    tagline = line_field("Phrase d’accroche", 300)
    presentation = text_field("Présentation", 10_000, render_kw={"rows": 10})
    coordinator = line_field("Organisation coordinatrice", 200)
    website = address_field("Site web")
    contact_email = EmailField(
        "Adresse e-mail de contact",
        filters=[lambda v: v.strip() if v else ""],
        validators=[Optional(), max_length(254), email_address],
    )
    brand_colour = StringField(
        "Couleur principale",
        filters=[lambda v: colour.normalise(v) or (v or "").strip()],
        validators=[required("Indiquez une couleur, par exemple #1f4e8c."), max_length(7)],
        render_kw={"spellcheck": "false", "autocomplete": "off"},
    )
    logo = FileField(
        "Nouveau logo (facultatif)",
        render_kw={"accept": "image/png,image/jpeg,image/webp,image/svg+xml"},
    )
    remove_logo = BooleanField("Retirer le logo")

    def validate_brand_colour(self, field: StringField) -> None:
        if problem := colour.brand_problem(field.data or ""):
            raise ValidationError(problem)

    def validate_logo(self, field: FileField) -> None:
        self.logo_png = uploaded_logo(field, allow_svg=True)

    def validate(self, extra_validators: object = None) -> bool:
        valid = super().validate(extra_validators)  # type: ignore[arg-type]
        for i in LINKS:
            label, url = self[f"link_label_{i}"], self[f"link_url_{i}"]
            if label.data and not url.data and not url.errors:
                url.errors = [*url.errors, "Indiquez l’adresse de ce lien, ou effacez son nom."]
                valid = False
            elif url.data and not label.data and not label.errors:
                label.errors = [*label.errors, "Nommez ce lien, par exemple « Mastodon »."]
                valid = False
        return valid

    def links_filled(self) -> list[dict[str, str]]:
        return [
            {"label": self[f"link_label_{i}"].data, "url": self[f"link_url_{i}"].data}
            for i in LINKS
            if self[f"link_label_{i}"].data and self[f"link_url_{i}"].data
        ]

    def identity(self) -> editing.Identity:
        return editing.Identity(
            name=self.name.data,
            short_name=self.short_name.data,
            tagline=self.tagline.data,
            presentation=self.presentation.data,
            coordinator=self.coordinator.data,
            website=self.website.data,
            contact_email=self.contact_email.data,
            social_links=self.links_filled(),
            brand_colour=self.brand_colour.data,
            logo_png=getattr(self, "logo_png", None),
            remove_logo=bool(self.remove_logo.data),
        )


# Eight rows of two fields, for a browser without JavaScript; empty rows are ignored.
for _i in LINKS:
    setattr(CollectiveForm, f"link_label_{_i}", line_field(f"Lien {_i} : nom", 60))
    setattr(
        CollectiveForm,
        f"link_url_{_i}",
        address_field(f"Lien {_i} : adresse", https_only=True),
    )


def _identity_data(collective: Collective | None) -> dict[str, object]:
    if collective is None:
        return {"brand_colour": colour.DEFAULT}
    data: dict[str, object] = {
        field: getattr(collective, field)
        for field in (
            "name",
            "short_name",
            "tagline",
            "presentation",
            "coordinator",
            "website",
            "contact_email",
            "brand_colour",
        )
    }
    for i, link in enumerate(collective.social_links or [], start=1):
        data[f"link_label_{i}"], data[f"link_url_{i}"] = link.get("label"), link.get("url")
    return data


def _identity_page(
    collective: Collective | None, form: CollectiveForm, status: int
) -> tuple[str, int]:
    return render_template(
        "console/collective/identity.html", collective=collective, form=form, links=LINKS
    ), status


@bp.route("/collectif", methods=["GET", "POST"])
@requires(Role.ADMIN)
def collective_identity() -> Response | tuple[str, int]:
    collective = current_collective()
    if request.method == "GET":
        form = CollectiveForm(formdata=None, data=_identity_data(collective))
        return _identity_page(collective, form, 200)
    form = CollectiveForm()
    if not form.validate():
        return _identity_page(collective, form, 422)
    saved = editing.save_identity(collective, form.identity())
    if saved.changed:
        auth.audit("collective.edit", what=", ".join(saved.changed))
    db.session.commit()
    editing.delete_logo(saved.stale_logo)
    flash("Identité du collectif enregistrée." if saved.changed else "Rien n’a changé.", "success")
    return redirect(url_for("console.collective_identity"), code=303)


# --- demands and key figures ----------------------------------------------------------------


class DemandForm(PublicForm):
    title = line_field("Titre", 300, needed=True)
    text = text_field("Texte", 5000, needed=True, render_kw={"rows": 5})
    reason = text_field("Motif de la correction (publié)", 1000, render_kw={"rows": 2})


class FigureForm(PublicForm):
    value = line_field("Chiffre, tel qu’il s’affiche (« 400 000 », « + de 50 »)", 40, needed=True)
    label = line_field("Ce qu’il compte", 300, needed=True)
    source = TextAreaField(
        "Source",
        filters=[_text],
        validators=[
            required(
                "Indiquez la source de ce chiffre (document, organisme, année, page) : "
                "un chiffre sans source ne peut pas être publié."
            ),
            max_length(1000),
            multiline_text,
        ],
        render_kw={"rows": 2},
    )
    source_url = address_field("Adresse de la source (facultatif)", 500)


def _collective_or_redirect() -> Collective | Response:
    collective = current_collective()
    if collective is None:
        flash("Enregistrez d’abord l’identité du collectif.", "error")
        return redirect(url_for("console.collective_identity"), code=303)
    return collective


def _demands_page(collective: Collective, form: DemandForm, status: int) -> tuple[str, int]:
    return render_template(
        "console/collective/demands.html",
        collective=collective,
        form=form,
        carried={d.id: editing.petitions_carrying(d) for d in collective.demands},
    ), status


@bp.route("/collectif/revendications", methods=["GET", "POST"])
@requires(Role.ADMIN)
def demands() -> Response | tuple[str, int]:
    collective = _collective_or_redirect()
    if isinstance(collective, Response):
        return collective
    if request.method == "GET":
        return _demands_page(collective, DemandForm(formdata=None), 200)
    form = DemandForm()
    if not form.validate():
        return _demands_page(collective, form, 422)
    demand = editing.add_demand(collective, form.title.data, form.text.data)
    auth.audit("demand.add", what=f"revendication {demand.id} « {demand.title} »")
    db.session.commit()
    flash("Revendication ajoutée.", "success")
    return redirect(url_for("console.demands"), code=303)


def _demand_or_404(demand_id: int) -> tuple[Collective, Demand]:
    collective = current_collective()
    demand = editing.demand_of(collective, demand_id) if collective else None
    if collective is None or demand is None:
        abort(404)
    return collective, demand


def _demand_page(
    collective: Collective, demand: Demand, form: DemandForm, status: int
) -> tuple[str, int]:
    return render_template(
        "console/collective/demand.html",
        collective=collective,
        demand=demand,
        form=form,
        signed=editing.signed_petitions_carrying(demand),
    ), status


@bp.route("/collectif/revendications/<int:demand_id>", methods=["GET", "POST"])
@requires(Role.ADMIN)
def demand_edit(demand_id: int) -> Response | tuple[str, int]:
    collective, demand = _demand_or_404(demand_id)
    form = DemandForm(formdata=None, obj=demand) if request.method == "GET" else DemandForm()
    if request.method == "GET" or not form.validate():
        return _demand_page(collective, demand, form, 200 if request.method == "GET" else 422)
    me = auth.current_organiser()
    try:
        corrected = editing.update_demand(
            demand, form.title.data, form.text.data, me.name if me else "", form.reason.data
        )
    except petition_editing.CorrectionReasonMissingError:
        db.session.rollback()
        form.reason.errors = [
            "Elle fait partie d’une pétition déjà signée : dites pourquoi elle change "
            "(le motif est publié avec la nouvelle version du texte)."
        ]
        return _demand_page(*_demand_or_404(demand_id), form, 422)
    auth.audit("demand.edit", what=f"revendication {demand.id} « {demand.title} »")
    db.session.commit()
    petition_services.forget_cached()
    versions = ", ".join(f"« {p.title} » (version {p.version})" for p in corrected)
    flash(
        f"Revendication enregistrée ; nouvelle version du texte de {versions}."
        if corrected
        else "Revendication enregistrée.",
        "success",
    )
    return redirect(url_for("console.demands"), code=303)


@bp.post("/collectif/revendications/<int:demand_id>/monter")
@requires(Role.ADMIN)
def demand_up(demand_id: int) -> Response:
    return _move_demand(demand_id, -1)


@bp.post("/collectif/revendications/<int:demand_id>/descendre")
@requires(Role.ADMIN)
def demand_down(demand_id: int) -> Response:
    return _move_demand(demand_id, +1)


def _move_demand(demand_id: int, step: int) -> Response:
    collective, demand = _demand_or_404(demand_id)
    if editing.move_demand(collective, demand, step):
        auth.audit("demand.move", what=f"revendication {demand.id} en position {demand.position}")
        db.session.commit()
    return redirect(url_for("console.demands", _anchor=f"revendication-{demand.id}"), code=303)


@bp.post("/collectif/revendications/<int:demand_id>/supprimer")
@requires(Role.ADMIN)
def demand_remove(demand_id: int) -> Response:
    collective, demand = _demand_or_404(demand_id)
    title = demand.title
    try:
        petitions = editing.remove_demand(collective, demand)
    except editing.DemandSignedError as refused:
        db.session.rollback()
        names = ", ".join(f"« {p.title} »" for p in refused.petitions)
        flash(
            f"« {title} » n’a pas été supprimée : elle fait partie de la pétition {names}, "
            "qui a déjà des signatures. Ses signataires l’ont signée telle quelle.",
            "error",
        )
        return redirect(url_for("console.demands"), code=303)
    auth.audit("demand.remove", what=f"revendication {demand_id} « {title} »")
    db.session.commit()
    also = (
        f", et de {len(petitions)} pétition{'s' if len(petitions) > 1 else ''}" if petitions else ""
    )
    flash(f"« {title} » supprimée du collectif{also}.", "success")
    return redirect(url_for("console.demands"), code=303)


def _figures_page(collective: Collective, form: FigureForm, status: int) -> tuple[str, int]:
    return render_template(
        "console/collective/figures.html", collective=collective, form=form
    ), status


def _figure_values(form: FigureForm) -> tuple[str, str, str, str]:
    return form.value.data, form.label.data, form.source.data, form.source_url.data


@bp.route("/collectif/chiffres", methods=["GET", "POST"])
@requires(Role.ADMIN)
def figures() -> Response | tuple[str, int]:
    collective = _collective_or_redirect()
    if isinstance(collective, Response):
        return collective
    if request.method == "GET":
        return _figures_page(collective, FigureForm(formdata=None), 200)
    form = FigureForm()
    if not form.validate():
        return _figures_page(collective, form, 422)
    figure = editing.add_figure(collective, *_figure_values(form))
    auth.audit("figure.add", what=f"chiffre {figure.id} « {figure.value} {figure.label} »")
    db.session.commit()
    flash("Chiffre ajouté.", "success")
    return redirect(url_for("console.figures"), code=303)


def _figure_or_404(figure_id: int) -> tuple[Collective, KeyFigure]:
    collective = current_collective()
    figure = editing.figure_of(collective, figure_id) if collective else None
    if collective is None or figure is None:
        abort(404)
    return collective, figure


@bp.route("/collectif/chiffres/<int:figure_id>", methods=["GET", "POST"])
@requires(Role.ADMIN)
def figure_edit(figure_id: int) -> Response | tuple[str, int]:
    collective, figure = _figure_or_404(figure_id)
    form = FigureForm(formdata=None, obj=figure) if request.method == "GET" else FigureForm()
    if request.method == "GET" or not form.validate():
        return render_template(
            "console/collective/figure.html", collective=collective, figure=figure, form=form
        ), (200 if request.method == "GET" else 422)
    editing.update_figure(figure, *_figure_values(form))
    auth.audit("figure.edit", what=f"chiffre {figure.id} « {figure.value} {figure.label} »")
    db.session.commit()
    flash("Chiffre enregistré.", "success")
    return redirect(url_for("console.figures"), code=303)


@bp.post("/collectif/chiffres/<int:figure_id>/monter")
@requires(Role.ADMIN)
def figure_up(figure_id: int) -> Response:
    return _move_figure(figure_id, -1)


@bp.post("/collectif/chiffres/<int:figure_id>/descendre")
@requires(Role.ADMIN)
def figure_down(figure_id: int) -> Response:
    return _move_figure(figure_id, +1)


def _move_figure(figure_id: int, step: int) -> Response:
    collective, figure = _figure_or_404(figure_id)
    if editing.move_figure(collective, figure, step):
        auth.audit("figure.move", what=f"chiffre {figure.id} en position {figure.position}")
        db.session.commit()
    return redirect(url_for("console.figures", _anchor=f"chiffre-{figure.id}"), code=303)


@bp.post("/collectif/chiffres/<int:figure_id>/supprimer")
@requires(Role.ADMIN)
def figure_remove(figure_id: int) -> Response:
    collective, figure = _figure_or_404(figure_id)
    what = f"chiffre {figure.id} « {figure.value} {figure.label} »"
    editing.remove_figure(collective, figure)
    auth.audit("figure.remove", what=what)
    db.session.commit()
    flash("Chiffre supprimé.", "success")
    return redirect(url_for("console.figures"), code=303)
