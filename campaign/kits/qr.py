"""QR codes for print and screens: SVG and PNG, quiet zone, the URL written beneath.

High error correction (H, 30 %): a folded, stained or badly photocopied flyer still scans.
The URL under the code is for people who cannot scan; it is always built from PUBLIC_URL.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape  # nosec B406  # escapes our output; parses no XML

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_H

from campaign.kits.assets import FONTS

QUIET_ZONE = 4  # modules: what the QR standard asks for around the code
PRINT_MODULE_PX = 20  # PNG module size: a 3 cm code is well over 300 dpi


def matrix(url: str) -> list[list[bool]]:
    """The modules of the code, quiet zone included (True is dark)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_H, border=QUIET_ZONE)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


def qr_svg(url: str, caption: bool = True) -> bytes:
    """A scalable code: one path of unit squares, and the URL as text beneath."""
    modules = matrix(url)
    size = len(modules)
    path = "".join(
        f"M{x},{y}h1v1h-1z" for y, row in enumerate(modules) for x, dark in enumerate(row) if dark
    )
    height = size + (3 if caption else 0)
    text = (
        f'<text x="{size / 2}" y="{size + 1}" font-family="Source Sans 3, sans-serif" '
        f'font-size="1.6" text-anchor="middle">{escape(url)}</text>'
        if caption
        else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {height}" '
        f'role="img" aria-label="QR code : {escape(url)}">'
        f"<title>QR code : {escape(url)}</title>"
        f'<rect width="{size}" height="{height}" fill="#fff"/>'
        f'<path d="{path}" fill="#000" shape-rendering="crispEdges"/>{text}</svg>'
    ).encode()


def qr_png(url: str, module_px: int = PRINT_MODULE_PX, caption: bool = True) -> bytes:
    """A print-resolution PNG (black on white, 1-bit friendly) with the URL beneath."""
    modules = matrix(url)
    side = len(modules) * module_px
    code = Image.new("L", (len(modules), len(modules)), 255)
    code.putdata([0 if dark else 255 for row in modules for dark in row])
    code = code.resize((side, side), Image.Resampling.NEAREST)
    if not caption:
        return _png(code)
    font = _caption_font(url, side, module_px)
    box = font.getbbox(url)
    band = (box[3] - box[1]) + 2 * module_px
    image = Image.new("L", (side, side + band), 255)
    image.paste(code, (0, 0))
    ImageDraw.Draw(image).text(
        (side / 2, side + band / 2 - module_px / 2), url, fill=0, font=font, anchor="mm"
    )
    return _png(image)


def _caption_font(url: str, width: int, module_px: int) -> ImageFont.FreeTypeFont:
    """The largest size, up to two modules high, at which the URL fits the code's width."""
    size = module_px * 2
    while size > 8:
        font = ImageFont.truetype(str(FONTS / "SourceSans3-Regular.ttf"), size)
        if font.getlength(url) <= width - 2 * module_px:
            return font
        size -= 1
    return ImageFont.truetype(str(FONTS / "SourceSans3-Regular.ttf"), size)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True, dpi=(300, 300))
    return out.getvalue()
