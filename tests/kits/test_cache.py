"""Kit files: rendered once and kept on disk under a key made of what they show; fresh
after an edit, and only where the edit shows; one render for simultaneous first
downloads; `flask kits build`; conditional GETs; 404s; ZIPs; social images; the kit page
and the og:image of the petition and rally pages."""

from __future__ import annotations

import io
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time as clock
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pypdf
import pytest
import werkzeug.test
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from campaign.core import images
from campaign.extensions import db
from campaign.kits import cache, render
from campaign.kits.documents import call_flyer, day_flyer, member_flyer, rally_poster
from campaign.kits.fastpath import KitFastPath
from campaign.organisations.models import Organisation, OrganisationStatus
from campaign.organisations.services import logo_folder
from campaign.petition.models import Petition, PetitionStatus
from campaign.rallies import services as rally_services
from campaign.rallies.models import Rally, RallyStatus, today
from tests.conftest import PUBLIC_URL
from tests.factories import layer, make_collective, make_day, make_member, make_petition, make_rally
from tests.rallies.test_manage import sign_in_member

MM = 72 / 25.4


@pytest.fixture(autouse=True)
def _empty_kit_cache(app: Flask) -> Iterator[None]:
    """The instance folder is shared by the session: each test starts with no kit file."""
    with app.app_context():
        for path in cache.folder().iterdir():
            path.unlink()
    yield


@dataclass
class Renders:
    """What was rendered: PDFs by template, and every file built into the cache."""

    pdfs: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.pdfs.clear()
        self.files.clear()


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Renders:
    seen = Renders()
    original_pdf = render.pdf
    original_get_or_build = cache.get_or_build

    def pdf(template: str, generated: Any, **context: Any) -> bytes:
        seen.pdfs.append(template)
        return original_pdf(template, generated, **context)

    def get_or_build(name: str, build: Callable[[], bytes]) -> Any:
        def counted() -> bytes:
            seen.files.append(name)
            return build()

        return original_get_or_build(name, counted)

    monkeypatch.setattr(render, "pdf", pdf)
    monkeypatch.setattr(cache, "get_or_build", get_or_build)
    return seen


def fetch(client: FlaskClient, url: str, **kwargs: Any) -> tuple[int, str, bytes]:
    with client.get(url, **kwargs) as response:
        return response.status_code, response.mimetype, response.get_data()


