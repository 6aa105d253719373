"""The review pack as HTML (self-contained, printable), CSV (one metric per row) or JSON.

    render(pack, "html" | "csv" | "json") -> str

HTML is rendered with autoescaping: initiative titles, hypotheses, owners and reason labels are
merchant text and appear as text only. CSV cells are numbers or keys that start with our
own prefix (a merchant's reason code only ever follows `cancel_reasons.`), and never labels or
titles, so no cell can start a spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, select_autoescape

from plugin.review.format import fmt as format_value
from plugin.review.format import fmt_change, fmt_p
from plugin.review.pack import ReviewPack

Format = Literal["html", "csv", "json"]
FORMATS: tuple[Format, ...] = ("html", "csv", "json")
MEDIA_TYPES: dict[str, str] = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
CSV_COLUMNS = ("section", "metric", "value", "previous", "change")

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(fmt=format_value, fmt_change=fmt_change, fmt_p=fmt_p)

VERDICTS = {
    "not_started": "not started",
    "measuring": "measuring",
    "not_enough_data": "not enough data",
    "real_change": "real change",
    "no_real_change": "no real change",
    "untested": "direction only (no test)",
}


def render(pack: ReviewPack, fmt: str) -> str:
    """The pack in one of FORMATS (text; write it as UTF-8)."""
    if fmt == "html":
        return render_html(pack)
    if fmt == "csv":
        return render_csv(pack)
    if fmt == "json":
        return json.dumps(pack_to_dict(pack), indent=2, ensure_ascii=False)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def render_html(pack: ReviewPack) -> str:
    return _ENV.get_template("review.html").render(pack=pack, verdicts=VERDICTS)


def _cell(value: Any) -> Any:
    return "" if value is None else value


def render_csv(pack: ReviewPack) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for section in pack.sections:
        for row in section.rows:
            writer.writerow(
                [_cell(v) for v in (section.key, row.metric, row.value, row.previous, row.change)]
            )
    for item in pack.initiatives:
        metric = f"initiatives.{item.id}.{item.target_metric}"
        writer.writerow(
            [_cell(v) for v in ("initiatives", metric, item.after, item.before, item.effect_change)]
        )
    return out.getvalue()


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def pack_to_dict(pack: ReviewPack) -> dict[str, Any]:
    doc = _jsonable(asdict(pack))
    # `change` is a property (derived), so asdict leaves it out.
    for section_doc, section in zip(doc["sections"], pack.sections, strict=True):
        for row_doc, row in zip(section_doc["rows"], section.rows, strict=True):
            row_doc["change"] = row.change
    return doc  # type: ignore[no-any-return]
