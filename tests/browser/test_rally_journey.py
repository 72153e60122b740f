"""Finding a rally and saying « J'y serai » as a person does it, in a real browser.

The finder: a postcode typed and submitted, the nearest rally first; « Me localiser »
with a faked position; the Leaflet map drawn over the plain-HTML list; and the same
search with JavaScript off. Then the rally page: the RSVP form, the email link, the
count of confirmed participants one higher.

As in test_sign_journey, the mail queue sends inside the request thread in testing
mode, so the `outbox` fixture holds the email as soon as the next page is shown. The
machine has no network: requests to the map's tile server are aborted at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask_mail import Message
from playwright.sync_api import Browser, Locator, Page, Route, expect
from sqlalchemy import select

from campaign.core.db import utcnow
from campaign.core.emails import canonical_email
from campaign.core.tokens import hash_token, new_nonce, token_for
from campaign.extensions import db
from campaign.petition.consent import CURRENT_CONSENT_VERSION
from campaign.rallies import rsvp
from campaign.rallies.models import Rsvp, RsvpStatus
from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import PUBLIC_URL
from tests.factories import make_collective, make_day, make_rally, path_of, rsvp_link

pytestmark = pytest.mark.browser

EMAIL = "camille.martin@example.org"
CONSENT_LABEL = "J’accepte que mes nom, adresse e-mail et téléphone"
ALREADY_CONFIRMED = 2
# Every tile server the map might ask (MAP_TILES_URL): none is reachable from here.
TILE_REQUESTS = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")


@dataclass(frozen=True)
class Rallies:
    lyon: int
    villeurbanne: int
    paris: int


def _rallies(app: Flask, *, confirmed_in_lyon: int = 0) -> Rallies:
    """Three upcoming rallies of one day; Lyon's already has a few confirmed participants."""
    with app.app_context():
        day = make_day(make_collective("Collectif d’essai"), title="Journée d’essai")
        lyon = make_rally(day, "69123", venue="Place Bellecour", address="")
        villeurbanne = make_rally(
            day, "69266", venue="Place Lazare-Goujon", address="Avenue Henri-Barbusse"
        )
        paris = make_rally(day, "75056", venue="Place de la République", address="")
        db.session.commit()
        for n in range(1, confirmed_in_lyon + 1):
            _confirm_participant(lyon.id, f"Participant {n}", f"participant.{n}@example.org")
        assert rsvp.confirmed_count(lyon.id) == confirmed_in_lyon
        return Rallies(lyon.id, villeurbanne.id, paris.id)


def _confirm_participant(rally_id: int, name: str, email: str) -> None:
    """An earlier visitor's « J'y serai », already confirmed by its email link.

    Written as the row the confirmation leaves, not through rsvp.register(): that one
    queues the email job, which would run here outside any request.
    """
    nonce = new_nonce()
    now = utcnow()
    db.session.add(
        Rsvp(
            rally_id=rally_id,
            name=name,
            email=email,
            email_canonical=canonical_email(email),
            consent_version=CURRENT_CONSENT_VERSION,
            status=RsvpStatus.CONFIRMED,
            token_nonce=nonce,
            token_hash=hash_token(token_for(nonce, rsvp.TOKEN_PURPOSE)),
            token_expires_at=now,
            emails_sent=1,
            created_at=now,
            confirmed_at=now,
        )
    )
    db.session.commit()


def _block_tiles(page: Page) -> None:
    """Tiles come from another host: abort them now rather than wait for a timeout."""
    page.route(TILE_REQUESTS, lambda route: route.abort())


def _upcoming(page: Page) -> Locator:
    """The finder's results, nearest first: one <li> per rally."""
    results = page.get_by_role("region", name=re.compile("^Près de"))
    return results.locator("ol.rally-list").first.locator("> li")


def _result_ids(items: Locator) -> list[int]:
    hrefs = [
        items.nth(i).get_by_role("link").first.get_attribute("href") or ""
        for i in range(items.count())
    ]
    return [int(re.search(r"/rassemblements/(\d+)$", href).group(1)) for href in hrefs]  # type: ignore[union-attr]


def _km(item: Locator) -> float:
    """« à 1,8 km » as a number."""
    text = item.locator(".distance").inner_text()
    match = re.fullmatch(r"à (\d+(?:,\d)?) km", text.replace("\u00a0", " ").strip())
    assert match, f"distance text: {text!r}"
    return float(match.group(1).replace(",", "."))


def _shown_count(page: Page) -> int:
    """Confirmed participants as printed on the rally page, digits only."""
    counter = page.locator("[data-rsvp-count]")
    expect(counter).to_have_count(1)
    return int(re.sub(r"\D", "", counter.inner_text()))