def ok(client: FlaskClient, url: str) -> bytes:
    status, _, body = fetch(client, url)
    assert status == 200, url
    return body


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.size


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def decoded_png(data: bytes) -> list[str]:
    image = Image.open(io.BytesIO(data))
    return [b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


# --- a kit ------------------------------------------------------------------------------


@dataclass
class Kit:
    petition: str
    day: str
    rallies: list[int]  # Lyon, then Rennes
    members: list[int]  # listed, then unlisted
    codes: list[str]


@pytest.fixture
def kit(app: Flask) -> Kit:
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        day = make_day(collective)
        lyon = make_rally(day, "69123")
        rennes = make_rally(day, "35238", venue="Place de la Mairie", address="")
        listed = make_member(collective, "Parents solidaires")
        unlisted = make_member(collective, "Discrète association")
        unlisted.listed = False
        db.session.commit()
        return Kit(
            petition=petition.slug,
            day=day.slug,
            rallies=[lyon.id, rennes.id],
            members=[listed.id, unlisted.id],
            codes=[listed.referral_code, unlisted.referral_code],
        )


def every_download(kit: Kit) -> list[str]:
    """Every file of the kit, as the kit page and the og:image tags link them."""
    urls = ["/kit/appel.pdf", "/kit/appel/apercu.png", "/kit/appel/qr.svg", "/kit/appel/qr.png"]
    urls += [f"/kit/petitions/{kit.petition}/partage-{s}.png" for s in ("1200x630", "1080x1080")]
    for prefix in [f"/kit/journees/{kit.day}"] + [f"/kit/rassemblements/{r}" for r in kit.rallies]:
        urls += [f"{prefix}.pdf", f"{prefix}/apercu.png", f"{prefix}/qr.svg", f"{prefix}/qr.png"]
    for rally in kit.rallies:
        urls += [f"/kit/rassemblements/{rally}.zip"]
        urls += [f"/kit/rassemblements/{rally}/partage-{s}.png" for s in ("1200x630", "1080x1080")]
    for member in kit.members[:1]:  # the unlisted member's kit is only for itself
        prefix = f"/kit/organisations/{member}"
        urls += [f"{prefix}.pdf", f"{prefix}/apercu.png", f"{prefix}/qr.svg", f"{prefix}/qr.png"]
        urls += [f"{prefix}.zip"]
    return urls


def download_all(client: FlaskClient, kit: Kit) -> dict[str, bytes]:
    return {url: ok(client, url) for url in every_download(kit)}


# --- rendered once ----------------------------------------------------------------------


def test_the_first_download_renders_the_second_reads_the_file(client, kit, renders):
    first = ok(client, "/kit/appel.pdf")
    assert renders.pdfs == ["call_flyer.html"]
    second = ok(client, "/kit/appel.pdf")
    assert renders.pdfs == ["call_flyer.html"]
    assert first == second
    # The preview reuses the PDF: no second render of it.
    ok(client, "/kit/appel/apercu.png")
    assert renders.pdfs == ["call_flyer.html"]


def test_every_file_is_built_once(client, kit, renders):
    first = download_all(client, kit)
    built = list(renders.files)
    assert len(built) == len(set(built)), built
    renders.clear()
    assert download_all(client, kit) == first
    assert renders.files == [] and renders.pdfs == []


def keys(app: Flask, kit: Kit) -> dict[str, str]:
    with app.app_context():
        petition = db.session.execute(
            db.select(Petition).where(Petition.slug == kit.petition)
        ).scalar_one()
        day = rally_services.get_day(kit.day)
        assert day is not None
        lyon, rennes = (db.session.get(Rally, r) for r in kit.rallies)
        first, second = (db.session.get(Organisation, m) for m in kit.members)
        return {
            "call": call_flyer(petition.collective, petition).key,
            "lyon": rally_poster(lyon).key,
            "rennes": rally_poster(rennes).key,
            "day": day_flyer(day, rally_services.visible_rallies(day)).key,
            "first member": member_flyer(first, petition).key,
            "second member": member_flyer(second, petition).key,
        }


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def test_a_rally_s_new_time_changes_its_poster_and_its_day_s_flyer_only(app, client, kit, renders):
    before = keys(app, kit)
    assert len(set(before.values())) == len(before)  # no two documents share a key
    assert keys(app, kit) == before  # a key depends on the content only
    files = download_all(client, kit)
    renders.clear()

    with app.app_context():
        db.session.get(Rally, kit.rallies[0]).start_time = clock(18, 0)
        db.session.commit()
    assert changed(before, keys(app, kit)) == {"lyon", "day"}

    again = download_all(client, kit)
    assert sorted(renders.pdfs) == sorted(
        ["rally_poster.html", "day_flyer.html", "social.html", "social.html"]
    )
    assert not any(name.startswith("qr-") for name in renders.files), renders.files
    lyon = f"/kit/rassemblements/{kit.rallies[0]}"
    assert "18 h" in pdf_text(again[f"{lyon}.pdf"]) and "14 h 30" not in pdf_text(
        again[f"{lyon}.pdf"]
    )
    assert "18 h" in pdf_text(again[f"/kit/journees/{kit.day}.pdf"])
    fresh = {url for url in files if files[url] != again[url]}
    assert fresh == {
        f"{lyon}.pdf",
        f"{lyon}/apercu.png",
        f"{lyon}.zip",
        f"{lyon}/partage-1200x630.png",
        f"{lyon}/partage-1080x1080.png",
        f"/kit/journees/{kit.day}.pdf",
        f"/kit/journees/{kit.day}/apercu.png",
    }
    # The ZIP carries the new poster.
    with zipfile.ZipFile(io.BytesIO(again[f"{lyon}.zip"])) as archive:
        poster = next(n for n in archive.namelist() if n.startswith("affiche-"))
        assert archive.read(poster) == again[f"{lyon}.pdf"]


def test_a_new_logo_changes_that_member_s_flyer_only(app, client, kit, renders):
    before = keys(app, kit)
    files = download_all(client, kit)
    renders.clear()
    picture = Image.new("RGB", (300, 300), (20, 90, 200))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    with app.app_context():
        organisation = db.session.get(Organisation, kit.members[0])
        organisation.logo_filename = images.store(logo_folder(), images.logo_png(out.getvalue()))
        db.session.commit()
    assert changed(before, keys(app, kit)) == {"first member"}

    again = download_all(client, kit)
    assert renders.pdfs == ["member_flyer.html"]
    member = f"/kit/organisations/{kit.members[0]}"
    fresh = {url for url in files if files[url] != again[url]}
    assert fresh == {f"{member}.pdf", f"{member}/apercu.png", f"{member}.zip"}
    reader = pypdf.PdfReader(io.BytesIO(again[f"{member}.pdf"]))
    images_on_page = [
        x.get_object()
        for x in reader.pages[0]["/Resources"]["/XObject"].values()
        if x.get_object().get("/Subtype") == "/Image"
    ]
    assert [(int(i["/Width"]), int(i["/Height"])) for i in images_on_page] == [(300, 300)]


def test_cancelling_a_rally_refreshes_every_file_that_shows_it(app, client, kit):
    """A poster or a shared image made before the cancellation must not be served after."""
    lyon = f"/kit/rassemblements/{kit.rallies[0]}"
    urls = [f"{lyon}.pdf", f"/kit/journees/{kit.day}.pdf"]
    urls += [f"{lyon}/partage-{size}.png" for size in ("1200x630", "1080x1080")]
    before = {url: ok(client, url) for url in urls}
    with app.app_context():
        db.session.get(Rally, kit.rallies[0]).status = RallyStatus.CANCELLED
        db.session.commit()
    after = {url: ok(client, url) for url in urls}
    assert "annulé" in pdf_text(after[f"{lyon}.pdf"]).lower()
    assert "annulé" in pdf_text(after[f"/kit/journees/{kit.day}.pdf"]).lower()
    stale = [url for url in urls if before[url] == after[url]]
    assert stale == []


def test_editing_what_no_document_shows_renders_nothing(app, client, kit, renders):
    """A rally's contact email, a member's contact: not printed, so not re-rendered."""
    download_all(client, kit)
    renders.clear()
    with app.app_context():
        db.session.get(Rally, kit.rallies[0]).contact_email = "autre@example.org"
        db.session.get(Organisation, kit.members[0]).contact_name = "Autre personne"
        db.session.commit()
    download_all(client, kit)
    assert renders.files == []


def test_two_simultaneous_first_downloads_render_once(app, kit, monkeypatch):
    count = 0
    lock = threading.Lock()
    original = render.pdf

    def slow(template: str, generated: Any, **context: Any) -> bytes:
        nonlocal count
        with lock:
            count += 1
        time.sleep(0.5)  # both requests are waiting for the file
        return original(template, generated, **context)

    monkeypatch.setattr(render, "pdf", slow)
    url = f"/kit/rassemblements/{kit.rallies[0]}.pdf"
    threads_count = 4
    barrier = threading.Barrier(threads_count)
    results: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []

    def download() -> None:
        try:
            client = app.test_client()
            barrier.wait()
            with client.get(url) as response:
                results.append((response.status_code, response.get_data()))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=download) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert [status for status, _ in results] == [200] * threads_count
    assert len({body for _, body in results}) == 1
    assert count == 1
    with app.app_context():
        leftovers = [p.name for p in cache.folder().iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temporary file left behind


# --- flask kits build -------------------------------------------------------------------


def test_flask_kits_build_renders_everything_ahead(app, client, kit, renders):
    result = app.test_cli_runner().invoke(args=["kits", "build"])
    assert result.exit_code == 0, result.output
    # The call, two members, one day, two rallies.
    assert re.match(r"Built 6 kits in [0-9.]+ s\.", result.output), result.output
    assert renders.files
    renders.clear()
    download_all(client, kit)
    assert renders.files == [], renders.files


def test_flask_kits_build_twice_renders_once(app, kit, renders):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["kits", "build"]).exit_code == 0
    renders.clear()
    assert runner.invoke(args=["kits", "build"]).exit_code == 0
    assert renders.files == []


