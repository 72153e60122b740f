"""Form pieces shared by every domain: French messages, text checks, the bot traps."""

from __future__ import annotations

import re
import time
import unicodedata
from functools import lru_cache

from babel import Locale
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, TimestampSigner
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import EmailField, Field, HiddenField, StringField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import html_params

from campaign.core import images
from campaign.core.geo import FRENCH_OVERSEAS_ISO
from campaign.core.text import collapse_spaces, has_control_characters, name_problem

NAME_MAX = 100
EMAIL_MAX = 254  # RFC 5321's limit on a forward path


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


def normalised_email(value: str) -> str | None:
    """The address as it is stored, or None when it is not one we can mail. Syntax only
    (no DNS look-up in a request)."""
    try:
        # No SMTPUTF8: most mail servers cannot deliver to jéanne@…, the link would never
        # arrive. An accented domain is fine: it is kept in its ASCII (punycode) form.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return result.ascii_email


def email_address(form: object, field: Field) -> None:
    """Stores the normalised form."""
    normalised = normalised_email(field.data or "")
    if normalised is None:
        raise ValidationError(
            "Adresse e-mail invalide : vérifiez qu’elle a la forme nom@exemple.fr."
        )
    field.data = normalised


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
        validators=[required(), max_length(NAME_MAX), person_name],
        render_kw={"autocomplete": autocomplete},
    )


class PublicForm(FlaskForm):
    """Base of every form. The forms never check a CSRF token themselves: CSRFProtect checks
    the console's and the member space's before the view runs (their templates write it),
    and the public forms, without a session, are checked for their origin
    (core/security.public_forms)."""

    class Meta:
        csrf = False


def email_field(label: str = "Adresse e-mail") -> EmailField:
    return EmailField(
        label,
        validators=[required(), max_length(EMAIL_MAX), email_address],
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


def _signer(secret_key: str) -> TimestampSigner:
    return TimestampSigner(secret_key, salt="form-drawn-at")


def time_stamp(secret_key: str) -> str:
    """The time trap's value for a form drawn now."""
    return _signer(secret_key).sign(b"drawn").decode()


class TimeTrap(HiddenField):
    """When the form was drawn, signed: people take seconds to fill a form, scripts do not.

    No session needed: the time travels in the page. A cached page carries the time it was
    rendered, at most the cache's few seconds earlier, so the trap only gets gentler.
    """

    def _value(self) -> str:
        # A form shown again after an error keeps its first time.
        return self.data or time_stamp(current_app.config["SECRET_KEY"])

    def too_fast(self) -> bool:
        """A submission quicker than FORM_MIN_SECONDS, or one without the field at all (a
        hand-made POST). A stamp that no longer verifies (the secret key was rotated while
        the page was open) is given the benefit of the doubt: a person's signature is not
        dropped for it."""
        return drawn_too_fast(self.data)


def drawn_too_fast(stamp: str | None) -> bool:
    """TimeTrap.too_fast for the stamp as posted."""
    if not stamp:
        return True
    try:
        signer = _signer(current_app.config["SECRET_KEY"])
        _, drawn_at = signer.unsign(stamp, return_timestamp=True)
    except BadSignature:
        return False
    elapsed = time.time() - drawn_at.timestamp()
    return elapsed < current_app.config["FORM_MIN_SECONDS"]


class TrappedForm(PublicForm):
    """A public form: a honeypot field (named by `honeypot`) and a time trap. A bot's
    submission is answered as if accepted, and dropped."""

    honeypot = "website"
    started = TimeTrap()

    @classmethod
    def posted_by_bot(cls, formdata: MultiDict[str, str]) -> bool:
        """is_bot() of the form `formdata` would fill, without building it."""
        return bool(formdata.get(cls.honeypot)) or drawn_too_fast(formdata.get("started"))

    def is_bot(self) -> bool:
        return bool(self[self.honeypot].data) or self.started.too_fast()


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
