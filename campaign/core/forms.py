"""Form pieces shared by every domain: French messages, text checks, the honeypot."""

from __future__ import annotations

from functools import lru_cache

from babel import Locale
from email_validator import EmailNotValidError, validate_email
from wtforms import Field, StringField
from wtforms.validators import DataRequired, Length, ValidationError

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
        field.data = validate_email(field.data or "", check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationError(
            "Adresse e-mail invalide : vérifiez qu’elle a la forme nom@exemple.fr."
        ) from exc


def name_field(label: str) -> StringField:
    return StringField(
        label,
        filters=[collapse_spaces],
        validators=[required(), max_length(100), person_name],
        render_kw={"autocomplete": "given-name" if "Prénom" in label else "family-name"},
    )


class Honeypot(StringField):
    """A field people never see; bots fill it. A filled one drops the submission quietly."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            "Laissez ce champ vide",
            render_kw={"autocomplete": "off", "tabindex": "-1"},
            **kwargs,
        )


@lru_cache(maxsize=1)
def country_choices() -> list[tuple[str, str]]:
    """ISO countries with their French names, France first, then alphabetical."""
    names = Locale("fr").territories
    countries = [(code, name) for code, name in names.items() if len(code) == 2 and code.isalpha()]
    countries = [c for c in countries if c[0] not in {"ZZ", "EU", "UN", "EZ", "QO"}]
    countries.sort(key=lambda c: Locale("fr").territories[c[0]].casefold())
    return [("FR", "France"), *[c for c in countries if c[0] != "FR"]]
