"""French legal identifiers an organisation may give when it applies.

- SIREN: 9 digits, the INSEE company number; its last digit is a Luhn check digit.
- RNA: "W" + 9 digits, the number of an association in the national register
  (older associations may have none: it is optional).
"""

from __future__ import annotations

import re

_SIREN = re.compile(r"[0-9]{9}")
_RNA = re.compile(r"W[0-9]{9}")


def normalise_identifier(value: str) -> str:
    """'w 751 234 567' -> 'W751234567', '123 456 789' -> '123456789'."""
    return re.sub(r"[\s.\-]", "", value).upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def identifier_problem(value: str) -> str | None:
    """Why this is neither a SIREN nor an RNA number, in French, or None if it is one."""
    if _RNA.fullmatch(value):
        return None
    if _SIREN.fullmatch(value):
        return None if luhn_valid(value) else "Ce numéro SIREN n’est pas valide (clé de contrôle)."
    return "Indiquez un numéro RNA (W suivi de 9 chiffres) ou un SIREN (9 chiffres)."


def identifier_kind(value: str) -> str:
    return "rna" if value.startswith("W") else "siren"
