"""Errors raised when talking to Shopify's Admin API (token endpoint, GraphQL, bulk operations).

Retryable failures are `plugin.queue.TransientError` (throttling, 429, 5xx, network), so a job
that lets them propagate is retried later by the worker. Everything here is not worth retrying.
"""

from __future__ import annotations


class ShopifyError(Exception):
    """Shopify answered in a way that retrying the same request will not fix."""


class ShopifyAuthError(ShopifyError):
    """The access token or client credentials were rejected (401/403): never retried.

    The shop needs a fresh token (the merchant opens the app again, which runs token exchange).
    """


class ShopifyGraphQLError(ShopifyError):
    """A GraphQL response carried errors other than throttling, or had an unexpected shape."""

    def __init__(self, message: str, *, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.codes = codes


class BulkOperationError(ShopifyError):
    """A bulk operation could not be started, failed, or produced an unreadable result."""
