"""The nearest-rally finder: nearest first with real distances, upcoming before past, only
visible rallies, far-only answers, limits, odd positions, errors in French, and the page and
suggestions that serve it."""

from __future__ import annotations

import html
import random
import re
from datetime import date, timedelta

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from campaign.extensions import db
from campaign.places import gazetteer
from campaign.places.gazetteer import distance_km
from campaign.rallies import finder
from campaign.rallies.finder import Place, Results
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus, today
from tests.factories import make_collective, make_day, make_rally

FOUR_CITIES = {"Lyon": "69123", "Villeurbanne": "69266", "Paris": "75056", "Marseille": "13055"}


# --- helpers ---------------------------------------------------------------------------


def upcoming_day() -> MobilisationDay:
    return make_day(make_collective(), when=today() + timedelta(days=20))


def four_cities(day: MobilisationDay) -> dict[str, Rally]:
    rallies = {city: make_rally(day, insee) for city, insee in FOUR_CITIES.items()}
    db.session.commit()
    return rallies


def place_of(query: str) -> Place:
    resolution = finder.resolve(query)
    assert resolution.place is not None, resolution
    return resolution.place


def search(query: str, **limits: int) -> Results:
    return finder.nearest(place_of(query), today(), **limits)


def cities(hits: list[finder.Hit]) -> list[str]:
    return [hit.rally.city for hit in hits]


def brute_force(place: Place, rallies: list[Rally], n: int) -> list[tuple[int, float]]:
    by_distance = sorted(
        (distance_km(place.lat, place.lon, r.latitude, r.longitude), r.id) for r in rallies
    )
    return [(rally_id, km) for km, rally_id in by_distance[:n]]


