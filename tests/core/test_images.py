"""Logos: real images are re-encoded; anything else is refused with a French reason."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from campaign.core.images import ImageRejectedError, logo_png


def _image(fmt: str, size: tuple[int, int] = (200, 100), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 0).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_become_a_fresh_png(fmt):
    result = logo_png(_image(fmt))
    with Image.open(io.BytesIO(result)) as image:
        assert image.format == "PNG"
        assert image.size == (200, 100)


def test_large_logos_are_scaled_down():
    with Image.open(io.BytesIO(logo_png(_image("PNG", (2000, 1000))))) as image:
        assert image.size == (512, 256)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html><script>alert(1)</script></html>", "n’est pas une image"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "n’est pas une image",
        ),
        (b"GIF89a" + b"\x00" * 100, "n’est pas une image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "n’est pas une image"),  # a PNG header, no image
        (b"", "n’est pas une image"),
        (b"x" * (3 * 1024 * 1024), "2 Mo"),
    ],
)
def test_non_images_are_refused(data, reason):
    with pytest.raises(ImageRejectedError, match=reason):
        logo_png(data)


def test_a_gif_is_refused_even_though_pillow_reads_it():
    with pytest.raises(ImageRejectedError, match="PNG, JPEG ou WebP"):
        logo_png(_image("GIF"))


def test_sizes_are_capped_both_ways():
    with pytest.raises(ImageRejectedError, match="trop grand"):
        logo_png(_image("PNG", (5000, 100), mode="1"))
    with pytest.raises(ImageRejectedError, match="trop petit"):
        logo_png(_image("PNG", (10, 10)))


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    # A tiny file that claims 30 000 × 30 000 pixels: only the header is read.
    bomb = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 2 * 1024 * 1024
    with pytest.raises(ImageRejectedError):
        logo_png(bomb.getvalue())
