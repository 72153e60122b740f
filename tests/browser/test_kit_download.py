"""The communication kit as a volunteer uses it, in a real browser.

A volunteer opens /kit/, sees the first page of each document drawn as a preview, and
downloads the ZIP of the rally in Lyon: its README, the A4 poster, and the QR code in
SVG and PNG, which scans to the rally's page with the poster's source tag. The rally's
page announces its 1200x630 share image (og:image), which the kit serves.

The kit renders on first request, into the session's throwaway instance folder: the
first preview may take a second, hence the waits on the images rather than on the page.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date
from urllib.parse import urlsplit

import pypdf
import pytest
import zxingcpp
from flask import Flask
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from campaign.extensions import db
from tests.conftest import PUBLIC_URL
from tests.factories import make_collective, make_day, make_petition, make_rally

pytestmark = pytest.mark.browser

A4_POINTS = (595.28, 841.89)  # 210 x 297 mm


def _lyon_rally(app: Flask) -> tuple[int, date]:
    """The collective and its open petition, an upcoming day and one rally, in Lyon."""
    with app.app_context():
        collective = make_collective("Collectif d’essai")
        make_petition(collective)
        day = make_day(collective, title="Journée d’essai")
        lyon = make_rally(
            day, "69123", venue="Place Bellecour", address="Place Bellecour, 69002 Lyon"
        )
        db.session.commit()
        return lyon.id, lyon.date


def _loaded(page: Page, image: Locator) -> tuple[int, int]:
    """Wait until the browser has decoded the image; its natural size."""
    image.scroll_into_view_if_needed()  # the previews load lazily
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    return width, height


def test_a_volunteer_sees_the_previews_and_downloads_the_rallys_kit(app: Flask, page: Page) -> None:
    rally_id, when = _lyon_rally(app)

    page.goto("/kit/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kit de communication")
    title = f"Affiche A4 : Lyon, {when:%d/%m/%Y}"
    item = page.locator("li.kit-item").filter(
        has=page.get_by_role("heading", name=title, exact=True)
    )
    expect(item).to_have_count(1)

    # The poster's first page, drawn from its PDF: a thumbnail of A4 proportions.
    preview = item.get_by_role("img", name=f"Aperçu de la première page : {title}")
    width, height = _loaded(page, preview)
    assert width > 0
    assert height / width == pytest.approx(A4_POINTS[1] / A4_POINTS[0], rel=0.02)
    # The call's flyer and the day's flyer have their previews too.
    previews = page.locator("img.kit-preview")
    expect(previews).to_have_count(3)
    for i in range(previews.count()):
        assert _loaded(page, previews.nth(i))[0] > 0

    with page.expect_download() as download_info:
        item.get_by_role("link", name="Tout le kit (ZIP)").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"kit-rassemblement-{rally_id}.zip"
    with zipfile.ZipFile(download.path()) as archive:
        assert archive.testzip() is None
        files = {name: archive.read(name) for name in archive.namelist()}

    poster_name = f"affiche-lyon-{when:%Y-%m-%d}-a4.pdf"
    assert {"LISEZMOI.txt", poster_name, "qr-rassemblement.svg", "qr-rassemblement.png"} <= set(
        files
    ), sorted(files)
    readme = files["LISEZMOI.txt"].decode("utf-8")
    assert "Kit du rassemblement de Lyon" in readme
    for name in files.keys() - {"LISEZMOI.txt"}:
        assert f"- {name} : " in readme, name  # the README says what each file is

    # The A4 poster: one page, A4, saying where.
    poster = pypdf.PdfReader(io.BytesIO(files[poster_name]))
    assert len(poster.pages) == 1, [p.extract_text()[:120] for p in poster.pages[1:]]
    box = poster.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(A4_POINTS, abs=1)
    text = poster.pages[0].extract_text()
    assert "Lyon" in text
    assert "Place Bellecour" in text

    # The QR code leads to the rally's page, tagged with the poster it was printed on.
    rally_url = f"{PUBLIC_URL}/rassemblements/{rally_id}?source=qr-affiche-lyon-{rally_id}"
    image = Image.open(io.BytesIO(files["qr-rassemblement.png"]))
    assert image.format == "PNG"
    codes = zxingcpp.read_barcodes(image)
    assert [(c.format, c.text) for c in codes] == [(zxingcpp.BarcodeFormat.QRCode, rally_url)]
    svg = files["qr-rassemblement.svg"].decode("utf-8")
    assert svg.lstrip().startswith("<svg")
    assert rally_url in svg  # in its title, and written beneath the code


def test_the_rally_page_announces_a_share_image_the_kit_serves(app: Flask, page: Page) -> None:
    rally_id, _ = _lyon_rally(app)

    page.goto(f"/rassemblements/{rally_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rassemblement de Lyon")
    og_image = page.locator('meta[property="og:image"]')
    expect(og_image).to_have_count(1)
    url = og_image.get_attribute("content") or ""
    assert re.fullmatch(
        rf"{re.escape(PUBLIC_URL)}/kit/rassemblements/{rally_id}/partage-1200x630\.png", url
    ), url
    assert page.locator('meta[property="og:image:width"]').get_attribute("content") == "1200"
    assert page.locator('meta[property="og:image:height"]').get_attribute("content") == "630"

    # PUBLIC_URL names the real site: ask the same path of the server under test.
    response = page.request.get(urlsplit(url).path)
    assert response.status == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.body()))
    assert (image.format, image.size) == ("PNG", (1200, 630))
