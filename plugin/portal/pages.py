"""Survey pages: small, accessible HTML that works without JavaScript.

One Jinja environment with autoescaping on. Every value printed into a page also has its
braces turned into entities, because app proxy pages are served as Liquid (Shopify renders
them inside the store theme) and a comment containing `{{ … }}` must stay text, never become
Liquid. The stylesheet is inlined: one request, well under the 30 KB page budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse, Response

from plugin.surveys.errors import AnswerInvalid
from plugin.surveys.i18n import Translator
from plugin.surveys.validation import MAX_COMMENT_CHARS

_HERE = Path(__file__).parent
# Our own stylesheet, shipped with the code: trusted markup.
CSS = Markup((_HERE / "static" / "portal.css").read_text(encoding="utf-8").replace("\n", ""))  # noqa: S704
LIQUID = "application/liquid"


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    # Escaped first; the brace entities are added to the already-safe text.
    safe = str(escape(value)).replace("{", "&#123;").replace("}", "&#125;")
    return Markup(safe)  # noqa: S704


_ENV = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    finalize=_finalize,
    trim_blocks=False,
    auto_reload=False,
)

# Where the error summary links to for each field (the field's first input).
_ANCHORS = {
    "score": "vh-score-0",
    "value_for_money": "vh-vfm-1",
    "comment": "vh-comment",
    "reason": "vh-reason-0",
}


@dataclass(frozen=True)
class PageError:
    anchor: str
    text: str


@dataclass
class Page:
    """How a page is delivered: inside the theme as Liquid, or as a document of its own."""

    t: Translator
    liquid: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        values: dict[str, Any] = {
            "field_errors": {},
            "errors": [],
            "answer": {},
            **context,
            "t": self.t,
            "locale": self.t.locale,
            "css": CSS,
            "standalone": not self.liquid,
            "max_comment": MAX_COMMENT_CHARS,
        }
        body = _ENV.get_template(template).render(values)
        headers = {"Cache-Control": "private, no-store", **self.headers}
        if self.liquid:
            return Response(body, status_code=status, media_type=LIQUID, headers=headers)
        return HTMLResponse(body, status_code=status, headers=headers)

    def message(
        self,
        key: str,
        status: int = 200,
        *,
        note: str | None = None,
        status_text: str | None = None,
        link_href: str | None = None,
        link_text: str | None = None,
    ) -> Response:
        """A page with a title and a sentence, e.g. message("login") uses login.title/body."""
        return self.render(
            "message.html",
            status,
            title=self.t(f"{key}.title"),
            body=self.t(f"{key}.body"),
            note=note,
            status_text=status_text,
            link_href=link_href,
            link_text=link_text,
        )

    def invalid(self, error: AnswerInvalid) -> tuple[dict[str, str], list[PageError]]:
        """The error as the form shows it: beside the field and in the summary."""
        text = self.t(f"errors.{error.code}", max=MAX_COMMENT_CHARS)
        return {error.field: text}, [PageError(_ANCHORS.get(error.field, "vh-title"), text)]
