"""Form pieces shared by every domain: French messages, text checks, the honeypot."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from babel import Locale
from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import EmailField, Field, StringField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import html_params

from campaign.core import images
from campaign.core.geo import FRENCH_OVERSEAS_ISO
from campaign.core.text import collapse_spaces, has_control_characters, name_problem


def required(message: str = "Ce champ est obligatoire.") -> DataRequired:
    return DataRequired(message=message)


def max_length(limit: int) -> Length:
    return Length(max=limit, message=f"{limit} caractères au maximum.")


def person_name(form: object, field: Field) -> None:
    problem = name_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


def no_control_characters(form: object, field: Field) -> None:
    if field.data and has_control_characters(field.data):
        raise ValidationError("Ce champ contient des caractères invisibles ou de contrôle.")


def email_address(form: object, field: Field) -> None:
    """Syntax only (no DNS look-up in a request); stores the normalised form."""
    try:
        # No SMTPUTF8: most mail servers cannot deliver to jéanne@…, the link would never
        # arrive. An accented domain is fine: it is kept in its ASCII (punycode) form.
        result = validate_email(field.data or "", check_deliverability=False, allow_smtputf8=False)
        field.data = result.ascii_email
    except EmailNotValidError as exc:
        raise ValidationError(
            "Adresse e-mail invalide : vérifiez qu’elle a la forme nom@exemple.fr."
        ) from exc


_PHONE = re.compile(r"^(?:\+33 ?|0)[1-9](?:[ .-]?[0-9]{2}){4}$")


def french_phone(form: object, field: Field) -> None:
    if field.data and not _PHONE.match(field.data):
        raise ValidationError("Numéro invalide : 10 chiffres, par exemple 06 12 34 56 78.")


def phone_field(label: str) -> StringField:
    """An optional French phone number."""
    return StringField(
        label,
        filters=[lambda v: v.strip() if v else v],
        validators=[max_length(20), french_phone],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )


def name_field(label: str, autocomplete: str) -> StringField:
    return StringField(
        label,
        filters=[collapse_spaces],
        validators=[required(), max_length(100), person_name],
        render_kw={"autocomplete": autocomplete},
    )


class PublicForm(FlaskForm):
    """Base of every form. CSRFProtect checks each POST before the view runs, and templates
    write the token with csrf_token(), so the form does not check it a second time."""

    class Meta:
        csrf = False


def email_field(label: str = "Adresse e-mail") -> EmailField:
    return EmailField(
        label,
        validators=[required(), max_length(254), email_address],
        render_kw={"autocomplete": "email"},
    )


class EmailForm(PublicForm):
    """Just an email address: to resend a link, to ask for a new one."""

    email = email_field()


class Honeypot(StringField):
    """A field people never see; bots fill it. A filled one drops the submission quietly."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            "Laissez ce champ vide",
            render_kw={"autocomplete": "off", "tabindex": "-1"},
            **kwargs,
        )


# Codes CLDR names that are not ISO 3166-1 countries (unions, pseudo-locales, reserved ones).
_NOT_COUNTRIES = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}
)


def _sort_key(name: str) -> str:
    """Alphabetical as a French reader expects: É with E, Î with I."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()


@lru_cache(maxsize=1)
def country_choices() -> list[tuple[str, str]]:
    """Countries by their French names, France (with its overseas territories) first."""
    excluded = _NOT_COUNTRIES | FRENCH_OVERSEAS_ISO | {"FR"}
    countries = [
        (code, name)
        for code, name in Locale("fr").territories.items()
        if len(code) == 2 and code.isalpha() and code not in excluded
    ]
    countries.sort(key=lambda c: _sort_key(c[1]))
    return [("FR", "France (y compris outre-mer)"), *countries]


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    return frozenset(code for code, _ in country_choices())


@lru_cache(maxsize=300)
def _country_options(selected: str) -> Markup:
    """The ~240 <option> tags, built once per selected value: rendering them through WTForms
    took most of the petition page's time."""
    return Markup("").join(
        Markup('<option value="{}"{}>{}</option>').format(
            code, Markup(" selected") if code == selected else "", name
        )
        for code, name in country_choices()
    )


class CountrySelect:
    """A <select> of country_choices() whose options come from a cache."""

    def __call__(self, field: Field, **kwargs: object) -> Markup:
        kwargs.setdefault("id", field.id)
        attributes = html_params(name=field.name, **kwargs)
        selected = field.data if field.data in country_codes() else ""
        opening = Markup(f"<select {attributes}>")  # noqa: S704 (html_params escapes values)  # nosec B704
        return opening + _country_options(selected) + Markup("</select>")


def uploaded_logo(field: Field, *, allow_svg: bool = False) -> bytes | None:
    """A logo field's upload, checked by its content and re-encoded as a PNG (core/images.py),
    so that a view only has to store it; None when no file was chosen."""
    upload = field.data
    if upload is None or not getattr(upload, "filename", ""):
        return None
    try:
        data = upload.read(images.MAX_BYTES + 1)
    finally:
        upload.close()  # big uploads are spooled to a temporary file: free it now
    try:
        return images.logo_png(data, allow_svg=allow_svg)
    except images.ImageRejectedError as exc:
        raise ValidationError(str(exc)) from exc
