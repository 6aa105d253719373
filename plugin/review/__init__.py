"""The monthly value review pack (docs/design.md §1): built from stored snapshots, rendered as
HTML, CSV or JSON.

    pack = await build_review(session, shop_id, "2026-10")   # ReviewError, ReviewNotAvailable
    text = render(pack, "html")                              # "html" | "csv" | "json"
"""

from plugin.review.build import available_months, build_review, parse_month
from plugin.review.pack import ReviewError, ReviewNotAvailable, ReviewPack
from plugin.review.render import FORMATS, MEDIA_TYPES, render

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "ReviewError",
    "ReviewNotAvailable",
    "ReviewPack",
    "available_months",
    "build_review",
    "parse_month",
    "render",
]