def text_of(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def results_section(page: str) -> str:
    """The search results, without the list of every rally below them."""
    match = re.search(r'id="results-title".*?(?=id="all-title")', page, re.S)
    assert match, "no results on the page"
    return match.group(0)


def listed(section: str) -> list[str]:
    """The rallies' cities, in the order of the list."""
    return re.findall(r'<a href="/rassemblements/\d+">([^<]+)</a>', section)


# --- nearest first ---------------------------------------------------------------------


def test_the_nearest_rallies_come_first_with_their_distance(ctx: None) -> None:
    four_cities(upcoming_day())
    results = search("69003")
    assert results.place.label == "Lyon 3e arrondissement (69)"
    assert cities(results.upcoming) == ["Lyon", "Villeurbanne", "Marseille", "Paris"]
    km = [hit.km for hit in results.upcoming]
    assert km == pytest.approx([1.5, 2.2, 277, 392], abs=1)
    assert km == sorted(km)
    assert results.past == []
    assert results.near


def test_the_distance_is_from_the_venue_when_it_is_known(ctx: None) -> None:
    day = upcoming_day()
    # Lyon's rally at Villeurbanne's position is now the farther of the two.
    make_rally(day, "69123", lat=45.7700, lon=4.8900)
    make_rally(day, "69266")
    db.session.commit()
    hits = search("69003").upcoming
    assert cities(hits) == ["Villeurbanne", "Lyon"]
    assert hits[1].km == pytest.approx(distance_km(45.76124, 4.85184, 45.77, 4.89))


def test_a_rally_in_the_searched_commune_is_zero_km_away(ctx: None) -> None:
    make_rally(upcoming_day(), "69266")
    db.session.commit()
    resolution = finder.resolve("Villeurbanne")
    assert resolution.place is not None
    assert finder.nearest(resolution.place, today()).upcoming[0].km == pytest.approx(0)


def test_upcoming_rallies_come_before_past_ones_even_farther_away(ctx: None) -> None:
    collective = make_collective()
    past_day = make_day(collective, when=today() - timedelta(days=10))
    make_rally(past_day, "69266")  # 2 km from Lyon 3e, but over
    make_rally(upcoming_day(), "75056")  # 392 km
    db.session.commit()
    results = search("69003")
    assert cities(results.upcoming) == ["Paris"]
    assert cities(results.past) == ["Villeurbanne"]
    assert results.past[0].km == pytest.approx(2.2, abs=0.1)
    assert not results.near  # the only upcoming rally is far


def test_a_rally_today_is_still_upcoming_and_yesterdays_is_past(ctx: None) -> None:
    day = upcoming_day()
    make_rally(day, "69123", when=today())
    make_rally(day, "69266", when=today() - timedelta(days=1))
    db.session.commit()
    results = search("69003")
    assert cities(results.upcoming) == ["Lyon"]
    assert cities(results.past) == ["Villeurbanne"]


def test_what_is_past_depends_on_the_day_given(ctx: None) -> None:
    make_rally(upcoming_day(), "69123", when=date(2030, 5, 1))
    db.session.commit()
    place = place_of("69003")
    assert cities(finder.nearest(place, date(2030, 5, 1)).upcoming) == ["Lyon"]
    assert cities(finder.nearest(place, date(2030, 5, 2)).past) == ["Lyon"]


@pytest.mark.parametrize("status", [RallyStatus.PROPOSED, RallyStatus.REFUSED])
def test_proposed_and_refused_rallies_are_never_found(ctx: None, status: RallyStatus) -> None:
    collective = make_collective()
    make_rally(make_day(collective, when=today() + timedelta(days=5)), "69123", status=status)
    make_rally(make_day(collective, when=today() - timedelta(days=5)), "69266", status=status)
    db.session.commit()
    results = search("69003")
    assert results.upcoming == [] and results.past == []
    assert not results.near


def test_cancelled_rallies_are_found_and_marked(ctx: None) -> None:
    day = upcoming_day()
    make_rally(day, "69123", status=RallyStatus.CANCELLED)
    make_rally(day, "69266", status=RallyStatus.PROPOSED)
    db.session.commit()
    hits = search("69003").upcoming
    assert cities(hits) == ["Lyon"]
    assert hits[0].rally.status is RallyStatus.CANCELLED
    assert hits[0].rally.state(today()) == "cancelled"


def test_a_far_rally_is_still_given_but_not_as_near(ctx: None) -> None:
    make_rally(upcoming_day(), "13055")  # Marseille
    db.session.commit()
    lille = gazetteer.commune("59350")
    assert lille is not None and lille.name == "Lille"
    results = finder.nearest(finder.commune_place(lille), today())
    assert cities(results.upcoming) == ["Marseille"]
    assert results.upcoming[0].km == pytest.approx(834, abs=3)
    assert results.upcoming[0].km > finder.NEAR_KM
    assert not results.near


def test_near_means_an_upcoming_rally_within_100_km(ctx: None) -> None:
    make_rally(upcoming_day(), "42218")  # Saint-Étienne, about 50 km from Lyon
    db.session.commit()
    assert search("69003").near
    assert not search("13008").near  # about 280 km


def test_nothing_anywhere_gives_empty_results(ctx: None) -> None:
    results = search("75011")
    assert results.upcoming == [] and results.past == []
    assert not results.near


def test_results_carry_the_rally_with_its_day_and_organisations(ctx: None) -> None:
    rally_id = make_rally(upcoming_day(), "69123").id
    db.session.commit()
    db.session.expunge_all()
    hit = search("69003").upcoming[0]
    assert hit.rally.id == rally_id
    assert hit.rally.day.title.startswith("Journée du")
    assert hit.rally.organisations == []


# --- limits ----------------------------------------------------------------------------


def test_the_limits_are_honoured_and_the_nearest_kept(ctx: None) -> None:
    """30 rallies around Lyon, some within 30 km, some far: the ten nearest, in order."""
    rng = random.Random(30)
    communes = [
        c
        for c in gazetteer.gazetteer().by_insee.values()
        if c.departement in {"69", "01", "38", "42", "71", "13", "75"} and not c.parent
    ]
    day_ahead = upcoming_day()
    day_over = make_day(day_ahead.collective, when=today() - timedelta(days=3))
    upcoming = [make_rally(day_ahead, c.insee) for c in rng.sample(communes, 30)]
    past = [make_rally(day_over, c.insee) for c in rng.sample(communes, 30)]
    db.session.commit()
    place = place_of("69003")
    results = finder.nearest(place, today())
    assert len(results.upcoming) == 10
    assert len(results.past) == 5
    expected = brute_force(place, upcoming, 10)
    assert [h.rally.id for h in results.upcoming] == [rally_id for rally_id, _ in expected]
    assert [h.km for h in results.upcoming] == pytest.approx([km for _, km in expected])
    assert [h.rally.id for h in results.past] == [i for i, _ in brute_force(place, past, 5)]
    other = finder.nearest(place, today(), upcoming_limit=3, past_limit=0)
    assert [h.rally.id for h in other.upcoming] == [i for i, _ in expected[:3]]
    assert other.past == []


def test_the_search_widens_until_it_finds_enough(ctx: None) -> None:
    """One rally within 30 km is not enough: the farther ones are fetched too, in order."""
    day = upcoming_day()
    for insee in ["69266", "42218", "38185", "13055", "75056", "59350", "2A004", "97411"]:
        make_rally(day, insee)
    db.session.commit()
    hits = search("69003").upcoming
    assert cities(hits) == [
        "Villeurbanne",  # 2 km
        "Saint-Étienne",  # 50 km
        "Grenoble",  # 95 km
        "Marseille",  # 277 km
        "Paris",  # 392 km
        "Ajaccio",  # 520 km
        "Lille",  # 560 km
        "Saint-Denis",  # La Réunion, 9 000 km
    ]
    assert hits[-1].km == pytest.approx(8994, abs=10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_rallies_and_searches_agree_with_brute_force(ctx: None, seed: int) -> None:
    rng = random.Random(seed)
    communes = [c for c in gazetteer.gazetteer().by_insee.values() if not c.parent]
    day = upcoming_day()
    rallies = [make_rally(day, c.insee) for c in rng.sample(communes, 40)]
    db.session.commit()
    for commune in rng.sample(communes, 15):
        place = finder.commune_place(commune)
        hits = finder.nearest(place, today(), upcoming_limit=7).upcoming
        expected = brute_force(place, rallies, 7)
        assert [h.km for h in hits] == pytest.approx([km for _, km in expected]), commune


# --- odd positions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (0, 0),
        (90, 0),
        (-90, 0),
        (89.99, 179.99),
        (0, 180),
        (0, -180),
        (-14.3, 179.99),
        (-14.3, -179.99),
        (45.76, 4.83),
    ],
)
def test_odd_positions_do_not_crash_and_find_every_rally(ctx: None, lat: float, lon: float) -> None:
    four_cities(upcoming_day())
    results = finder.nearest(Place("votre position", lat, lon), today())
    assert len(results.upcoming) == 4
    km = [hit.km for hit in results.upcoming]
    assert km == sorted(km)
    assert all(0 <= d <= 20_016 for d in km)


