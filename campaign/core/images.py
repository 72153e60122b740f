"""Uploaded images (logos): checked by their content, re-encoded, stored apart.

The type is what Pillow recognises in the bytes, never the file name or the browser's
Content-Type: an HTML or SVG file renamed .png is refused. Every accepted image is decoded
and re-encoded as a fresh PNG, so nothing but pixels survives (no script, no metadata).

The collective's own logo may also be an SVG (`allow_svg`): it is never kept or served
as SVG, but drawn into pixels by WeasyPrint in a child process that can open no file and
no URL and is stopped after a few seconds of CPU or 1 GiB of memory (an SVG can be made
to draw for ever), then re-encoded like any other logo.
"""

from __future__ import annotations

import io
import re
import secrets
import subprocess  # nosec B404  # runs this very module in a child Python, no shell
import sys
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4000  # pixels, either way, before resizing
MIN_SIDE = 32
OUTPUT_SIDE = 512  # logos are stored at most this big


SVG_SIDE = 1024  # pixels an SVG is drawn at, before the same re-encoding as other logos
SVG_CPU_SECONDS = 5
SVG_MEMORY = 1024 * 1024 * 1024  # bytes of address space for the child drawing it
# An SVG file: optional BOM, XML declaration, comments and doctype, then the <svg> element.
_SVG_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?"
    rb"(?:(?:<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)\s*)*<svg[\s>/]",
    re.DOTALL,
)


class ImageRejectedError(ValueError):
    """The upload is not an acceptable image; the message says why, in French."""


def is_svg(data: bytes) -> bool:
    return bool(_SVG_START.match(data[:65536]))


def logo_png(data: bytes, *, allow_svg: bool = False) -> bytes:
    """The logo, decoded and re-encoded as a PNG of at most OUTPUT_SIDE pixels a side."""
    if len(data) > MAX_BYTES:
        raise ImageRejectedError(
            f"Le logo dépasse {MAX_BYTES // (1024 * 1024) or 1} Mo : envoyez une image plus légère."
        )
    if allow_svg and is_svg(data):
        data = _svg_pixels(data)
    try:
        with warnings.catch_warnings():
            # Pillow only warns about a decompression bomb below twice its limit: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
                width, height = image.size
                if max(width, height) > MAX_SIDE:
                    raise ImageRejectedError(
                        f"Le logo est trop grand ({width} × {height} pixels) : "
                        f"{MAX_SIDE} pixels de côté au maximum."
                    )
                if min(width, height) < MIN_SIDE:
                    raise ImageRejectedError(
                        f"Le logo est trop petit : {MIN_SIDE} pixels de côté au minimum."
                    )
                image.load()
                picture = image.convert("RGBA")
    except ImageRejectedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejectedError(
            f"Le logo est trop grand : {MAX_SIDE} pixels de côté au maximum."
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        kinds = "PNG, JPEG, WebP ou SVG" if allow_svg else "PNG, JPEG ou WebP"
        raise ImageRejectedError(f"Ce fichier n’est pas une image {kinds} lisible.") from exc
    picture.thumbnail((OUTPUT_SIDE, OUTPUT_SIDE))
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def store(folder: Path, png: bytes) -> str:
    """Write under a random name (nothing of the upload's name is kept); return the name."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.png"
    (folder / name).write_bytes(png)
    return name


# --- SVG, drawn in a child process ----------------------------------------------------------

_UNREADABLE_SVG = (
    "Ce fichier SVG n’a pas pu être converti en image (illisible, trop complexe, ou vide) : "
    "envoyez-le en PNG."
)


def _svg_pixels(data: bytes) -> bytes:
    """The SVG drawn as a PNG of SVG_SIDE pixels at most, its empty margins cropped."""
    try:
        done = subprocess.run(  # nosec B603  # our interpreter, our module, no shell
            [sys.executable, "-c", "from campaign.core.images import _draw_svg; _draw_svg()"],
            input=data,
            capture_output=True,
            timeout=SVG_CPU_SECONDS * 4,  # the CPU limit stops it first; this, a stuck one
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ImageRejectedError(_UNREADABLE_SVG) from exc
    if done.returncode != 0 or not done.stdout.startswith(b"\x89PNG"):
        raise ImageRejectedError(_UNREADABLE_SVG)
    return done.stdout


def _draw_svg() -> None:
    """In the child: SVG on stdin, PNG on stdout, within the limits set first."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (SVG_CPU_SECONDS, SVG_CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (SVG_MEMORY, SVG_MEMORY))
    import pypdfium2
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    svg = sys.stdin.buffer.read(MAX_BYTES + 1)

    class OnlyTheUpload(URLFetcher):
        """The page's one image is the upload; whatever the SVG refers to (file:, http:,
        data:, another SVG) is refused."""

        def __init__(self) -> None:
            super().__init__(allowed_protocols=())

        def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
            if url != "upload:logo.svg":
                raise ValueError("refused")
            return URLFetcherResponse(url, body=svg, headers={"Content-Type": "image/svg+xml"})

    page = (
        f"<!doctype html><style>@page {{ size: {SVG_SIDE}px {SVG_SIDE}px; margin: 0 }}"
        f" html, body {{ margin: 0 }} img {{ display: block; width: {SVG_SIDE}px;"
        f" height: {SVG_SIDE}px; object-fit: contain }}</style>"
        '<img src="upload:logo.svg" alt="">'
    )
    pdf = HTML(string=page, base_url="upload:", url_fetcher=OnlyTheUpload()).write_pdf()
    document = pypdfium2.PdfDocument(pdf)
    try:
        pdf_page = document[0]
        bitmap = pdf_page.render(scale=SVG_SIDE / pdf_page.get_width(), fill_color=(0, 0, 0, 0))
        picture = bitmap.to_pil().convert("RGBA")
    finally:
        document.close()
    box = picture.getchannel("A").getbbox()  # None: nothing was drawn
    if box is None:
        sys.exit(3)
    out = io.BytesIO()
    picture.crop(box).save(out, format="PNG")
    sys.stdout.buffer.write(out.getvalue())
