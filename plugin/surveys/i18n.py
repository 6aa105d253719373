"""Survey texts in English, French, German and Spanish, with merchant overrides.

Catalogues live in `locales/{en,fr,de,es}.json` (page texts and reason labels). The locale is
negotiated from what the request tells us (an explicit `locale`, then Accept-Language), then
the subscriber's and the shop's locale, falling back to English. A merchant overrides page
texts per locale in the survey settings and reason labels on the reason itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_LOCALES: tuple[str, ...] = ("en", "fr", "de", "es")
DEFAULT_LOCALE = "en"
_LOCALES_DIR = Path(__file__).with_name("locales")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def _load() -> dict[str, dict[str, str]]:
    catalogues = {}
    for locale in SUPPORTED_LOCALES:
        with (_LOCALES_DIR / f"{locale}.json").open(encoding="utf-8") as fh:
            catalogues[locale] = json.load(fh)
    return catalogues


CATALOGUES: dict[str, dict[str, str]] = _load()


def supported(tag: str | None) -> str | None:
    """The supported locale for a language tag ("fr-CA" → "fr", "pt-BR" → None)."""
    if not tag or not _LANGUAGE_TAG.match(tag.strip()):
        return None
    language = re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()
    return language if language in CATALOGUES else None


def accept_language(header: str | None) -> list[str]:
    """Language tags of an Accept-Language header, most preferred first (q=0 dropped)."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(
    explicit: str | None, *, accept: str | None = None, fallbacks: Iterable[str | None] = ()
) -> str:
    """The locale to answer in: the explicit request (a `locale` parameter), then the
    Accept-Language tags, then `fallbacks` in order (subscriber's, shop's), else English."""
    for tag in [explicit, *accept_language(accept), *fallbacks]:
        found = supported(tag)
        if found:
            return found
    return DEFAULT_LOCALE


@dataclass(frozen=True)
class Translator:
    """Texts of one locale with the merchant's overrides on top; English fills any gap."""

    locale: str
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, key: str, **params: object) -> str:
        text = (
            self.overrides.get(key)
            or CATALOGUES[self.locale].get(key)
            or CATALOGUES[DEFAULT_LOCALE].get(key)
            or key
        )
        if not params:
            return text
        # Only {name} placeholders we were given are replaced: a merchant's override with a
        # stray brace must not break the page (str.format would raise).
        return _PLACEHOLDER.sub(
            lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), text
        )


def translator(locale: str, labels: Mapping[str, Mapping[str, str]] | None = None) -> Translator:
    """A translator for `locale` with the shop's page-text overrides (SurveySettings.labels)."""
    if locale not in CATALOGUES:
        locale = DEFAULT_LOCALE
    return Translator(locale, dict((labels or {}).get(locale, {})))


def reason_label(code: str, locale: str, overrides: Mapping[str, str] | None = None) -> str:
    """A reason's label: the merchant's label for this locale (stored on the reason), else our
    translation, else the merchant's English label, else the code itself."""
    overrides = overrides or {}
    key = f"reason.{code}"
    return (
        overrides.get(locale)
        or CATALOGUES.get(locale, {}).get(key)
        or overrides.get(DEFAULT_LOCALE)
        or CATALOGUES[DEFAULT_LOCALE].get(key)
        or code.replace("_", " ").capitalize()
    )


def missing_keys() -> dict[str, set[str]]:
    """Keys present in English but missing from another catalogue (a test keeps this empty)."""
    english = set(CATALOGUES[DEFAULT_LOCALE])
    return {
        locale: english - set(texts) for locale, texts in CATALOGUES.items() if english - set(texts)
    }
