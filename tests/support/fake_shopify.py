"""The fake Admin API lives in `plugin.shopify.fake` (the demo uses it too); tests import it
from here or from there."""

from plugin.shopify.fake import DEFAULT_SCOPE, FakeContract, FakeLine, FakeShopify, line_total

__all__ = ["DEFAULT_SCOPE", "FakeContract", "FakeLine", "FakeShopify", "line_total"]
