"""The kit's printable PDFs, read back: pages and their size, text, QR codes decoded from
the rendered page, PDF/UA tagging, embedded fonts, the member's logo; and the fetcher
that keeps a document from reading the server's files or calling out."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pypdf
import pypdfium2
import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pypdf.generic import ArrayObject, DictionaryObject
from sqlalchemy import select

from campaign.content.services import load_content
from campaign.core import images
from campaign.extensions import db
from campaign.kits import cache, render
from campaign.kits.render import KitFetcher, RefusedURLError
from campaign.organisations.services import logo_folder
from campaign.petition.models import Petition
from campaign.rallies.models import today
from tests.conftest import PUBLIC_URL
from tests.factories import make_collective, make_day, make_member, make_petition, make_rally

MM = 72 / 25.4  # PDF points per millimetre
A4 = (210, 297)
A5 = (148, 210)
# The seven cities of the demo content's national day (INSEE codes).
CITIES = {
    "Paris": "75056",
    "Rennes": "35238",
    "Lille": "59350",
    "Strasbourg": "67482",
    "Lyon": "69123",
    "Marseille": "13055",
    "Toulouse": "31555",
}
PASSWD = "root:x:0:0"
INJECTION = '<img src="file:///etc/passwd">'
STYLESHEET = '<link rel=stylesheet href="http://127.0.0.1:1/x.css">'


@pytest.fixture(autouse=True)
def _empty_kit_cache(app: Flask) -> Iterator[None]:
    """The instance folder is shared by the session: each test starts with no kit file."""
    with app.app_context():
        for path in cache.folder().iterdir():
            path.unlink()
    yield


def fetch(client: FlaskClient, url: str) -> tuple[int, str, bytes]:
    with client.get(url) as response:
        return response.status_code, response.mimetype, response.get_data()


def pdf_of(client: FlaskClient, url: str) -> bytes:
    status, mimetype, body = fetch(client, url)
    assert status == 200, url
    assert mimetype == "application/pdf"
    assert body.startswith(b"%PDF-")
    return body


def words(text: str) -> str:
    return " ".join(text.split())


def squeezed(text: str) -> str:
    """Without any whitespace: a URL broken over two lines reads whole again."""
    return "".join(text.split())


def logo_png(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    picture = Image.new("RGB", (400, 200), colour)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return images.logo_png(out.getvalue())


# --- what a kit holds -------------------------------------------------------------------


@dataclass
class Kit:
    collective: str
    petition_title: str
    demands: list[str]
    figures: list[tuple[str, str, str]]
    petition_url: str
    day: str
    day_title: str
    rally: int
    member: int
    member_name: str
    member_code: str


@pytest.fixture(params=["factories", "demo"])
def kit(request: pytest.FixtureRequest, app: Flask) -> Kit:
    """A petition, a coming day with a rally in each of seven cities, a member with a logo.

    "factories": short texts, one figure; "demo": the demo content's long demands and
    eight figures with their sources, venues and times « à préciser ».
    """
    with app.app_context():
        if request.param == "demo":
            collective = load_content()
            petition = db.session.execute(select(Petition)).scalars().first()
            rally_fields: dict[str, Any] = {"start": None, "end": None, "venue": "", "address": ""}
        else:
            collective = make_collective()
            petition = make_petition(collective)
            rally_fields = {}
        day = make_day(collective, title="Mobilisation nationale pour la protection de l’enfance")
        rallies = {city: make_rally(day, code, **rally_fields) for city, code in CITIES.items()}
        member = make_member(collective, "Association départementale de protection de l’enfance")
        member.logo_filename = images.store(logo_folder(), logo_png())
        db.session.commit()
        return Kit(
            collective=collective.name,
            petition_title=petition.title,
            demands=[d.title for d in collective.demands],
            figures=[(f.value, f.label, f.source) for f in collective.key_figures],
            petition_url=f"{PUBLIC_URL}/petitions/{petition.slug}",
            day=day.slug,
            day_title=day.title,
            rally=rallies["Lyon"].id,
            member=member.id,
            member_name=member.name,
            member_code=member.referral_code,
        )


# --- reading a PDF ----------------------------------------------------------------------


def text_of(reader: pypdf.PdfReader, page: int | None = None) -> str:
    pages = reader.pages if page is None else [reader.pages[page]]
    return words(" ".join(p.extract_text() for p in pages))


def page_sizes_mm(reader: pypdf.PdfReader) -> list[tuple[float, float]]:
    return [(float(p.mediabox.width) / MM, float(p.mediabox.height) / MM) for p in reader.pages]


def assert_size(reader: pypdf.PdfReader, pages: int, size: tuple[int, int]) -> None:
    assert len(reader.pages) == pages, f"{len(reader.pages)} pages: {page_sizes_mm(reader)}"
    for width, height in page_sizes_mm(reader):
        assert abs(width - size[0]) <= 0.5 and abs(height - size[1]) <= 0.5, (width, height)


def qr_codes_on(pdf: bytes, page: int = 0) -> list[str]:
    """Rasterise a page (WeasyPrint draws the SVG code as vectors) and decode it."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[page].render(scale=4).to_pil().convert("L")
    finally:
        document.close()
    return [
        barcode.text
        for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]


