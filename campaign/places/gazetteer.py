"""French communes offline: postcode or name -> commune, département and position.

The table (data/communes.tsv.gz, ~35 000 rows, see data/SOURCES.md) is read once per
process on first use and kept in memory: a look-up is a dict access or a bisect.
"""

from __future__ import annotations

import bisect
import gzip
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "communes.tsv.gz"
EARTH_RADIUS_KM = 6371.0088

_POSTCODE = re.compile(r"[0-9]{5}")
_INSEE = re.compile(r"[0-9][0-9AB][0-9]{3}")
# Abbreviations people type for the words of commune names.
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_ARTICLES = ("le ", "la ", "les ", "l ")


@dataclass(frozen=True, slots=True)
class Commune:
    insee: str
    name: str
    departement: str
    postcodes: tuple[str, ...]
    lat: float
    lon: float
    precision: str  # g: GeoNames; p: from its postcode's neighbours; d: département mean
    population: int
    parent: str  # the city of a municipal arrondissement (75056 for Paris 11e), else ""

    @property
    def approximate(self) -> bool:
        return self.precision == "d"

    @property
    def label(self) -> str:
        """« Lyon 3e arrondissement (69) »: the département tells homonyms apart."""
        return f"{self.name.replace(' Arrondissement', ' arrondissement')} ({self.departement})"


def fold(text: str) -> str:
    """A commune name as people type it: no accents, case, hyphens or « St » forms."""
    # Separators first, so that a dash or apostrophe of any script still splits words;
    # then accents off (œ has no decomposition: spelled out).
    text = re.sub(r"[^\w]+|_", " ", unicodedata.normalize("NFKC", text).lower())
    text = text.replace("œ", "oe").replace("æ", "ae")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", " ", plain).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


class Gazetteer:
    def __init__(self, communes: list[Commune]) -> None:
        self.by_insee = {c.insee: c for c in communes}
        self.by_postcode: dict[str, list[Commune]] = {}
        for c in communes:
            for postcode in c.postcodes:
                self.by_postcode.setdefault(postcode, []).append(c)
        # A name is found from its start, and from after its article (« Havre » finds
        # « Le Havre »). Sorted (key, insee) pairs make a prefix search a bisect.
        keys = []
        for c in communes:
            key = fold(c.name)
            keys.append((key, c.insee))
            for article in _ARTICLES:
                if key.startswith(article):
                    keys.append((key[len(article) :], c.insee))
        self.keys = sorted(keys)

    def postcode(self, postcode: str) -> list[Commune]:
        """The communes of a postcode; for Paris, Lyon and Marseille the arrondissement
        rather than the whole city."""
        found = self.by_postcode.get(postcode, [])
        parents = {c.parent for c in found if c.parent}
        return sorted(
            (c for c in found if c.insee not in parents), key=lambda c: (-c.population, c.name)
        )

    def search(self, text: str, limit: int = 8) -> list[Commune]:
        """Communes whose name starts with `text`: exact names first, then by population."""
        key = fold(text)
        if not key:
            return []
        start = bisect.bisect_left(self.keys, (key, ""))
        seen: dict[str, Commune] = {}
        for name_key, insee in self.keys[start:]:
            # One letter is too short to start a search, but « Y » (Somme) is a commune.
            if not name_key.startswith(key) or (len(key) < 2 and name_key != key):
                break
            seen[insee] = self.by_insee[insee]
        return sorted(seen.values(), key=lambda c: (fold(c.name) != key, -c.population, c.name))[
            :limit
        ]


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    communes = []
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            insee, name, dep, postcodes, lat, lon, precision, population, parent = line.rstrip(
                "\n"
            ).split("\t")
            communes.append(
                Commune(
                    insee,
                    name,
                    dep,
                    tuple(postcodes.split()),
                    float(lat),
                    float(lon),
                    precision,
                    int(population),
                    parent,
                )
            )
    return Gazetteer(communes)


def commune(insee: str) -> Commune | None:
    return gazetteer().by_insee.get(insee) if _INSEE.fullmatch(insee or "") else None


_LABEL = re.compile(r"^(.+?) \(([0-9][0-9AB][0-9]?)\)$")  # Commune.label: « Lyon (69) »


def find(text: str, limit: int = 8) -> list[Commune]:
    """What a person typed: a postcode, a suggestion's label, or the start of a name."""
    # NFKC: full-width digits (７５０１１) and other look-alikes become plain ones.
    text = unicodedata.normalize("NFKC", text or "").strip()[:100]
    if _POSTCODE.fullmatch(text):
        return gazetteer().postcode(text)
    if label := _LABEL.match(text):
        name, departement = label.groups()
        exact = [
            c
            for c in gazetteer().search(name, limit=50)
            if c.departement == departement and fold(c.name) == fold(name)
        ]
        if exact:
            return exact
    return gazetteer().search(text, limit)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