def _mail_to(outbox: list[Message], address: str) -> Message:
    [message] = [m for m in outbox if m.recipients == [address]]
    return message


def _rsvps(app: Flask, email: str) -> list[Rsvp]:
    with app.app_context():
        found = list(db.session.execute(select(Rsvp).where(Rsvp.email == email)).scalars())
        db.session.expunge_all()
        return found


def _screenshot(page: Page, name: str) -> None:
    """Saved to $SCREENSHOT_DIR when set, at 1280 px and at a phone's 390 px; else nothing."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if not folder:
        return
    size = page.viewport_size
    for suffix, width in (("", 1280), ("-mobile", 390)):
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("document.fonts.ready.then(() => true)")
        page.wait_for_timeout(300)  # the map redraws after the resize
        target = Path(folder) / f"{name}{suffix}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 10_000
    if size:
        page.set_viewport_size(size)


def test_find_by_postcode_say_i_will_come_confirm_by_email_and_see_the_count_grow(
    app: Flask, page: Page, outbox: list[Message]
) -> None:
    ids = _rallies(app, confirmed_in_lyon=ALREADY_CONFIRMED)
    _block_tiles(page)

    page.goto("/rassemblements")
    expect(page.get_by_role("heading", level=1)).to_have_text("Trouver un rassemblement")
    page.get_by_label("Code postal ou commune").fill("69003")
    page.get_by_role("button", name="Chercher").click()

    expect(page).to_have_url(re.compile(r"/rassemblements\?q=69003$"))
    expect(page.get_by_role("heading", name=re.compile("^Près de Lyon 3e"))).to_be_visible()
    items = _upcoming(page)
    expect(items).to_have_count(3)
    order = _result_ids(items)
    assert order[0] in (ids.lyon, ids.villeurbanne), order
    assert set(order[:2]) == {ids.lyon, ids.villeurbanne}
    assert order[2] == ids.paris
    distances = [_km(items.nth(i)) for i in range(3)]
    assert distances == sorted(distances)
    assert distances[1] < 10 < 350 < distances[2] < 450, distances  # Lyon–Paris ≈ 390 km
    expect(page.get_by_text("Aucun rassemblement à venir")).to_have_count(0)
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(3)
    _screenshot(page, "screenshot-rally-finder")

    lyon = items.nth(order.index(ids.lyon))
    lyon.get_by_role("link", name="Lyon").click()
    expect(page).to_have_url(re.compile(rf"/rassemblements/{ids.lyon}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rassemblement de Lyon")
    before = _shown_count(page)
    assert before == ALREADY_CONFIRMED
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(3)
    _screenshot(page, "screenshot-rally")

    form = page.get_by_role("region", name="J’y serai")
    form.get_by_label("Prénom et nom").fill("Camille Martin")
    form.get_by_label("Adresse e-mail", exact=True).fill(EMAIL)
    form.get_by_label("Téléphone (facultatif)").fill("06 12 34 56 78")
    form.get_by_label(CONSENT_LABEL).check()
    form.get_by_role("button", name="J’y serai").click()

    expect(page).to_have_url(re.compile(rf"/rassemblements/{ids.lyon}/inscription(#participer)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre boîte mail")
    [pending] = _rsvps(app, EMAIL)
    assert pending.status is RsvpStatus.PENDING
    assert (pending.name, pending.rally_id) == ("Camille Martin", ids.lyon)
    assert pending.phone

    message = _mail_to(outbox, EMAIL)
    assert "Confirmez votre venue" in message.subject
    assert "Lyon" in message.subject
    link = rsvp_link(message)
    assert link.startswith(PUBLIC_URL + "/rassemblements/venue/")
    # Nothing counts before the click in the email.
    page.goto(f"/rassemblements/{ids.lyon}")
    assert _shown_count(page) == before

    page.goto(path_of(link))
    expect(page.get_by_role("heading", level=1)).to_have_text("Merci, votre venue est confirmée")
    expect(page.get_by_text(f"{before + 1} personnes ont confirmé leur venue")).to_be_visible()
    _screenshot(page, "screenshot-rally-confirmed")

    page.get_by_role("link", name="Voir le rassemblement").click()
    expect(page).to_have_url(re.compile(rf"/rassemblements/{ids.lyon}$"))
    assert _shown_count(page) == before + 1
    [confirmed] = _rsvps(app, EMAIL)
    assert confirmed.status is RsvpStatus.CONFIRMED
    assert confirmed.confirmed_at is not None


def test_me_localiser_searches_around_the_browsers_position(app: Flask, page: Page) -> None:
    ids = _rallies(app)
    page.context.set_geolocation({"latitude": 45.76, "longitude": 4.83})
    page.context.grant_permissions(["geolocation"])
    _block_tiles(page)

    page.goto("/rassemblements")
    locate = page.get_by_role("button", name="Me localiser")
    expect(locate).to_be_visible()  # hidden until the script knows geolocation works
    locate.click()

    expect(page).to_have_url(re.compile(r"/rassemblements\?lat=[-\d.]+&lon=[-\d.]+$"))
    query = parse_qs(urlsplit(page.url).query)
    assert float(query["lat"][0]) == pytest.approx(45.76)
    assert float(query["lon"][0]) == pytest.approx(4.83)
    expect(page.get_by_role("heading", name="Près de votre position")).to_be_visible()
    items = _upcoming(page)
    expect(items).to_have_count(3)
    assert _result_ids(items) == [ids.lyon, ids.villeurbanne, ids.paris]
    assert _km(items.first) < 5


def test_the_map_shows_a_marker_per_rally_beside_the_plain_list(app: Flask, page: Page) -> None:
    ids = _rallies(app)
    every_rally = {f"/rassemblements/{n}" for n in (ids.lyon, ids.villeurbanne, ids.paris)}
    tiles: list[str] = []

    def abort_tile(route: Route) -> None:
        tiles.append(route.request.url)
        route.abort()

    page.route(TILE_REQUESTS, abort_tile)

    # Without a search: France, every upcoming rally, and the same rallies listed by day.
    page.goto("/rassemblements")
    area = page.get_by_role("region", name="Carte des rassemblements")
    expect(area).to_be_visible()
    expect(area).to_have_class(re.compile(r"\bleaflet-container\b"))
    markers = area.locator("path.leaflet-interactive")
    expect(markers).to_have_count(3)
    assert area.bounding_box()["height"] > 100  # type: ignore[index]
    assert tiles, "the map never asked for a tile"
    # Its controls speak French, like the rest of the page.
    expect(area.get_by_role("button", name="Zoom avant")).to_be_visible()
    expect(area.get_by_role("button", name="Zoom arrière")).to_be_visible()
    days = page.get_by_role("region", name="Les journées de mobilisation")
    for city in ("Lyon", "Villeurbanne", "Paris"):
        expect(days.get_by_role("link", name=city, exact=True)).to_be_visible()

    # Each marker opens a popup linking to its rally's page.
    hrefs = set()
    for i in range(markers.count()):
        markers.nth(i).dispatch_event("click")
        popup = area.locator(".leaflet-popup-content")
        expect(popup).to_have_count(1)  # the previous one has faded out
        hrefs.add(popup.get_by_role("link").get_attribute("href"))
    assert hrefs == every_rally

    # After a search: the map around the place, the results listed beside it.
    page.goto("/rassemblements?q=69003")
    expect(area).to_be_visible()
    expect(markers).to_have_count(3)
    expect(_upcoming(page)).to_have_count(3)

    # The rally page has its own map, centred on the rally.
    page.goto(f"/rassemblements/{ids.lyon}")
    expect(page.get_by_role("region", name="Carte du lieu du rassemblement")).to_be_visible()
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(3)


@pytest.fixture
def no_script_page(browser: Browser, live_server: str) -> Iterator[Page]:
    """The same visitor as the `page` fixture, with JavaScript turned off."""
    context = browser.new_context(
        base_url=live_server,
        locale="fr-FR",
        timezone_id="Europe/Paris",
        viewport={"width": 1280, "height": 900},
        java_script_enabled=False,
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_without_javascript_the_finder_works_from_the_keyboard_and_the_map_stays_hidden(
    app: Flask, no_script_page: Page
) -> None:
    page = no_script_page
    ids = _rallies(app)

    page.goto("/rassemblements")
    field = page.get_by_label("Code postal ou commune")
    field.focus()
    page.keyboard.type("69003")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/rassemblements\?q=69003$"))
    items = _upcoming(page)
    expect(items).to_have_count(3)
    order = _result_ids(items)
    assert order[0] in (ids.lyon, ids.villeurbanne)
    assert order[2] == ids.paris
    expect(items.first.locator(".distance")).to_contain_text("km")
    expect(page.locator("#map")).to_be_hidden()
    expect(page.locator("#map")).to_be_empty()

    # The rally's page and its form are there too.
    items.first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rassemblement de")
    expect(page.get_by_role("button", name="J’y serai")).to_be_visible()
    expect(page.locator("#map")).to_be_hidden()


def test_without_javascript_me_localiser_is_not_offered(app: Flask, no_script_page: Page) -> None:
    """The button needs the script: without it, a click would do nothing."""
    no_script_page.goto("/rassemblements")
    expect(no_script_page.locator("[data-locate]")).to_have_attribute("hidden", "")
    expect(no_script_page.get_by_role("button", name="Me localiser")).to_be_hidden(timeout=1000)
