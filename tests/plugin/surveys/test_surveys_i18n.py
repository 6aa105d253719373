"""Languages: negotiation order, complete catalogues, merchant overrides."""

from __future__ import annotations

from plugin.surveys.i18n import (
    CATALOGUES,
    SUPPORTED_LOCALES,
    accept_language,
    missing_keys,
    negotiate,
    reason_label,
    translator,
)
from plugin.value.reasons import DEFAULT_REASONS, SYSTEM_REASONS


def test_every_catalogue_has_every_text_and_reason_label() -> None:
    assert missing_keys() == {}
    for locale in SUPPORTED_LOCALES:
        for reason in (*DEFAULT_REASONS, *SYSTEM_REASONS):
            assert f"reason.{reason.code}" in CATALOGUES[locale]
    # Translated, not copied: the question differs in every language.
    questions = {CATALOGUES[loc]["nps.question"] for loc in SUPPORTED_LOCALES}
    assert len(questions) == len(SUPPORTED_LOCALES)


def test_accept_language_is_ranked_by_quality() -> None:
    assert accept_language("de;q=0.5, fr-CA, en;q=0.8, *;q=0.1, es;q=0") == ["fr-CA", "en", "de"]
    assert accept_language(None) == []


def test_negotiation_order() -> None:
    assert negotiate("fr", accept="de", fallbacks=("es",)) == "fr"  # explicit storefront locale
    assert negotiate(None, accept="pt-BR, de-AT;q=0.9", fallbacks=("es",)) == "de"
    assert negotiate("pt", accept="ja", fallbacks=(None, "es-MX")) == "es"  # subscriber, shop
    assert negotiate("pt", accept="ja", fallbacks=("zz",)) == "en"
    assert negotiate("../../etc", accept="<script>") == "en"


def test_translator_uses_merchant_overrides_and_keeps_stray_braces() -> None:
    t = translator("fr", {"fr": {"nps.title": "Alors, {name} ?"}, "de": {"nps.title": "Na?"}})
    assert t("nps.title") == "Alors, {name} ?"
    assert t("comment.hint", max=2000) == "2000 caractères au maximum."
    assert translator("de")("submit") == "Senden"
    assert translator("xx")("submit") == "Send"


def test_reason_labels() -> None:
    assert reason_label("too_expensive", "es") == "Es demasiado caro"
    assert reason_label("too_expensive", "fr", {"fr": "Trop cher pour moi"}) == "Trop cher pour moi"
    assert reason_label("moved_abroad", "de", {"en": "I moved abroad"}) == "I moved abroad"
    assert reason_label("moved_abroad", "de") == "Moved abroad"
