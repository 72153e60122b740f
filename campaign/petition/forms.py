"""The signing and resend forms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import ValidationError

from campaign.core.forms import (
    EMAIL_MAX,
    NAME_MAX,
    CountrySelect,
    Honeypot,
    TrappedForm,
    country_codes,
    email_field,
    max_length,
    name_field,
    no_control_characters,
    normalised_email,
    required,
)
from campaign.core.geo import departement_for_postcode
from campaign.core.text import collapse_spaces, has_control_characters, name_problem
from campaign.petition.services import SignatureInput

_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_FOREIGN_POSTCODE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,11}$")
POSTCODE_MAX = 12


def upper_stripped(value: str | None) -> str | None:
    return value.strip().upper() if value else value


def clean_tag(value: str | None) -> str | None:
    """Source tags come from URLs anyone can write: keep only short slug-like ones."""
    value = (value or "").strip().lower()
    return value if _TAG.match(value) else None


class SignForm(TrappedForm):
    # Declared in the order shown, which is also the order of the error summary.
    first_name = name_field("Prénom", "given-name")
    last_name = name_field("Nom", "family-name")
    email = email_field()
    country = SelectField(
        "Pays de résidence",
        choices=[],  # CountrySelect renders country_choices() itself, from a cache
        default="FR",
        validate_choice=False,
        widget=CountrySelect(),
    )
    postcode = StringField(
        "Code postal",
        filters=[upper_stripped],
        validators=[max_length(POSTCODE_MAX), no_control_characters],
        render_kw={"autocomplete": "postal-code", "inputmode": "numeric"},
    )
    consent = BooleanField(
        validators=[required("Vous devez accepter ces conditions pour que votre signature compte.")]
    )
    optin_collective = BooleanField()
    website = Honeypot()
    # Where the signer came from (QR code, partner link): carried through the form.
    source = HiddenField()
    utm_source = HiddenField()
    utm_medium = HiddenField()
    utm_campaign = HiddenField()
    org = HiddenField()  # a member organisation's referral code
    rassemblement = HiddenField()  # the rally page the signer came from (its id)

    def validate_country(self, field: SelectField) -> None:
        if field.data not in country_codes():
            raise ValidationError("Choisissez un pays dans la liste.")

    def validate_postcode(self, field: StringField) -> None:
        problem = postcode_problem(self.country.data, field.data)
        if problem:
            raise ValidationError(problem)

    tag_fields = ("source", "utm_source", "utm_medium", "utm_campaign", "org", "rassemblement")

    def to_input(self) -> SignatureInput:
        return _signature_input(self.data)


def postcode_problem(country: str | None, postcode: str | None) -> str | None:
    """What is wrong with a (stripped, upper-cased) postcode for that country, if anything."""
    if country != "FR":
        # Abroad: optional, any postal format, but nothing a spreadsheet would run.
        if postcode and not _FOREIGN_POSTCODE.match(postcode):
            return "Code postal invalide : lettres, chiffres, espaces et tirets seulement."
        return None
    if not postcode:
        return "Indiquez votre code postal (5 chiffres)."
    if departement_for_postcode(postcode) is None:
        return "Code postal invalide : il faut 5 chiffres d’un code français, par exemple 75011."
    return None


def _signature_input(data: Mapping[str, Any]) -> SignatureInput:
    """From the fields' values as SignForm.data holds them (filtered, normalised)."""
    utm = {
        name: tag
        for name in ("utm_source", "utm_medium", "utm_campaign")
        if (tag := clean_tag(data[name]))
    }
    return SignatureInput(
        first_name=data["first_name"],
        last_name=data["last_name"],
        email=data["email"],
        country=data["country"],
        postcode=data["postcode"] or None,
        optin_collective=bool(data["optin_collective"]),
        source=clean_tag(data["source"]) or utm.get("utm_source"),
        referrer_data=utm,
        referral_code=clean_tag(data["org"]),
        rally_tag=clean_tag(data["rassemblement"]),
    )


def _checked(formdata: MultiDict[str, str], name: str) -> bool:
    # A BooleanField's reading of a posted checkbox.
    return formdata.get(name) not in (None, *BooleanField.false_values)


def _name_ok(value: str | None) -> bool:
    return bool(value and value.strip() and len(value) <= NAME_MAX and not name_problem(value))


def accepted_signing(formdata: MultiDict[str, str]) -> SignatureInput | None:
    """The signing as SignForm would accept it, or None where SignForm would show an error.

    Without building the form: on the hot path WTForms cost more than the database. The
    view builds SignForm only to show what is wrong. The rules are the functions the form's
    validators call; a test compares both over generated forms.
    """
    data: dict[str, Any] = {name: formdata.get(name) for name in SignForm.tag_fields}
    data["first_name"] = first = collapse_spaces(formdata.get("first_name"))
    data["last_name"] = last = collapse_spaces(formdata.get("last_name"))
    email = formdata.get("email")
    if not (_name_ok(first) and _name_ok(last) and email and email.strip()):
        return None
    data["email"] = normalised_email(email) if len(email) <= EMAIL_MAX else None
    data["country"] = country = formdata.get("country", "FR")
    data["postcode"] = postcode = upper_stripped(formdata.get("postcode"))
    if (
        data["email"] is None
        or country not in country_codes()
        or len(postcode or "") > POSTCODE_MAX
        or (postcode and has_control_characters(postcode))
        or postcode_problem(country, postcode)
        or not _checked(formdata, "consent")
    ):
        return None
    data["optin_collective"] = _checked(formdata, "optin_collective")
    return _signature_input(data)
