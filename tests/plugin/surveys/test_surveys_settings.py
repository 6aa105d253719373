"""Survey settings: documented defaults, strict parsing for edits, lenient reading for requests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plugin.models import Shop
from plugin.surveys.settings import (
    DEFAULTS,
    SurveySettingsError,
    parse_survey_settings,
    survey_settings,
    survey_settings_from,
)


def test_defaults_are_the_documented_ones() -> None:
    assert DEFAULTS.nps_delay == timedelta(days=2)
    assert DEFAULTS.nps_fallback_delay == timedelta(days=7)
    assert DEFAULTS.nps_throttle == timedelta(days=90)
    assert DEFAULTS.nps_expiry == timedelta(days=14)
    assert DEFAULTS.answer_edit_window == timedelta(hours=24)
    assert DEFAULTS.randomise_reason_order is False
    assert DEFAULTS.proxy_theme_layout is True
    assert survey_settings(Shop(domain="a.myshopify.com", settings={})) == DEFAULTS


def test_strict_parsing_names_the_bad_setting() -> None:
    parsed = parse_survey_settings({"nps_delay_days": 3, "labels": {"FR": {"nps.title": "Avis"}}})
    assert parsed.nps_delay == timedelta(days=3)
    assert parsed.labels == {"fr": {"nps.title": "Avis"}}
    for raw, name in [
        ({"nps_delay_days": "3"}, "nps_delay_days"),
        ({"nps_delay_days": True}, "nps_delay_days"),
        ({"nps_expiry_days": 0}, "nps_expiry_days"),
        ({"nps_throttle_days": 5000}, "nps_throttle_days"),
        ({"randomise_reason_order": "yes"}, "randomise_reason_order"),
        ({"labels": {"fr": {"nps.title": 3}}}, "labels.fr"),
        ({"nps_delay": 2}, "nps_delay"),
    ]:
        with pytest.raises(SurveySettingsError) as caught:
            parse_survey_settings(raw)
        assert caught.value.name == name


def test_reader_keeps_good_values_and_drops_bad_ones() -> None:
    shop = Shop(
        domain="a.myshopify.com",
        settings={
            "margin": 0.4,  # another module's setting, not ours
            "surveys": {"nps_delay_days": 1.5, "nps_throttle_days": "ninety", "unknown": 1},
        },
    )
    settings = survey_settings(shop)
    assert settings.nps_delay == timedelta(days=1.5)
    assert settings.nps_throttle == DEFAULTS.nps_throttle
    assert survey_settings(Shop(domain="b.myshopify.com", settings={"surveys": [1]})) == DEFAULTS


def test_reader_from_the_settings_column() -> None:
    assert survey_settings_from(None, 1) == DEFAULTS
    assert survey_settings_from({"surveys": "x"}, 1) == DEFAULTS
    window = survey_settings_from({"surveys": {"cancel_answer_window_days": 3}}, 1)
    assert window.cancel_answer_window == timedelta(days=3)