def test_flask_kits_build_without_content_says_so(app):
    result = app.test_cli_runner().invoke(args=["kits", "build"])
    assert result.exit_code != 0
    assert "seed-demo" in result.output


# --- HTTP -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/kit/appel.pdf", "/kit/appel/qr.png", "/kit/appel/apercu.png", "rally zip", "member pdf"],
)
def test_a_conditional_get_is_answered_304(client, kit, path):
    path = {
        "rally zip": f"/kit/rassemblements/{kit.rallies[0]}.zip",
        "member pdf": f"/kit/organisations/{kit.members[0]}.pdf",
    }.get(path, path)
    with client.get(path) as response:
        assert response.status_code == 200
        etag = response.headers["ETag"]
        assert "no-cache" in response.headers["Cache-Control"]
    with client.get(path, headers={"If-None-Match": etag}) as response:
        assert response.status_code == 304
        assert response.get_data() == b""
    with client.get(path, headers={"If-None-Match": '"autre"'}) as response:
        assert response.status_code == 200


def test_downloads_are_named_and_typed(client, kit):
    lyon = kit.rallies[0]
    expected = {
        "/kit/appel.pdf": ("application/pdf", "attachment", "tract-appel-a5.pdf"),
        f"/kit/rassemblements/{lyon}.zip": ("application/zip", "attachment", ".zip"),
        f"/kit/rassemblements/{lyon}/qr.svg": ("image/svg+xml", "inline", ".svg"),
        f"/kit/rassemblements/{lyon}/apercu.png": ("image/png", "inline", ".png"),
    }
    for url, (mimetype, disposition, suffix) in expected.items():
        with client.get(url) as response:
            assert response.status_code == 200
            assert response.mimetype == mimetype
            header = response.headers["Content-Disposition"]
            assert header.startswith(disposition), header
            assert header.endswith(suffix), header