def structure(node: Any) -> Iterator[DictionaryObject]:
    """Every element of the structure tree, depth first."""
    node = node.get_object()
    if isinstance(node, ArrayObject):
        for child in node:
            yield from structure(child)
    elif isinstance(node, DictionaryObject):
        if "/S" in node:
            yield node
        if "/K" in node:
            yield from structure(node["/K"])


def figures_alt(reader: pypdf.PdfReader) -> list[str]:
    root = reader.trailer["/Root"]
    return [
        str(element.get("/Alt", ""))
        for element in structure(root["/StructTreeRoot"])
        if element["/S"] == "/Figure"
    ]


def resources(reader: pypdf.PdfReader) -> Iterator[DictionaryObject]:
    """Each page's resources and those of the forms (SVG images) it draws."""
    seen: set[int] = set()

    def visit(resource: Any) -> Iterator[DictionaryObject]:
        resource = resource.get_object()
        if id(resource) in seen:
            return
        seen.add(id(resource))
        yield resource
        for xobject in resource.get("/XObject", {}).values():
            xobject = xobject.get_object()
            if "/Resources" in xobject:
                yield from visit(xobject["/Resources"])

    for page in reader.pages:
        yield from visit(page["/Resources"])


def fonts(reader: pypdf.PdfReader) -> dict[str, DictionaryObject]:
    """Font name -> its descriptor."""
    found = {}
    for resource in resources(reader):
        for font in resource.get("/Font", {}).values():
            font = font.get_object()
            if "/DescendantFonts" in font:
                descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            else:
                descriptor = font["/FontDescriptor"]
            found[str(font["/BaseFont"])] = descriptor.get_object()
    return found


def raster_images(reader: pypdf.PdfReader) -> list[tuple[int, int]]:
    sizes = []
    for resource in resources(reader):
        for xobject in resource.get("/XObject", {}).values():
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Image":
                sizes.append((int(xobject["/Width"]), int(xobject["/Height"])))
    return sizes


def assert_accessible(reader: pypdf.PdfReader, title: str) -> None:
    """PDF/UA: title shown, language, tagged, every figure with a text alternative."""
    assert reader.metadata is not None and reader.metadata.title == title
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "fr"
    assert root["/MarkInfo"]["/Marked"] == True  # noqa: E712 (a pypdf BooleanObject)
    assert root["/ViewerPreferences"]["/DisplayDocTitle"] == True  # noqa: E712
    assert "/StructTreeRoot" in root
    alts = figures_alt(reader)
    assert alts and all(alt.strip() for alt in alts), alts


