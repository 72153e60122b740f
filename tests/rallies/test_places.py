"""The offline gazetteer: postcodes to communes (arrondissements, Corsica, overseas), names as
people type them, junk that never raises, great-circle distances, and the data file itself."""

from __future__ import annotations

import statistics
from collections import defaultdict

import pytest

from campaign.places import gazetteer
from campaign.places.gazetteer import Commune, distance_km, find, fold

# Where each part of France lies (latitude, longitude), with a margin: a commune outside its
# box was placed on a homonym elsewhere, or had its coordinates swapped.
METROPOLE = ((41.3, 51.2), (-5.3, 9.6))
OVERSEAS = {
    "971": ((15.8, 16.6), (-61.9, -60.9)),  # Guadeloupe
    "972": ((14.3, 14.95), (-61.3, -60.75)),  # Martinique
    "973": ((2.0, 5.9), (-54.7, -51.5)),  # Guyane
    "974": ((-21.45, -20.8), (55.1, 55.9)),  # La Réunion
    "975": ((46.7, 47.2), (-56.5, -56.1)),  # Saint-Pierre-et-Miquelon
    "976": ((-13.1, -12.6), (44.9, 45.4)),  # Mayotte
    "986": ((-14.4, -13.1), (-178.3, -176.0)),  # Wallis-et-Futuna
    "987": ((-27.8, -7.8), (-154.8, -134.3)),  # Polynésie française
    "988": ((-22.9, -17.9), (163.5, 168.3)),  # Nouvelle-Calédonie
}
PARIS = (48.85341, 2.3488)  # the gazetteer's Paris (75056)
LYON = (45.74846, 4.84671)  # and Lyon (69123)


def all_communes() -> list[Commune]:
    return list(gazetteer.gazetteer().by_insee.values())


def insees(found: list[Commune]) -> list[str]:
    return [c.insee for c in found]


# --- postcodes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("postcode", "insee", "name"),
    [
        ("75011", "75111", "Paris 11e Arrondissement"),
        ("75116", "75116", "Paris 16e Arrondissement"),
        ("75016", "75116", "Paris 16e Arrondissement"),
        ("69003", "69383", "Lyon 3e Arrondissement"),
        ("13008", "13208", "Marseille 8e Arrondissement"),
    ],
)
def test_a_big_city_postcode_gives_its_arrondissement_not_the_city(
    postcode: str, insee: str, name: str
) -> None:
    found = find(postcode)
    assert insees(found) == [insee]
    assert found[0].name == name
    # Labels follow French typography: « Paris 11e arrondissement (75) ».
    assert found[0].label == f"{name.replace('Arrondissement', 'arrondissement')} ({insee[:2]})"
    assert found[0].parent in {"75056", "69123", "13055"}


def test_the_city_itself_is_still_found_by_its_code_and_name() -> None:
    paris = gazetteer.commune("75056")
    assert paris is not None and paris.name == "Paris" and paris.parent == ""
    assert find("Paris")[0].insee == "75056"
    assert gazetteer.commune("75111").parent == "75056"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("postcode", "insee", "name", "departement"),
    [
        ("20000", "2A004", "Ajaccio", "2A"),
        ("20200", "2B033", "Bastia", "2B"),
        ("97139", "97101", "Les Abymes", "971"),
        ("97200", "97209", "Fort-de-France", "972"),
        ("97300", "97302", "Cayenne", "973"),
        ("97400", "97411", "Saint-Denis", "974"),
        ("97600", "97611", "Mamoudzou", "976"),
    ],
)
def test_corsica_and_overseas_postcodes_give_the_main_commune_first(
    postcode: str, insee: str, name: str, departement: str
) -> None:
    found = find(postcode)
    assert found, postcode
    first = found[0]
    assert (first.insee, first.name, first.departement) == (insee, name, departement)
    assert postcode in first.postcodes
    assert first.label == f"{name} ({departement})"


def test_a_shared_postcode_lists_every_commune_biggest_first() -> None:
    found = find("20200")
    assert len(found) > 1
    assert all("20200" in c.postcodes for c in found)
    populations = [c.population for c in found]
    assert populations == sorted(populations, reverse=True)


@pytest.mark.parametrize("postcode", ["99999", "00000", "75000", "20999"])
def test_an_unknown_postcode_finds_nothing(postcode: str) -> None:
    assert find(postcode) == []
    assert gazetteer.gazetteer().postcode(postcode) == []


