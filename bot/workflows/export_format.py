"""How an export is written, whatever it holds: for the city's staff, who open it in Excel.

- Times in the organisation's time zone with their offset (2026-11-24T10:00:00+09:00): the city's day, as
  `--since` reads it, not UTC's (a post at 08:00 JST is not the previous day's).
- CSV is UTF-8 with a byte-order mark, without which Japanese Excel reads it as Shift_JIS (mojibake).
- A CSV cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`
  (OWASP, CSV injection): Excel would run it as a formula — a citizen's `=HYPERLINK(…)` sends the sheet's
  cells away, and staff's `-10℃の寒波` is mangled. The cell stays text (it may show the `'`).
- JSON is the record as stored: plain UTF-8, no prefix.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def local_iso(value: datetime | date | None, tz: tzinfo) -> str | None:
    """A moment in the city's time zone with its offset; a date as it is."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    return value.isoformat()


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def spreadsheet_cell(value: Any) -> Any:
    """A value as a CSV cell Excel shows as written: lists of words space-separated, tables as JSON, and any
    text that Excel would read as a formula prefixed with `'`."""
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = " ".join(value)
    elif isinstance(value, (list, dict)):
        value = compact_json(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({name: spreadsheet_cell(row.get(name)) for name in columns})
    return out.getvalue()


def to_json(records: Iterable[dict[str, Any]]) -> str:
    return json.dumps(list(records), ensure_ascii=False, indent=2)


def encode(text: str, export_format: str) -> bytes:
    """The file's bytes: CSV with a UTF-8 byte-order mark (for Excel), JSON without."""
    return text.encode("utf-8-sig" if export_format == "csv" else "utf-8")