@dataclass
class Gone:
    past_rally: int
    refused_rally: int
    proposed_rally: int
    past_day: str
    pending_member: int
    draft_petition: str


@pytest.fixture
def gone(app: Flask, kit: Kit) -> Gone:
    with app.app_context():
        coming = rally_services.get_day(kit.day)
        assert coming is not None
        collective = coming.collective
        past_day = make_day(collective, when=today() - timedelta(days=3))
        past = make_rally(past_day)
        refused = make_rally(coming, "75056", status=RallyStatus.REFUSED)
        proposed = make_rally(coming, "59350", status=RallyStatus.PROPOSED)
        pending = make_member(collective, "En attente")
        pending.status = OrganisationStatus.PENDING
        draft = make_petition(collective, status=PetitionStatus.DRAFT)
        db.session.commit()
        return Gone(past.id, refused.id, proposed.id, past_day.slug, pending.id, draft.slug)


RALLY_FILES = [
    ".pdf",
    ".zip",
    "/qr.png",
    "/qr.svg",
    "/apercu.png",
    "/partage-1200x630.png",
    "/partage-1080x1080.png",
]


def test_past_hidden_and_unknown_things_have_no_kit(client, kit, gone, renders):
    urls = []
    for rally in (gone.past_rally, gone.refused_rally, gone.proposed_rally, 999999):
        urls += [f"/kit/rassemblements/{rally}{suffix}" for suffix in RALLY_FILES]
    urls += [f"/kit/rassemblements/abc{suffix}" for suffix in (".pdf", "/qr.png", "/apercu.png")]
    for day in (gone.past_day, "inconnue", "x" * 300):
        urls += [f"/kit/journees/{day}{suffix}" for suffix in (".pdf", "/qr.png", "/apercu.png")]
    for member in (gone.pending_member, 999999):
        urls += [
            f"/kit/organisations/{member}{s}" for s in (".pdf", ".zip", "/qr.png", "/apercu.png")
        ]
    for petition in (gone.draft_petition, "inconnue"):
        urls += [f"/kit/petitions/{petition}/partage-{s}.png" for s in ("1200x630", "1080x1080")]
    urls += [
        "/kit/autre.pdf",
        "/kit/autre/1.pdf",
        "/kit/autre/qr.png",
        f"/kit/appel/{kit.petition}/partage-1200x630.png",
        f"/kit/rassemblements/{kit.rallies[0]}/partage-800x800.png",
        f"/kit/rassemblements/{kit.rallies[0]}/qr.gif",
        f"/kit/journees/{kit.day}/partage-1200x630.png",
    ]
    for url in urls:
        assert fetch(client, url)[0] == 404, url
    assert renders.files == []


