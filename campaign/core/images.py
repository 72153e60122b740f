"""Uploaded images (organisation logos): checked by their content, re-encoded, stored apart.

The type is what Pillow recognises in the bytes, never the file name or the browser's
Content-Type: an HTML or SVG file renamed .png is refused. Every accepted image is decoded
and re-encoded as a fresh PNG, so nothing but pixels survives (no script, no metadata).
"""

from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4000  # pixels, either way, before resizing
MIN_SIDE = 32
OUTPUT_SIDE = 512  # logos are stored at most this big


class ImageRejectedError(ValueError):
    """The upload is not an acceptable image; the message says why, in French."""


def logo_png(data: bytes) -> bytes:
    """The logo, decoded and re-encoded as a PNG of at most OUTPUT_SIDE pixels a side."""
    if len(data) > MAX_BYTES:
        raise ImageRejectedError(
            f"Le logo dépasse {MAX_BYTES // (1024 * 1024) or 1} Mo : envoyez une image plus légère."
        )
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
        raise ImageRejectedError(
            "Ce fichier n’est pas une image PNG, JPEG ou WebP lisible."
        ) from exc
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
