"""The workspace's own shop settings (`Shop.settings["workspace"]`): who owns subscriber value.

    {"workspace": {"value_owner": "Ana (retention lead)"}}

value_owner: the person accountable for subscriber value; the monthly review and initiatives
    name them. Free text, at most 200 characters; empty when not set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugin.settings_section import SettingsSection, ShopSettingsError

SETTINGS_KEY = "workspace"
_MAX_OWNER = 200


class WorkspaceSettingsError(ShopSettingsError):
    section = SETTINGS_KEY


@dataclass(frozen=True)
class WorkspaceSettings:
    value_owner: str = ""


def _parse_one(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        raise WorkspaceSettingsError(name, "must be text")
    if len(value.strip()) > _MAX_OWNER:
        raise WorkspaceSettingsError(name, f"must be at most {_MAX_OWNER} characters")
    return value.strip()


SECTION = SettingsSection(
    key=SETTINGS_KEY,
    noun="workspace setting",
    parse_one=_parse_one,
    build=WorkspaceSettings,
    error=WorkspaceSettingsError,
)