def test_without_an_open_petition_there_is_no_flyer_to_sign(app, client, kit):
    with app.app_context():
        for petition in db.session.execute(db.select(Petition)).scalars():
            petition.status = PetitionStatus.CLOSED
        db.session.commit()
    for url in ["/kit/appel.pdf", "/kit/appel/qr.png", f"/kit/organisations/{kit.members[0]}.zip"]:
        assert fetch(client, url)[0] == 404, url
    # Rallies still have their kit.
    assert fetch(client, f"/kit/rassemblements/{kit.rallies[0]}.pdf")[0] == 200


# --- ZIPs -------------------------------------------------------------------------------


def test_the_rally_zip_holds_everything_for_the_rally(client, kit):
    lyon = kit.rallies[0]
    with zipfile.ZipFile(io.BytesIO(ok(client, f"/kit/rassemblements/{lyon}.zip"))) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        files = {name: archive.read(name) for name in names}
    assert len(names) == len(set(names))
    readme = files["LISEZMOI.txt"].decode("utf-8")
    posters = [n for n in names if n.startswith("affiche-lyon-") and n.endswith("-a4.pdf")]
    assert len(posters) == 1
    assert files[posters[0]] == ok(client, f"/kit/rassemblements/{lyon}.pdf")
    assert files["tract-appel-a5.pdf"] == ok(client, "/kit/appel.pdf")
    page = pypdf.PdfReader(io.BytesIO(files[posters[0]])).pages[0]
    assert abs(float(page.mediabox.width) / MM - 210) <= 0.5

    url = f"{PUBLIC_URL}/rassemblements/{lyon}?source=qr-affiche-lyon-{lyon}"
    assert decoded_png(files["qr-rassemblement.png"]) == [url]
    assert url.replace("&", "&amp;").encode() in files["qr-rassemblement.svg"]
    socials = {n: png_size(files[n]) for n in names if n.startswith("partage-")}
    assert sorted(socials.values()) == [(1080, 1080), (1200, 630)], socials

    # The README: in French, how to print, and every file it comes with.
    assert "« taille réelle »" in readme
    assert "Imprimer" in readme and "Partager" in readme
    assert url in readme
    for name in names:
        if name != "LISEZMOI.txt":
            assert f"- {name} : " in readme, name


