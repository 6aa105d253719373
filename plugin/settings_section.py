"""One section of a shop's JSON settings (`Shop.settings[key]`), read two ways.

Strictly when the merchant saves it: every value must be known and valid, else the section's
error names the field and nothing is stored. Leniently when the app uses it: a value that does
not parse falls back to its default with a warning, so one bad field never takes a shop's
surveys or scoring down. Each area (surveys, value) describes its section once with this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class ShopSettingsError(ValueError):
    """A setting has the wrong type or is out of range; `name` is the setting."""

    section = ""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{self.section}.{name}: {message}")
        self.name = name


@dataclass(frozen=True)
class SettingsSection(Generic[T]):
    key: str  # the section's key in the shop's settings
    noun: str  # "survey setting": how errors and logs name one of its values
    parse_one: Callable[[str, Any], Any]  # raises `error` for a bad value
    build: type[T]  # a dataclass: its fields are the settings, its defaults theirs
    error: type[ShopSettingsError]

    @property
    def known(self) -> frozenset[str]:
        return frozenset(f.name for f in fields(self.build))  # type: ignore[arg-type]

    def parse(self, raw: Mapping[str, Any] | None) -> T:
        """Strict: every given value must be valid and known, else `error`."""
        if raw is None:
            return self.build()
        if not isinstance(raw, Mapping):
            raise self.error("", "must be an object")
        unknown = sorted(set(raw) - self.known)
        if unknown:
            raise self.error(unknown[0], f"is not a {self.noun}")
        return self.build(**{name: self.parse_one(name, value) for name, value in raw.items()})

    def read(self, shop_settings: Any, shop_id: int) -> T:
        """Lenient, from the shop's whole settings document as stored."""
        raw = shop_settings.get(self.key) if isinstance(shop_settings, Mapping) else None
        if raw is None:
            return self.build()
        if not isinstance(raw, Mapping):
            log.warning("shop %s: %ss are not an object; using defaults", shop_id, self.noun)
            return self.build()
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in self.known:
                continue
            try:
                values[name] = self.parse_one(name, value)
            except ShopSettingsError as exc:
                log.warning("shop %s: %s; using the default", shop_id, exc)
        return self.build(**values)
