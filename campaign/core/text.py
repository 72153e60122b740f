"""Free text: checks on what the public types (names, short answers), and French spacing.

Names end up in exports opened in spreadsheets and in emails: refuse what would turn
into a formula, a link or a control sequence there, and say why in French.
"""

from __future__ import annotations

import re
import unicodedata

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_URL_LIKE = re.compile(
    r"(https?:|ftp:|mailto:|javascript:|data:|www\.|://|"
    r"\b[\w-]+\.(com|net|org|fr|io|info|biz|ru|xyz|top|ly|co|me|eu|be|ch)\b)",
    re.IGNORECASE,
)
_NAME_FORBIDDEN = re.compile(r"[<>{}\[\]\\/|;$%#*_~^`\"=]")


# Zero-width (non-)joiners are format characters that Persian and Indic names need.
_JOINERS = {"\u200c", "\u200d"}


def has_control_characters(value: str) -> bool:
    return any(
        unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} and ch not in _JOINERS
        for ch in value
    )


def name_problem(value: str) -> str | None:
    """Why this is not a person's name, in French, or None when it is acceptable."""
    if has_control_characters(value):
        return "Ce champ contient des caractères invisibles ou de contrôle."
    if value.startswith(FORMULA_PREFIXES):
        return "Un nom ne peut pas commencer par =, +, - ou @."
    if _URL_LIKE.search(value):
        return "Un nom ne peut pas contenir d’adresse web."
    if _NAME_FORBIDDEN.search(value) or any(ch.isdigit() for ch in value):
        return (
            "Un nom ne peut contenir que des lettres, des espaces, des apostrophes "
            "et des traits d’union."
        )
    if not any(ch.isalpha() for ch in value):
        return "Veuillez indiquer un nom composé de lettres."
    return None


def collapse_spaces(value: str | None) -> str | None:
    """Trim and fold runs of spaces, so ' Jean   Pierre ' is stored as 'Jean Pierre'."""
    if value is None:
        return None
    return " ".join(value.split())


_WIDE = re.compile(r" ([:»])")
_NARROW = re.compile(r" ([;!?])")
_OPENING = re.compile(r"« ")


def french_spacing(text: str) -> str:
    """No-break spaces before : » (and after «), narrow ones before ; ! ?, as French
    typography wants, so the punctuation never starts a line."""
    text = _WIDE.sub("\u00a0\\1", text)
    text = _NARROW.sub("\u202f\\1", text)
    return _OPENING.sub("«\u00a0", text)