def test_an_insee_code_is_looked_up_only_when_well_formed() -> None:
    assert gazetteer.commune("2A004").name == "Ajaccio"  # type: ignore[union-attr]
    assert gazetteer.commune("69266").name == "Villeurbanne"  # type: ignore[union-attr]
    for junk in ["", "6926", "692666", "2C004", "69266 ", "abcde", "\x0069266", None]:
        assert gazetteer.commune(junk) is None  # type: ignore[arg-type]


# --- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "insee"),
    [
        ("st etienne", "42218"),
        ("SAINT-ÉTIENNE", "42218"),
        ("Saint Etienne", "42218"),
        ("saint-étienne", "42218"),
        ("st eti", "42218"),
        ("ste maxime", "83115"),
        ("Sainte-Maxime", "83115"),
        ("Havre", "76351"),
        ("le havre", "76351"),
        ("L'Haÿ-les-Roses", "94038"),
        ("l hay les roses", "94038"),
        ("Haÿ-les-Roses", "94038"),
        ("  villeurbanne  ", "69266"),
        ("VILLEURBANNE", "69266"),
    ],
)
def test_a_name_is_found_whatever_its_accents_case_hyphens_and_abbreviations(
    typed: str, insee: str
) -> None:
    assert find(typed)[0].insee == insee


@pytest.mark.parametrize(
    ("typed", "insee"),
    [
        ("L’Haÿ-les-Roses", "94038"),  # the apostrophe phones type
        ("Oeuilly", "02565"),  # what people type for « Œuilly »
        ("Œuilly", "02565"),
        ("mercoeur", "19133"),
    ],
)
def test_a_typographic_apostrophe_or_an_oe_ligature_spelt_out_is_found(
    typed: str, insee: str
) -> None:
    assert insee in insees(find(typed))


@pytest.mark.parametrize(
    ("label", "insee"),
    [
        ("Saint-Denis (93)", "93066"),
        ("Saint-Denis (974)", "97411"),
        ("Lyon 3e arrondissement (69)", "69383"),
        ("Lyon 3e Arrondissement (69)", "69383"),
        ("Paris (75)", "75056"),
        ("Ajaccio (2A)", "2A004"),
        ("Oeuilly (51)", "51410"),
    ],
)
def test_a_suggestion_label_gives_exactly_its_commune(label: str, insee: str) -> None:
    assert insees(find(label)) == [insee]


def test_a_label_with_a_wrong_departement_finds_nothing() -> None:
    assert find("Saint-Denis (99)") == []
    assert find("Lyon (13)") == []


def test_the_one_letter_commune_is_found_by_its_name() -> None:
    assert insees(find("Y")) == ["80829"]
    assert insees(find("y (80)")) == ["80829"]


def test_fold_is_what_names_are_compared_on() -> None:
    assert fold("SAINT-ÉTIENNE") == "saint etienne"
    assert fold("St-Étienne") == "saint etienne"
    assert fold("Ste  Maxime") == "sainte maxime"
    assert fold("L'Haÿ-les-Roses") == fold("L’Haÿ-les-Roses") == "l hay les roses"
    assert fold("Œuilly") == fold("oeuilly") == "oeuilly"
    assert fold("Paris 11e Arrondissement") == "paris 11e arrondissement"


def test_homonyms_are_all_offered_with_their_departement() -> None:
    found = find("Saint-Denis")
    exact = [c for c in found if c.name == "Saint-Denis"]
    assert {"93066", "97411"} <= set(insees(exact))
    assert {c.label for c in exact} >= {"Saint-Denis (93)", "Saint-Denis (974)"}
    # Exact names come before longer ones (« Saint-Denis-en-Val »), the largest first.
    assert found[: len(exact)] == exact
    assert exact[0].population >= exact[1].population


def test_a_name_search_honours_its_limit_and_puts_the_exact_name_first() -> None:
    assert len(find("saint", limit=3)) == 3
    assert len(find("saint")) == 8
    assert find("Lyon")[0].insee == "69123"
    assert {c.insee for c in find("Lyon")} >= {"69123", "69383"}


