"""Shopify global ids (`gid://shopify/Customer/123`) to the numeric ids webhooks carry."""

from __future__ import annotations

import re

_GID = re.compile(r"gid://shopify/([A-Za-z]+)/([0-9]{1,20})")


def parse_gid(value: object, resource: str) -> int | None:
    """The numeric id of a GID of the given resource type, or None for anything else."""
    if not isinstance(value, str):
        return None
    match = _GID.fullmatch(value)
    if match is None or match.group(1) != resource:
        return None
    return int(match.group(2))