def test_the_nearest_rally_across_the_antimeridian_is_found(ctx: None) -> None:
    """Wallis-et-Futuna lies near longitude 180: the box around a person must wrap."""
    day = upcoming_day()
    across = make_rally(day, "98613", lat=-14.3, lon=-179.95)  # 11 km away, across the line
    make_rally(day, "98613", lat=-14.3, lon=179.0)  # 102 km away, same side
    db.session.commit()
    hits = finder.nearest(Place("votre position", -14.3, 179.95), today(), upcoming_limit=1)
    assert [h.rally.id for h in hits.upcoming] == [across.id]
    assert hits.upcoming[0].km == pytest.approx(10.8, abs=0.2)


def test_the_nearest_rally_beyond_a_pole_is_found(ctx: None) -> None:
    """At a pole every longitude is near: the box must not cut any out."""
    day = upcoming_day()
    beyond = make_rally(day, "69123", lat=89.9, lon=170.0)  # 11 km, on the other side
    make_rally(day, "69123", lat=89.8, lon=0.0)  # 22 km
    db.session.commit()
    hits = finder.nearest(Place("votre position", 90.0, 0.0), today(), upcoming_limit=1)
    assert [h.rally.id for h in hits.upcoming] == [beyond.id]


# --- resolving what was typed ----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Indiquez un code postal ou le nom d’une commune."),
        ("   ", "Indiquez un code postal ou le nom d’une commune."),
        ("99999", "Le code postal 99999 n’existe pas. Vérifiez-le, par exemple 75011."),
        ("7501", "Un code postal a 5 chiffres, par exemple 75011."),
        ("750111", "Un code postal a 5 chiffres, par exemple 75011."),
        ("Xyzzyville", "Aucune commune ne s’appelle « Xyzzyville ». Essayez avec le code postal."),
    ],
)
def test_what_cannot_be_resolved_is_explained_in_french(query: str, message: str) -> None:
    resolution = finder.resolve(query)
    assert resolution.place is None
    assert resolution.choices == []
    assert resolution.error == message


