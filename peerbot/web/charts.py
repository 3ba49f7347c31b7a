"""Charts drawn on the server as SVG: no JavaScript, no CDN, nothing fetched by the browser.

Every chart carries a ``<title>`` and ``aria-label`` and is always shown next to a table of the
same numbers (the text alternative). A "fewer than 5" cell draws no bar: it is labelled so.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 640
ROW = 26
LABEL_W = 220
PAD = 8


def bar_chart(chart_id: str, title: str, items: Sequence[tuple[str, int | float | str]]) -> str:
    """A horizontal bar chart of ``items`` (label, value); non-numeric values draw no bar."""
    numbers = [v for _, v in items if isinstance(v, int | float) and not isinstance(v, bool)]
    top = max(numbers, default=0) or 1
    height = PAD * 2 + ROW * max(len(items), 1)
    span = WIDTH - LABEL_W - 80
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-label="{escape(title)}" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if not items:
        parts.append(f'<text x="{PAD}" y="{PAD + 16}" class="empty">No data yet</text>')
    for i, (label, value) in enumerate(items):
        y = PAD + i * ROW
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 17}" text-anchor="end">{escape(label[:34])}</text>'
        )
        if isinstance(value, int | float) and not isinstance(value, bool):
            w = max(1.0, span * float(value) / top) if value else 0.0
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(
                f'<rect class="bar" x="{LABEL_W}" y="{y + 4}" width="{w:.1f}" height="{ROW - 8}" '
                f'data-value="{escape(shown)}"><title>{escape(label)}: {escape(shown)}</title>'
                "</rect>"
            )
            parts.append(f'<text x="{LABEL_W + w + 6:.1f}" y="{y + 17}">{escape(shown)}</text>')
        else:
            parts.append(
                f'<text x="{LABEL_W + 6}" y="{y + 17}" class="muted">{escape(str(value))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