def test_the_member_zip_holds_its_flyer_and_its_referral_code(client, kit):
    member, code = kit.members[0], kit.codes[0]
    with zipfile.ZipFile(io.BytesIO(ok(client, f"/kit/organisations/{member}.zip"))) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    flyers = [n for n in files if n.startswith("tract-") and n.endswith("-a5.pdf")]
    assert len(flyers) == 1
    assert files[flyers[0]] == ok(client, f"/kit/organisations/{member}.pdf")
    (url,) = decoded_png(files["qr-parrainage.png"])
    assert url.startswith(f"{PUBLIC_URL}/petitions/{kit.petition}?")
    assert parse_qs(urlsplit(url).query) == {"source": [f"qr-tract-{code}"], "org": [code]}
    assert b"qr-tract-" in files["qr-parrainage.svg"]
    readme = files["LISEZMOI.txt"].decode("utf-8")
    assert "« taille réelle »" in readme
    assert f"- {flyers[0]} : " in readme
    assert "- qr-parrainage.svg : " in readme and "- qr-parrainage.png : " in readme


# --- social images ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1200, 630), (1080, 1080)])
def test_social_images_have_their_exact_size(client, kit, size):
    name = f"partage-{size[0]}x{size[1]}.png"
    for url in (
        f"/kit/petitions/{kit.petition}/{name}",
        f"/kit/rassemblements/{kit.rallies[0]}/{name}",
    ):
        status, mimetype, body = fetch(client, url)
        assert status == 200 and mimetype == "image/png", url
        assert png_size(body) == size


def test_previews_are_thumbnails_of_the_first_page(client, kit):
    for url, ratio in [
        ("/kit/appel/apercu.png", 210 / 148),
        (f"/kit/rassemblements/{kit.rallies[0]}/apercu.png", 297 / 210),
        (f"/kit/journees/{kit.day}/apercu.png", 297 / 210),
        (f"/kit/organisations/{kit.members[0]}/apercu.png", 210 / 148),
    ]:
        width, height = png_size(ok(client, url))
        assert width == 420
        assert abs(height / width - ratio) < 0.01, url


# --- the kit page and og:image ----------------------------------------------------------


def links(page: str) -> set[str]:
    return set(re.findall(r'(?:href|src)="(/kit/[^"]+)"', page))


def test_the_kit_page_lists_coming_rallies_and_listed_members(client, kit, gone):
    with client.get("/kit/") as response:
        assert response.status_code == 200
        page = response.get_data(as_text=True)
    found = links(page)
    assert "/kit/appel/apercu.png" in found and "/kit/appel.pdf" in found
    assert f"/kit/journees/{kit.day}/apercu.png" in found
    for rally in kit.rallies:
        assert f"/kit/rassemblements/{rally}/apercu.png" in found
        assert f"/kit/rassemblements/{rally}.zip" in found
        assert f"/kit/rassemblements/{rally}/partage-1200x630.png" in found
    assert re.search(
        rf'<img[^>]+src="/kit/rassemblements/{kit.rallies[0]}/apercu.png"[^>]+alt="', page
    )
    listed, unlisted = kit.members
    assert f"/kit/organisations/{listed}/apercu.png" in found
    assert f"/kit/organisations/{listed}.zip" in found
    # Not shown: past, refused or proposed rallies, past days, unlisted or pending members.
    for hidden in (gone.past_rally, gone.refused_rally, gone.proposed_rally):
        assert not any(url.startswith(f"/kit/rassemblements/{hidden}") for url in found)
    assert not any(gone.past_day in url for url in found)
    for hidden in (unlisted, gone.pending_member):
        assert not any(url.startswith(f"/kit/organisations/{hidden}") for url in found)
    assert "Discrète association" not in page and "En attente" not in page
    # Every link of the page works.
    for url in found:
        assert fetch(client, url)[0] == 200, url
    # The unlisted member's kit is no one else's business: its URLs are 404 (its own
    # signed-in space still gets it, see test_an_unlisted_member_s_kit_is_only_for_itself).
    for suffix in (".pdf", ".zip", "/qr.png", "/apercu.png"):
        assert fetch(client, f"/kit/organisations/{unlisted}{suffix}")[0] == 404


def test_the_kit_page_works_without_any_content(client):
    with client.get("/kit/") as response:
        assert response.status_code == 200


