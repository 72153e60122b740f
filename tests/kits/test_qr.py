"""QR codes of the communication kit: what they decode to, and whether they print well.

The PNG is decoded with zxing-cpp; the SVG is drawn by WeasyPrint and rasterised by
pdfium before decoding, so the path it contains is really read, not re-derived.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pypdfium2
import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from weasyprint import HTML

from campaign.extensions import db
from campaign.kits import cache, qr
from tests.conftest import PUBLIC_URL
from tests.factories import make_collective, make_day, make_member, make_petition, make_rally

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "evil.example"

URLS = [
    f"{PUBLIC_URL}/petitions/quatre-urgences?source=qr-tract-appel",
    f"{PUBLIC_URL}/rassemblements/12?source=qr-affiche-saint-etienne-12",
    f"{PUBLIC_URL}/rassemblements?source=qr-tract-15-mai-2025",
    f"{PUBLIC_URL}/petitions/quatre-urgences?source=qr-tract-0123456789ab&org=0123456789ab",
    # Accented slugs reach the code percent-encoded: a URL is ASCII.
    f"{PUBLIC_URL}/petitions/prot%C3%A9ger-l-enfance?source=qr-tract-journ%C3%A9e",
]


@pytest.fixture(autouse=True)
def _empty_kit_cache(app: Flask) -> Iterator[None]:
    """The instance folder is shared by the session: each test starts with no kit file."""
    with app.app_context():
        for path in cache.folder().iterdir():
            path.unlink()
    yield


def fetch(client: FlaskClient, url: str, **kwargs: object) -> tuple[int, str, bytes]:
    """Status, mimetype and body, the file closed (send_file keeps it open otherwise)."""
    with client.get(url, **kwargs) as response:  # type: ignore[arg-type]
        return response.status_code, response.mimetype, response.get_data()


def decoded(image: Image.Image) -> list[str]:
    return [
        barcode.text
        for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]


def decoded_png(data: bytes) -> list[str]:
    return decoded(Image.open(io.BytesIO(data)))


def decoded_svg(data: bytes) -> list[str]:
    """Draw the SVG through WeasyPrint (vectors), rasterise with pdfium, decode."""
    source = base64.b64encode(data).decode()
    page = HTML(
        string=f'<style>@page {{ size: 120mm; margin: 5mm }}</style><img style="width: 100mm"'
        f' src="data:image/svg+xml;base64,{source}">'
    ).write_pdf()
    image = pypdfium2.PdfDocument(page)[0].render(scale=4).to_pil()
    return decoded(image.convert("L"))


def dark(pixel: int) -> bool:
    return pixel < 128


def finder_run(image: Image.Image) -> tuple[int, int, int]:
    """(left, top, module size): the top-left finder pattern is 7 dark modules wide."""
    width, _ = image.size
    pixels = image.load()
    for y in range(width):
        row = [dark(pixels[x, y]) for x in range(width)]
        if any(row):
            left = row.index(True)
            run = next((i for i in range(left, width) if not row[i]), width) - left
            return left, y, run // 7
    raise AssertionError("no dark pixel in the code")


# --- qr_png and qr_svg ------------------------------------------------------------------


@pytest.mark.parametrize("url", URLS)
def test_the_png_decodes_to_its_url(url):
    assert decoded_png(qr.qr_png(url)) == [url]
    assert decoded_png(qr.qr_png(url, caption=False)) == [url]


@pytest.mark.parametrize("url", URLS)
def test_the_svg_decodes_to_the_same_url_as_the_png(url):
    svg = qr.qr_svg(url)
    assert decoded_svg(svg) == [url]
    assert decoded_svg(qr.qr_svg(url, caption=False)) == [url]
    assert decoded_png(qr.qr_png(url)) == decoded_svg(svg)


@pytest.mark.parametrize("url", [URLS[0], URLS[3]])
def test_the_png_is_ready_for_print(url):
    image = Image.open(io.BytesIO(qr.qr_png(url)))
    width, height = image.size
    assert width >= 1000
    assert round(image.info["dpi"][0]) >= 300 and round(image.info["dpi"][1]) >= 300
    gray = image.convert("L")
    # The code itself is black on white only, with sharp edges: it photocopies.
    assert {colour for _, colour in gray.crop((0, 0, width, width)).getcolors()} == {0, 255}
    left, top, module = finder_run(gray)
    assert module >= 8  # 1000 px and more for a few dozen modules
    assert left >= 4 * module and top >= 4 * module
    # The code is a square in the top of the image, white for 4 modules on every side.
    code = gray.crop((0, 0, width, width))
    box = Image.eval(code, lambda p: 255 - p).getbbox()
    assert box is not None
    assert box[0] >= 4 * module and box[1] >= 4 * module
    assert width - box[2] >= 4 * module and width - box[3] >= 4 * module

    # The URL is written beneath: the image is taller than wide, with dark pixels there.
    assert height > width
    band = gray.crop((0, width, width, height))
    assert Image.eval(band, lambda p: 255 - p).getbbox() is not None
    assert decoded(gray) == [url]


def test_without_caption_the_png_is_a_square():
    image = Image.open(io.BytesIO(qr.qr_png(URLS[0], caption=False)))
    assert image.size[0] == image.size[1] >= 1000


def test_a_long_url_still_fits_its_caption_under_the_code():
    url = f"{PUBLIC_URL}/petitions/{'p' * 60}?source=qr-tract-{'x' * 50}&org=0123456789ab"
    image = Image.open(io.BytesIO(qr.qr_png(url))).convert("L")
    width, height = image.size
    band = image.crop((0, width, width, height))
    box = Image.eval(band, lambda p: 255 - p).getbbox()
    assert box is not None and box[0] > 0 and box[2] < width  # not cut at the sides
    assert decoded(image) == [url]


@pytest.mark.parametrize("url", URLS)
def test_the_svg_is_valid_with_a_title_a_caption_and_a_black_path(url):
    svg = qr.qr_svg(url)
    root = ElementTree.fromstring(svg)  # noqa: S314 (our own SVG)
    assert root.tag == f"{SVG}svg"
    x, y, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert (x, y) == (0, 0) and height > width > 21
    assert url in root.find(f"{SVG}title").text
    assert url in root.attrib["aria-label"]
    assert root.find(f"{SVG}text").text == url
    path = root.find(f"{SVG}path")
    assert path.attrib["fill"] in ("#000", "#000000", "black")
    # Nothing is drawn in the 4-module quiet zone (the path is made of unit squares).
    starts = [
        tuple(map(int, move.split("h")[0].split(","))) for move in path.attrib["d"][1:].split("M")
    ]
    assert min(x for x, _ in starts) >= 4 and min(y for _, y in starts) >= 4
    assert max(x for x, _ in starts) <= width - 5 and max(y for _, y in starts) <= width - 5


def test_the_svg_escapes_what_it_writes():
    url = f"{PUBLIC_URL}/petitions/p?source=a&org=<b>"
    # It would not parse if & and < were written raw.
    root = ElementTree.fromstring(qr.qr_svg(url))  # noqa: S314 (our own SVG)
    assert root.find(f"{SVG}text").text == url


# --- the endpoints ----------------------------------------------------------------------


@pytest.fixture
def kit(app: Flask) -> dict[str, object]:
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective, slug="quatre-urgences")
        day = make_day(collective)
        rally = make_rally(day, "69123")
        member = make_member(collective)
        db.session.commit()
        return {
            "petition": petition.slug,
            "rally": rally.id,
            "day": day.slug,
            "member": member.id,
            "code": member.referral_code,
        }


def expected_targets(kit: dict[str, object]) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """Kit URL prefix -> (path the QR opens, its query)."""
    return {
        "/kit/appel": (f"/petitions/{kit['petition']}", {"source": ["qr-tract-appel"]}),
        f"/kit/rassemblements/{kit['rally']}": (
            f"/rassemblements/{kit['rally']}",
            {"source": [f"qr-affiche-lyon-{kit['rally']}"]},
        ),
        f"/kit/journees/{kit['day']}": ("/rassemblements", {"source": [f"qr-tract-{kit['day']}"]}),
        f"/kit/organisations/{kit['member']}": (
            f"/petitions/{kit['petition']}",
            {"source": [f"qr-tract-{kit['code']}"], "org": [str(kit["code"])]},
        ),
    }


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_every_qr_endpoint_opens_the_right_page_from_public_url(client, kit, fmt):
    for prefix, (path, query) in expected_targets(kit).items():
        status, mimetype, body = fetch(client, f"{prefix}/qr.{fmt}", headers={"Host": EVIL})
        assert status == 200, prefix
        assert mimetype == ("image/png" if fmt == "png" else "image/svg+xml")
        texts = decoded_png(body) if fmt == "png" else decoded_svg(body)
        assert len(texts) == 1, prefix
        url = texts[0]
        assert url.startswith(f"{PUBLIC_URL}/"), url
        assert EVIL not in url
        parts = urlsplit(url)
        assert parts.path == path
        assert parse_qs(parts.query) == query
        if fmt == "svg":
            assert EVIL.encode() not in body
            root = ElementTree.fromstring(body)  # noqa: S314 (our own SVG)
            assert root.find(f"{SVG}text").text == url


def test_a_qr_code_leads_to_a_live_page(client, kit):
    for prefix in expected_targets(kit):
        _, _, body = fetch(client, f"{prefix}/qr.png")
        (url,) = decoded_png(body)
        target = url.removeprefix(PUBLIC_URL)
        with client.get(target) as response:
            assert response.status_code == 200, target


def test_the_member_qr_credits_the_organisation(client, kit):
    """Signing through the member's QR code counts the signature for that organisation."""
    _, _, body = fetch(client, f"/kit/organisations/{kit['member']}/qr.png")
    (url,) = decoded_png(body)
    with client.get(url.removeprefix(PUBLIC_URL)) as response:
        page = response.get_data(as_text=True)
    assert f'value="{kit["code"]}"' in page
    assert 'value="qr-tract-' in page
