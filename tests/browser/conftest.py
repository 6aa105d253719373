"""The browser test serves the app on SQLite (a real server, one backend is enough here)."""

from tests.plugin.portal.conftest import lite_runtime

__all__ = ["lite_runtime"]