def test_a_long_unknown_name_is_quoted_shortened() -> None:
    resolution = finder.resolve("x" * 500)
    assert (
        resolution.error
        == f"Aucune commune ne s’appelle « {'x' * 60} ». Essayez avec le code postal."
    )


@pytest.mark.parametrize("junk", ["\x00", "😀😀", "\x00" * 300, "%00", "<script>", "٧٥٠١١"])
def test_junk_gets_an_error_not_an_exception(junk: str) -> None:
    resolution = finder.resolve(junk)
    assert resolution.place is None
    assert resolution.error


def test_a_homonym_asks_which_one_is_meant() -> None:
    resolution = finder.resolve("Saint-Denis")
    assert resolution.place is None
    assert resolution.error is None
    labels = [c.label for c in resolution.choices]
    assert "Saint-Denis (93)" in labels and "Saint-Denis (974)" in labels
    assert all(c.name == "Saint-Denis" for c in resolution.choices)


def test_a_chosen_suggestion_gives_its_commune() -> None:
    assert place_of("Saint-Denis (974)") == Place("Saint-Denis (974)", -20.88231, 55.4504)
    assert place_of("Saint-Denis (93)").label == "Saint-Denis (93)"


def test_a_postcode_gives_a_place() -> None:
    resolution = finder.resolve("75011")
    assert resolution.error is None
    assert resolution.place == Place("Paris 11e arrondissement (75)", 48.8574, 2.3795)


def test_a_shared_postcode_searches_from_the_largest_and_offers_the_others() -> None:
    resolution = finder.resolve("20200")
    assert resolution.place is not None
    assert resolution.place.label == "Bastia (2B)"
    assert resolution.choices and all("20200" in c.postcodes for c in resolution.choices)


def test_an_exact_name_wins_over_longer_ones() -> None:
    assert place_of("Lyon").label == "Lyon (69)"
    assert place_of("st etienne").label == "Saint-Étienne (42)"
    assert place_of("Havre").label == "Le Havre (76)"


