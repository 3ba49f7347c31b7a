"""A bar chart as a PNG image, drawn in pure Python (zlib): the weekly digest's one image.

No text is drawn (no font is needed); the message beside it carries the title and the numbers,
and the upload carries a description for screen readers.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

WHITE = (255, 255, 255)
BAR = (18, 100, 163)
AXIS = (97, 96, 97)
GRID = (221, 221, 221)


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def encode_png(pixels: list[bytearray], width: int, height: int) -> bytes:
    """RGB rows (``width * 3`` bytes each) as a PNG file."""
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def bar_chart_png(values: Sequence[float], width: int = 600, height: int = 240) -> bytes:
    """Vertical bars for ``values`` (left to right) on a white canvas with a baseline."""
    pixels = [bytearray(WHITE * width) for _ in range(height)]

    def fill(x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int]) -> None:
        for y in range(max(0, y0), min(height, y1)):
            row = pixels[y]
            for x in range(max(0, x0), min(width, x1)):
                row[3 * x : 3 * x + 3] = bytes(colour)

    margin, base = 20, height - 20
    for frac in (0.25, 0.5, 0.75, 1.0):
        y = base - int((base - margin) * frac)
        fill(margin, y, width - margin, y + 1, GRID)
    top = max((v for v in values if v > 0), default=0.0)
    n = max(len(values), 1)
    slot = (width - 2 * margin) / n
    for i, v in enumerate(values):
        if top <= 0 or v <= 0:
            continue
        h = max(1, int((base - margin) * v / top))
        x0 = margin + int(i * slot + slot * 0.15)
        x1 = margin + int((i + 1) * slot - slot * 0.15)
        fill(x0, base - h, max(x0 + 1, x1), base, BAR)
    fill(margin, base, width - margin, base + 2, AXIS)
    return encode_png(pixels, width, height)
