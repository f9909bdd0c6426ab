"""The report's chart: approvals and citizen comments per week, as a PNG drawn with Pillow.

Pillow is the one drawing dependency (a few MB, no system libraries); the chart is a plain grouped
bar chart. Its labels are ASCII only (dates, numbers, an English legend): Pillow's bundled font has
no Japanese glyphs, so the Japanese explanation travels in the upload's title and comment instead.
"""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 960, 480
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 30, 60, 70
BACKGROUND = (255, 255, 255)
AXIS = (90, 90, 90)
GRID = (225, 225, 225)
APPROVALS = (29, 78, 137)  # the app's colour
COMMENTS = (230, 126, 34)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except TypeError:  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def _nice_max(value: int) -> int:
    """A round top for the y axis (at least 4, so the grid has whole steps)."""
    top = max(4, value)
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if top <= step * 4:
            return step * 4
    return top


def weekly_chart(weeks: list[tuple[datetime, int, int]], timezone: str, title: str) -> bytes:
    """A PNG: two bars per week (approvals, comments), week labels as M/D of the week's first day."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small, label, heading = _font(14), _font(16), _font(20)
    draw.text((MARGIN_LEFT, 18), title, fill=AXIS, font=heading)

    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    bottom = MARGIN_TOP + plot_h
    top_value = _nice_max(max([a for _, a, _ in weeks] + [c for _, _, c in weeks] + [0]))
    for i in range(5):
        value = top_value * i // 4
        y = bottom - plot_h * i / 4
        draw.line([(MARGIN_LEFT, y), (WIDTH - MARGIN_RIGHT, y)], fill=GRID if i else AXIS, width=1)
        draw.text((MARGIN_LEFT - 10, y), str(value), fill=AXIS, font=small, anchor="rm")

    tz = ZoneInfo(timezone)
    slot = plot_w / max(1, len(weeks))
    bar = slot * 0.32
    for i, (start, approvals, comments) in enumerate(weeks):
        x = MARGIN_LEFT + slot * i + slot * 0.15
        for offset, value, colour in ((0, approvals, APPROVALS), (bar + 2, comments, COMMENTS)):
            height = plot_h * value / top_value
            if value:
                draw.rectangle([x + offset, bottom - height, x + offset + bar, bottom - 1], fill=colour)
            draw.text((x + offset + bar / 2, bottom - height - 4), str(value), fill=AXIS, font=small, anchor="mb")
        local = start.astimezone(tz)
        draw.text((MARGIN_LEFT + slot * i + slot / 2, bottom + 10), f"{local.month}/{local.day}", fill=AXIS,
                  font=label, anchor="mt")

    legend_y = HEIGHT - 24
    for x, colour, text in ((MARGIN_LEFT, APPROVALS, "Approved posts"), (MARGIN_LEFT + 220, COMMENTS, "Comments")):
        draw.rectangle([x, legend_y - 8, x + 16, legend_y + 8], fill=colour)
        draw.text((x + 24, legend_y), text, fill=AXIS, font=label, anchor="lm")

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