def assert_fonts_embedded(reader: pypdf.PdfReader) -> None:
    found = fonts(reader)
    assert found
    for name, descriptor in found.items():
        assert "SourceSans" in name.replace("-", ""), name
        assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")), name


def assert_qr(pdf: bytes, reader: pypdf.PdfReader, url: str, page: int = 0) -> None:
    """The code on the page opens `url`, which is also printed for those who cannot scan."""
    assert qr_codes_on(pdf, page) == [url]
    assert squeezed(url) in squeezed(reader.pages[page].extract_text())
    assert any(url in alt for alt in figures_alt(reader))


# --- the four documents -----------------------------------------------------------------


def test_the_call_flyer_is_an_a5_with_the_demands_the_code_and_the_figures(client, kit):
    pdf = pdf_of(client, "/kit/appel.pdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(kit.figures) <= 8
    assert_size(reader, 2, A5)
    front, back = text_of(reader, 0), text_of(reader, 1)
    assert words(kit.petition_title) in front
    for title in kit.demands:
        assert words(title) in front
    url = f"{kit.petition_url}?source=qr-tract-appel"
    assert_qr(pdf, reader, url)
    # The back: every key figure with its label and its source, all on that one page.
    for value, label, source in kit.figures:
        assert words(value) in back
        assert words(label) in back
        assert words(f"Source : {source}") in back
    assert_accessible(reader, f"{kit.collective} : {kit.petition_title}")
    assert_fonts_embedded(reader)


def test_the_rally_poster_is_one_a4_page(client, kit):
    pdf = pdf_of(client, f"/kit/rassemblements/{kit.rally}.pdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert_size(reader, 1, A4)
    text = text_of(reader)
    assert "Rassemblement à Lyon" in text
    for title in kit.demands:
        assert words(title) in text
    assert_qr(
        pdf, reader, f"{PUBLIC_URL}/rassemblements/{kit.rally}?source=qr-affiche-lyon-{kit.rally}"
    )
    assert_accessible(reader, f"Rassemblement de Lyon : {kit.day_title}")
    assert_fonts_embedded(reader)


def test_the_rally_poster_says_when_and_where(app, client):
    with app.app_context():
        day = make_day(make_collective(), when=today() + timedelta(days=10))
        rally = make_rally(day, venue="Place Bellecour", address="Place Bellecour, 69002 Lyon")
        db.session.commit()
        rally_id, when = rally.id, day.date
    text = text_of(
        pypdf.PdfReader(io.BytesIO(pdf_of(client, f"/kit/rassemblements/{rally_id}.pdf")))
    )
    assert f"{when.day} " in text and str(when.year) in text
    assert "14 h 30 – 17 h" in text
    assert "Place Bellecour, 69002 Lyon" in text


def test_a_long_city_name_with_organisers_still_fits_one_poster(app, client):
    with app.app_context():
        collective = make_collective()
        day = make_day(collective)
        members = [make_member(collective, f"Association numéro {n}") for n in range(3)]
        rally = make_rally(
            day,
            "13100",  # Saint-Rémy-de-Provence
            organisations=members,
            venue="Parvis de l’hôtel de ville",
            address="Place Jules Pélissier, 13210 Saint-Rémy-de-Provence",
        )
        db.session.commit()
        rally_id = rally.id
    pdf = pdf_of(client, f"/kit/rassemblements/{rally_id}.pdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert_size(reader, 1, A4)
    assert "Saint-Rémy-de-Provence" in text_of(reader)
    source = f"qr-affiche-saint-remy-de-provence-{rally_id}"
    assert_qr(pdf, reader, f"{PUBLIC_URL}/rassemblements/{rally_id}?source={source}")


def test_the_day_flyer_is_one_a4_page_with_its_seven_rallies(client, kit):
    pdf = pdf_of(client, f"/kit/journees/{kit.day}.pdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert_size(reader, 1, A4)
    text = text_of(reader)
    for city in CITIES:
        assert city in text
    assert words(kit.day_title) in text
    assert_qr(pdf, reader, f"{PUBLIC_URL}/rassemblements?source=qr-tract-{kit.day}")
    assert_accessible(reader, f"{kit.day_title} : les rassemblements")
    assert_fonts_embedded(reader)


def test_the_member_flyer_is_an_a5_with_its_logo_name_and_referral_code(client, kit):
    pdf = pdf_of(client, f"/kit/organisations/{kit.member}.pdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert_size(reader, 1, A5)
    text = text_of(reader)
    assert kit.member_name in text
    for title in kit.demands:
        assert words(title) in text
    code = kit.member_code
    assert_qr(pdf, reader, f"{kit.petition_url}?source=qr-tract-{code}&org={code}")
    # The logo: the only raster image, with its own text alternative.
    assert raster_images(reader) == [(400, 200)]
    assert f"Logo de {kit.member_name}" in figures_alt(reader)
    assert_accessible(reader, f"{kit.member_name} soutient {kit.collective} : {kit.petition_title}")
    assert_fonts_embedded(reader)


def test_the_member_flyer_shows_the_logo_itself(app, client):
    """Rendered, the logo's colour is on the page (red here, nothing else is)."""
    with app.app_context():
        collective = make_collective()
        make_petition(collective)
        member = make_member(collective)
        member.logo_filename = images.store(logo_folder(), logo_png((220, 0, 0)))
        db.session.commit()
        member_id = member.id
    document = pypdfium2.PdfDocument(pdf_of(client, f"/kit/organisations/{member_id}.pdf"))
    image = document[0].render(scale=1).to_pil().convert("RGB")
    document.close()
    reds = [count for count, (r, g, b) in image.getcolors(1 << 20) if r > 180 and g < 60 and b < 60]
    assert sum(reds) > 1000


def test_a_member_without_logo_has_its_name_instead(app, client):
    with app.app_context():
        collective = make_collective()
        make_petition(collective)
        member = make_member(collective)
        db.session.commit()
        member_id, name = member.id, member.name
    reader = pypdf.PdfReader(io.BytesIO(pdf_of(client, f"/kit/organisations/{member_id}.pdf")))
    assert_size(reader, 1, A5)
    assert raster_images(reader) == []
    assert name in text_of(reader)


def test_a_missing_logo_file_does_not_break_the_flyer(app, client):
    with app.app_context():
        collective = make_collective()
        make_petition(collective)
        member = make_member(collective)
        member.logo_filename = "0123456789abcdef0123456789abcdef.png"  # not on disk
        db.session.commit()
        member_id, name = member.id, member.name
    reader = pypdf.PdfReader(io.BytesIO(pdf_of(client, f"/kit/organisations/{member_id}.pdf")))
    assert_size(reader, 1, A5)
    assert name in text_of(reader)


# --- nothing outside the kit ------------------------------------------------------------


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every URL the fetcher is asked for, and whether it served it."""
    calls: list[tuple[str, bool]] = []
    original = KitFetcher.fetch

    def spy(self: KitFetcher, url: str, headers: Any = None) -> Any:
        try:
            response = original(self, url, headers)
        except RefusedURLError:
            calls.append((url, False))
            raise
        calls.append((url, True))
        return response

    monkeypatch.setattr(KitFetcher, "fetch", spy)
    return calls


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any connection attempt is recorded and fails."""
    attempts: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    return attempts


def test_markup_typed_by_a_member_is_shown_as_text(app, client, asked, no_network):
    with app.app_context():
        collective = make_collective()
        make_petition(collective)
        member = make_member(collective)
        member.name = f"Asso {INJECTION} {STYLESHEET}"
        member.presentation = f"{INJECTION}{STYLESHEET}<script>alert(1)</script>"
        db.session.commit()
        member_id = member.id
    pdf = pdf_of(client, f"/kit/organisations/{member_id}.pdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = text_of(reader)
    assert INJECTION in text
    assert words(STYLESHEET) in text
    assert PASSWD not in text
    assert PASSWD.encode() not in pdf
    assert asked, "the fetcher was not used"
    assert all(url.startswith("kit:") for url, _ in asked), asked
    assert not any("passwd" in url or "127.0.0.1" in url for url, _ in asked)
    assert no_network == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "http://example.org/",
        "https://example.org/x.css",
        "http://127.0.0.1:1/x.css",
        "ftp://example.org/x",
        "data:text/plain,hi",
        "/etc/passwd",
        "../../etc/passwd",
        "kit:../../etc/passwd",
        "kit:/etc/passwd",
        "kit://etc/passwd",
        "kit:fonts/../../campaign/config.py",
        "kit:fonts/..%2f..%2fcampaign/config.py",
        "kit:css/..\\..\\campaign\\config.py",
        "kit:templates/_base.html",
        "kit:README.md",
        "kit:fonts/",
        "kit:fonts/missing.ttf",
        "kit:generated/unknown",
        "kit:generated/../css/print.css",
    ],
)
def test_the_fetcher_refuses_anything_outside_the_kit(url):
    with pytest.raises(RefusedURLError):
        KitFetcher({}).fetch(url)


@pytest.mark.parametrize(
    ("url", "mime"),
    [
        ("kit:fonts/SourceSans3-Regular.ttf", "font/ttf"),
        ("kit:css/print.css", "text/css"),
        ("kit:generated/qr.svg", "image/svg+xml"),
    ],
)
def test_the_fetcher_serves_the_kit_and_the_document_s_images(url, mime):
    generated = {"qr.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>"}
    response = KitFetcher(generated).fetch(url)
    try:
        body = response.read()
    finally:
        response.close()
    assert body
    assert response.content_type == mime
    if url.startswith("kit:generated/"):
        assert body == generated["qr.svg"]


def test_markup_in_a_template_still_fetches_nothing_outside(
    app, monkeypatch, asked, no_network, caplog
):
    """Even if markup reached the HTML, the fetcher refuses it and the PDF renders."""
    html = f"""<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Essai</title>
    <link rel="stylesheet" href="kit:css/print.css">
    {STYLESHEET}
    <style>@import url("file:///etc/passwd");
    body {{ background: url(file:///etc/hostname) }}</style>
    </head><body><article class="a5"><p>Texte visible</p>{INJECTION}
    <img src="../../etc/passwd" alt="x"><img src="kit:generated/unknown" alt="y">
    <img src="kit:fonts/../../campaign/config.py" alt="z">
    <img src="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E" alt="d">
    <object data="file:///etc/passwd"></object><iframe src="file:///etc/passwd"></iframe>
    </article></body></html>"""
    monkeypatch.setattr(render, "html_of", lambda template, **context: html)
    with app.app_context(), caplog.at_level(logging.WARNING):
        pdf = render.pdf("anything.html", {})
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert "Texte visible" in text_of(reader)
    assert PASSWD not in text_of(reader)
    assert PASSWD.encode() not in pdf
    served = {url for url, ok in asked if ok}
    refused = {url for url, ok in asked if not ok}
    assert all(url.startswith(("kit:css/", "kit:fonts/")) for url in served), served
    assert "file:///etc/passwd" in refused  # the fetcher was asked, and said no
    assert "http://127.0.0.1:1/x.css" in refused
    assert {"kit:generated/unknown", "kit:fonts/../../campaign/config.py"} <= refused
    assert no_network == []
    assert any("refused" in record.getMessage() for record in caplog.records)
    # The page is still the kit's A5, with its fonts: the refused stylesheet changed nothing.
    assert_size(reader, 1, A5)
    assert_fonts_embedded(reader)