def test_an_approximate_commune_says_so() -> None:
    commune = next(c for c in gazetteer.gazetteer().by_insee.values() if c.approximate)
    assert finder.commune_place(commune).approximate
    assert not place_of("75011").approximate


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        ("91", "0"),
        ("-91", "0"),
        ("0", "181"),
        ("0", "-181"),
        ("nan", "0"),
        ("0", "nan"),
        ("inf", "0"),
        ("-inf", "0"),
        ("0", "1e400"),
        ("abc", "1"),
        ("1", ""),
        ("", ""),
        ("1,5", "2"),
        (None, "1"),
    ],
)
def test_a_position_out_of_bounds_or_unreadable_is_refused(lat: str, lon: str) -> None:
    resolution = finder.position(lat, lon)
    assert resolution.place is None
    assert resolution.error and resolution.error.startswith("Position ")


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        ("45.76", "4.83", (45.76, 4.83)),
        (" 45.76 ", "4.83", (45.76, 4.83)),
        ("90", "-180", (90.0, -180.0)),
        ("-90", "180", (-90.0, 180.0)),
        ("0", "0", (0.0, 0.0)),
    ],
)
def test_a_position_within_bounds_is_accepted(
    lat: str, lon: str, expected: tuple[float, float]
) -> None:
    resolution = finder.position(lat, lon)
    assert resolution.error is None
    assert resolution.place == Place("votre position", *expected)


# --- the page and the suggestions ------------------------------------------------------


def test_the_page_lists_the_nearest_rallies_in_order(ctx: None, client: FlaskClient) -> None:
    four_cities(upcoming_day())
    response = client.get("/rassemblements?q=75011")
    assert response.status_code == 200
    results = results_section(text_of(response))
    assert "Près de Paris 11e arrondissement (75)" in results
    # From Paris 11e, Villeurbanne is a few hundred metres nearer than Lyon.
    assert listed(results) == ["Paris", "Villeurbanne", "Lyon", "Marseille"]
    assert "à 2,3 km" in results
    assert "à 392 km" in results or "à 393 km" in results


def test_the_page_from_lyon_puts_lyon_first(ctx: None, client: FlaskClient) -> None:
    four_cities(upcoming_day())
    response = client.get("/rassemblements?q=69003")
    assert response.status_code == 200
    results = results_section(text_of(response))
    assert listed(results) == ["Lyon", "Villeurbanne", "Marseille", "Paris"]
    assert "Aucun rassemblement à venir" not in results


def test_an_unknown_postcode_is_a_422_with_a_french_message(client: FlaskClient) -> None:
    response = client.get("/rassemblements?q=99999")
    assert response.status_code == 422
    page = text_of(response)
    assert "Le code postal 99999 n’existe pas" in page
    assert 'aria-invalid="true"' in page


def test_a_position_out_of_bounds_is_a_422(client: FlaskClient) -> None:
    response = client.get("/rassemblements?lat=100&lon=0")
    assert response.status_code == 422
    assert "Position hors limites" in text_of(response)
    assert client.get("/rassemblements?lat=abc").status_code == 422


def test_a_position_finds_the_nearest_rallies(ctx: None, client: FlaskClient) -> None:
    four_cities(upcoming_day())
    response = client.get("/rassemblements?lat=45.76&lon=4.83")
    assert response.status_code == 200
    results = results_section(text_of(response))
    assert "Près de votre position" in results
    assert listed(results) == ["Lyon", "Villeurbanne", "Marseille", "Paris"]


def test_a_chosen_commune_is_searched_from(ctx: None, client: FlaskClient) -> None:
    four_cities(upcoming_day())
    response = client.get("/rassemblements?commune=69383")
    assert response.status_code == 200
    results = results_section(text_of(response))
    assert "Près de Lyon 3e arrondissement (69)" in results
    assert listed(results) == ["Lyon", "Villeurbanne", "Marseille", "Paris"]


@pytest.mark.parametrize("junk", ["garbage", "", "00000", "6938", "69383x", "%00", "é" * 300])
def test_a_garbage_commune_is_ignored(ctx: None, client: FlaskClient, junk: str) -> None:
    four_cities(upcoming_day())
    response = client.get("/rassemblements", query_string={"commune": junk})
    assert response.status_code == 200
    assert 'id="results-title"' not in response.get_data(as_text=True)


