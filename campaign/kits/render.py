"""HTML -> tagged PDF (WeasyPrint, PDF/UA) -> PNG (pdfium), with no way out of the kit.

The print templates are Jinja templates under kits/templates, rendered with autoescape:
text typed by a member organisation is text, never markup. WeasyPrint then fetches
only what the fetcher below hands it: the kit's own stylesheet and fonts, and the
images made for this one document (QR codes, a logo). Every other URL (file:, http:,
data:, …) is refused, so a document can neither read the server's files nor call out.
"""

from __future__ import annotations

import io
import logging
import mimetypes
from collections.abc import Mapping
from typing import Any

import jinja2
import pypdfium2
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from campaign.core import markdown
from campaign.core.templating import clock, long_date
from campaign.kits.assets import KITS, TEMPLATES

SCHEME = "kit:"  # kit:fonts/…, kit:css/…: files under kits/; kit:generated/…: this document's
_ALLOWED_DIRS = ("css/", "fonts/", "img/")

log = logging.getLogger(__name__)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),  # the ZIP's LISEZMOI.txt is plain text
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["fr_date"] = long_date
_env.filters["fr_time"] = clock
# The same Markdown subset as the site's pages: a flyer reads as the page does.
_env.filters["markdown"] = markdown.render


class RefusedURLError(ValueError):
    """A document asked for something outside the kit."""


class KitFetcher(URLFetcher):
    """Serves kit: URLs from kits/ and from this document's generated images; nothing else."""

    def __init__(self, generated: Mapping[str, bytes]) -> None:
        super().__init__(allowed_protocols=())  # the parent opens nothing
        self.generated = generated

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if not url.startswith(SCHEME):
            log.warning("kit render refused %.80s", url)
            raise RefusedURLError(f"outside the kit: {url[:80]}")
        name = url[len(SCHEME) :]
        if name.startswith("generated/") and name[len("generated/") :] in self.generated:
            body = self.generated[name[len("generated/") :]]
        elif name.startswith(_ALLOWED_DIRS) and ".." not in name and "\\" not in name:
            path = (KITS / name).resolve()
            if not path.is_relative_to(KITS.resolve()) or not path.is_file():
                raise RefusedURLError(f"no such kit file: {name[:80]}")
            body = path.read_bytes()
        else:
            raise RefusedURLError(f"outside the kit: {url[:80]}")
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=body, headers={"Content-Type": mime})


def html_of(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def pdf(template: str, generated: Mapping[str, bytes], **context: Any) -> bytes:
    """A tagged PDF/UA-1 document (title and language from the template's <title> and lang)."""
    document = HTML(
        string=html_of(template, **context),
        base_url=SCHEME,
        url_fetcher=KitFetcher(generated),
    )
    return document.write_pdf(pdf_variant="pdf/ua-1")


def png_pages(pdf_bytes: bytes, width: int, pages: int = 1) -> list[bytes]:
    """The first pages of a PDF as PNG images `width` pixels wide."""
    document = pypdfium2.PdfDocument(pdf_bytes)
    try:
        images = []
        for index in range(min(pages, len(document))):
            page = document[index]
            scale = width / page.get_width()
            bitmap = page.render(scale=scale)
            image = bitmap.to_pil().convert("RGB")
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=True)
            images.append(out.getvalue())
        return images
    finally:
        document.close()