@pytest.mark.parametrize(
    "junk",
    [
        "",
        " ",
        "a",
        "é",
        "x" * 10_000,
        "saint" * 2_000,
        "\x00",
        "lyon\x00",
        "\x00" * 50,
        "😀",
        "😀 lyon",
        "🇫🇷🇫🇷🇫🇷",
        "'; DROP TABLE rallies; --",
        "%",
        "\u202e\u200b",
        "75011" * 3,
        "7501",
        "750111",
        "٧٥٠١١",  # Arabic-Indic digits: not a postcode
        "\ud800",  # a lone surrogate, as a broken form post may carry
    ],
)
def test_junk_never_raises(junk: str) -> None:
    found = find(junk)
    assert isinstance(found, list)
    assert len(found) <= 8
    assert isinstance(fold(junk), str)


def test_nothing_is_suggested_before_two_letters() -> None:
    assert find("l") == []
    assert find("É") == []
    assert find("😀a") == []


# --- distances -------------------------------------------------------------------------


def test_paris_to_lyon_is_about_392_km() -> None:
    assert distance_km(*PARIS, *LYON) == pytest.approx(392, abs=5)
    assert distance_km(*LYON, *PARIS) == pytest.approx(distance_km(*PARIS, *LYON))


def test_a_point_is_zero_km_from_itself() -> None:
    assert distance_km(*LYON, *LYON) == 0
    assert distance_km(90, 0, 90, 123) == pytest.approx(0, abs=1e-6)  # every longitude at a pole


def test_antipodes_are_half_the_earth_apart() -> None:
    assert distance_km(0, 0, 0, 180) == pytest.approx(20015, abs=2)
    assert distance_km(90, 0, -90, 0) == pytest.approx(20015, abs=2)
    assert distance_km(48.85, 2.35, -48.85, -177.65) == pytest.approx(20015, abs=2)


def test_distances_cross_the_antimeridian_the_short_way() -> None:
    assert distance_km(-14.3, 179.9, -14.3, -179.9) == pytest.approx(21.5, abs=0.5)


# --- the data file ---------------------------------------------------------------------


def test_the_file_covers_every_commune_of_france() -> None:
    communes = all_communes()
    assert len(communes) > 34_000
    departements = {c.departement for c in communes}
    metropolitan = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"}
    assert metropolitan <= departements
    assert {"971", "972", "973", "974", "976"} <= departements


def test_every_commune_has_a_departement_a_postcode_and_a_known_precision() -> None:
    for c in all_communes():
        assert c.departement, c
        assert c.insee.startswith(c.departement[:2]), c
        assert c.postcodes and all(len(p) == 5 and p.isdigit() for p in c.postcodes), c
        assert c.precision in {"g", "p", "d"}, c
        assert c.name.strip() == c.name and c.name, c
        assert c.population >= 0, c


def test_every_commune_lies_in_metropolitan_france_or_its_overseas_territory() -> None:
    for c in all_communes():
        (lat_min, lat_max), (lon_min, lon_max) = OVERSEAS.get(c.departement, METROPOLE)
        assert lat_min <= c.lat <= lat_max, c
        assert lon_min <= c.lon <= lon_max, c


def test_every_metropolitan_commune_lies_near_its_departement() -> None:
    """A name matched to a homonym elsewhere in France would land hundreds of km away."""
    by_departement: dict[str, list[Commune]] = defaultdict(list)
    for c in all_communes():
        if len(c.departement) == 2:
            by_departement[c.departement].append(c)
    for communes in by_departement.values():
        centre = (
            statistics.median(c.lat for c in communes),
            statistics.median(c.lon for c in communes),
        )
        for c in communes:
            assert distance_km(c.lat, c.lon, *centre) < 150, c


def test_few_communes_are_placed_only_at_their_departement_centre() -> None:
    communes = all_communes()
    approximate = [c for c in communes if c.precision == "d"]
    assert len(approximate) < 0.05 * len(communes)
    assert all(c.approximate for c in approximate)
    assert not gazetteer.commune("69123").approximate  # type: ignore[union-attr]


def test_arrondissements_point_to_a_city_that_exists() -> None:
    arrondissements = [c for c in all_communes() if c.parent]
    assert len(arrondissements) == 20 + 9 + 16  # Paris, Lyon, Marseille
    by_insee = gazetteer.gazetteer().by_insee
    assert {c.parent for c in arrondissements} == {"75056", "69123", "13055"}
    for c in arrondissements:
        parent = by_insee[c.parent]
        assert distance_km(c.lat, c.lon, parent.lat, parent.lon) < 15, c