def og_image(client: FlaskClient, path: str, **kwargs: Any) -> str:
    with client.get(path, **kwargs) as response:
        assert response.status_code == 200
        page = response.get_data(as_text=True)
    match = re.search(r'<meta property="og:image" content="([^"]+)"', page)
    assert match, f"no og:image on {path}"
    return match.group(1)


def test_the_petition_and_rally_pages_share_a_1200x630_image(client, kit):
    lyon = kit.rallies[0]
    for page, image in [
        (f"/petitions/{kit.petition}", f"/kit/petitions/{kit.petition}/partage-1200x630.png"),
        (f"/rassemblements/{lyon}", f"/kit/rassemblements/{lyon}/partage-1200x630.png"),
    ]:
        url = og_image(client, page, headers={"Host": "evil.example"})
        assert url == f"{PUBLIC_URL}{image}"
        status, mimetype, body = fetch(client, image)
        assert status == 200 and mimetype == "image/png"
        assert png_size(body) == (1200, 630)


def test_the_readme_is_plain_text(app, client):
    """The README is not HTML: a name with « & » or « < » is written as typed."""
    with app.app_context():
        collective = make_collective()
        make_petition(collective)
        member = make_member(collective, "Parents & enfants <ensemble>")
        db.session.commit()
        member_id, name = member.id, member.name
    with zipfile.ZipFile(io.BytesIO(ok(client, f"/kit/organisations/{member_id}.zip"))) as archive:
        readme = archive.read("LISEZMOI.txt").decode("utf-8")
    assert readme.startswith(f"Kit de {name}\n")
    assert "&amp;" not in readme and "&lt;" not in readme


# --- the fast path and unlisted members ----------------------------------------------------


def test_the_fast_path_serves_the_same_file_without_the_app_then_asks_again(app, monkeypatch):
    with app.app_context():
        make_petition()
        db.session.commit()
    calls = []
    # The app's own fast path (switched off in tests: 0 s), inside the page cache.
    own = layer(app, KitFastPath)
    behind = own.app

    def counting_app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return behind(environ, start_response)

    fast = KitFastPath(counting_app, seconds=60)
    client = werkzeug.test.Client(fast)
    first = client.get("/kit/appel.pdf", buffered=True)
    second = client.get("/kit/appel.pdf", buffered=True)
    etag = {"If-None-Match": first.headers["ETag"]}
    third = client.get("/kit/appel.pdf", headers=etag, buffered=True)

    assert first.status_code == second.status_code == 200
    assert second.get_data() == first.get_data() and second.get_data().startswith(b"%PDF")
    assert "X-Kit-File" not in first.headers and "X-Kit-File" not in second.headers
    assert second.headers["Content-Disposition"] == first.headers["Content-Disposition"]
    assert second.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    assert third.status_code == 304
    assert calls == ["/kit/appel.pdf"]  # the app ran once

    fast.entries["/kit/appel.pdf"] = (0.0, *fast.entries["/kit/appel.pdf"][1:])  # expired
    client.get("/kit/appel.pdf", buffered=True)
    assert calls == ["/kit/appel.pdf", "/kit/appel.pdf"]


def test_an_unlisted_member_s_kit_is_only_for_itself(app, client, outbox):
    with app.app_context():
        collective = make_collective()
        make_petition(collective)
        hidden = make_member(collective, "Discrète")
        hidden.listed = False
        db.session.commit()
        hidden_id = hidden.id
    urls = [
        f"/kit/organisations/{hidden_id}.pdf",
        f"/kit/organisations/{hidden_id}.zip",
        f"/kit/organisations/{hidden_id}/apercu.png",
        f"/kit/organisations/{hidden_id}/qr.svg",
    ]
    assert [app.test_client().get(u).status_code for u in urls] == [404] * 4

    sign_in_member(app, client, hidden_id, outbox)
    own = [client.get(u, buffered=True) for u in urls]
    assert [r.status_code for r in own] == [200] * 4
    assert all("private" in r.headers["Cache-Control"] for r in own)
