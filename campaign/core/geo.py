"""French postcodes: shape checks and the département they belong to.

A postcode's first two digits name its département, with three exceptions: Corsica
(20xxx splits into 2A and 2B), the overseas départements and collectivités (97x, 98x),
and codes that no département uses (00, 96). The full postcode -> commune table
arrives with the rallies; this module needs none of it.
"""

from __future__ import annotations

import re

_POSTCODE = re.compile(r"^\d{5}$")
# Overseas: 971-976 are départements or collectivités with a postcode range of their own;
# 975 Saint-Pierre-et-Miquelon, 977 Saint-Barthélemy, 978 Saint-Martin,
# 986 Wallis-et-Futuna, 987 Polynésie française, 988 Nouvelle-Calédonie.
_OVERSEAS = {"971", "972", "973", "974", "975", "976", "977", "978", "986", "987", "988"}


def departement_for_postcode(postcode: str) -> str | None:
    """The département code for a French postcode, or None if no such code can exist."""
    if not _POSTCODE.match(postcode):
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