def test_a_homonym_on_the_page_offers_links_to_each(client: FlaskClient) -> None:
    response = client.get("/rassemblements?q=Saint-Denis")
    assert response.status_code == 200
    page = text_of(response)
    assert "Plusieurs communes correspondent" in page
    assert "/rassemblements?commune=93066" in page
    assert "/rassemblements?commune=97411" in page


def test_the_page_without_a_search_lists_every_visible_rally(
    ctx: None, client: FlaskClient
) -> None:
    day = upcoming_day()
    four_cities(day)
    make_rally(day, "42218", status=RallyStatus.PROPOSED)
    db.session.commit()
    response = client.get("/rassemblements")
    assert response.status_code == 200
    page = text_of(response)
    assert 'id="results-title"' not in page
    assert all(city in page for city in FOUR_CITIES)
    assert "Saint-Étienne" not in page


def test_suggestions_are_json_labels_best_first(client: FlaskClient) -> None:
    response = client.get("/rassemblements/communes.json?q=st%20eti")
    assert response.status_code == 200
    assert response.is_json
    found = response.get_json()
    assert isinstance(found, list) and 1 <= len(found) <= 8
    assert found[0]["label"].startswith("Saint-Étienne")
    assert found[0] == {
        "label": "Saint-Étienne (42)",
        "commune": "42218",
        "postcodes": ["42000", "42100", "42230"],
    }
    assert "max-age=86400" in response.headers["Cache-Control"]


def test_suggestions_for_a_postcode_or_junk(client: FlaskClient) -> None:
    assert client.get("/rassemblements/communes.json?q=69003").get_json()[0]["commune"] == "69383"
    for junk in ["", "a", "99999", "%00", "😀", "x" * 5000]:
        response = client.get("/rassemblements/communes.json", query_string={"q": junk})
        assert response.status_code == 200
        assert response.get_json() == []


def test_a_cancelled_rally_nearby_does_not_count_as_near(ctx: None) -> None:
    day = upcoming_day()
    make_rally(day, "69123", status=RallyStatus.CANCELLED)
    make_rally(day, "13055")  # Marseille, far
    db.session.commit()
    results = search("69003")
    assert cities(results.upcoming) == ["Lyon", "Marseille"]  # still shown, marked
    assert not results.near


@pytest.mark.parametrize(
    "typed",
    [
        "Saint\u2013Denis",  # en dash
        "Saint\u2011Denis",  # non-breaking hyphen
        "SAINT\u00a0DENIS",  # no-break space
    ],
)
def test_any_dash_or_space_separates_words(ctx: None, typed: str) -> None:
    resolution = finder.resolve(typed)
    assert resolution.error is None
    assert {c.departement for c in resolution.choices} >= {"93", "974"}


def test_full_width_digits_are_a_postcode(ctx: None) -> None:
    resolution = finder.resolve("７５０１１")
    assert resolution.place is not None
    assert resolution.place.label.startswith("Paris 11e")


def test_every_homonym_can_be_chosen(ctx: None) -> None:
    choices = finder.resolve("Sainte-Colombe").choices
    assert len(choices) == len({c.insee for c in choices}) >= 12
    assert {"05", "17", "50", "89"} <= {c.departement for c in choices}


def test_a_unique_name_gives_its_place_without_unrelated_choices(ctx: None) -> None:
    resolution = finder.resolve("Lyon")
    assert resolution.place is not None and resolution.place.label == "Lyon (69)"
    assert resolution.choices == []


def test_without_a_search_a_crowded_day_shows_its_first_rallies_and_links_to_all(
    ctx: None, client: FlaskClient
) -> None:
    day = upcoming_day()
    communes = [c for c in gazetteer.gazetteer().by_insee.values() if c.departement == "01"]
    for commune in communes[:53]:
        make_rally(day, commune.insee)
    db.session.commit()
    page = text_of(client.get("/rassemblements"))
    assert page.count('class="rally-item') == 50
    assert "Les 53 rassemblements de la journée" in page
