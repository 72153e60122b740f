"""French postcodes: shape checks and the département they belong to.

A postcode's first two digits name its département, with three exceptions: Corsica
(20xxx splits into 2A and 2B), the overseas départements and collectivités (97x, 98x),
and codes that no département uses (00, 96). The full postcode -> commune table
arrives with the rallies; this module needs none of it.
"""

from __future__ import annotations

import re

_POSTCODE = re.compile(r"[0-9]{5}")  # ASCII digits only: \d would take ７５０１１ too
# Overseas postcodes start with the territory's three-digit code: 971 Guadeloupe (with
# Saint-Barthélemy 97133 and Saint-Martin 97150), 972 Martinique, 973 Guyane, 974 La Réunion,
# 975 Saint-Pierre-et-Miquelon, 976 Mayotte, 984 Terres australes, 986 Wallis-et-Futuna,
# 987 Polynésie française, 988 Nouvelle-Calédonie.
_OVERSEAS = {"971", "972", "973", "974", "975", "976", "984", "986", "987", "988"}
# Countries the ISO list names apart that are France for the post: their people sign as
# residents of France, with their postcode.
FRENCH_OVERSEAS_ISO = {"GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "WF", "PF", "NC", "TF"}


def departement_for_postcode(postcode: str) -> str | None:
    """The département code for a French postcode, or None if no such code can exist."""
    if not _POSTCODE.fullmatch(postcode):
        return None
    if postcode.startswith(("97", "98")):
        return postcode[:3] if postcode[:3] in _OVERSEAS else None
    prefix = postcode[:2]
    if prefix == "20":
        # Corse-du-Sud uses 200xx-201xx, Haute-Corse 202xx-206xx.
        return "2A" if postcode[2] in "01" else ("2B" if postcode[2] in "23456" else None)
    if prefix in {"00", "96"}:
        return None
    return prefix


# Every département code, in the usual order (Corsica's 2A and 2B where 20 was).
DEPARTEMENTS: tuple[str, ...] = (
    *(f"{n:02d}" for n in range(1, 20)),
    "2A",
    "2B",
    *(f"{n:02d}" for n in range(21, 96)),
    *(str(n) for n in range(971, 977)),
)
