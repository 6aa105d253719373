"""Bulk operations: start a bulk query, poll it to the end, stream its JSONL result.

The result file is read line by line from the network (never held whole): a shop's backfill can
be gigabytes. In the file, nested connections are flattened: each child object follows its
parent and names it in `__parentId`. `run_bulk_query` regroups them, yielding each top-level
object once its children are complete, with the children (and grandchildren, still carrying
their `__parentId`) in file order under `"__children"`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from plugin.queue import TransientError
from plugin.shopify.errors import BulkOperationError
from plugin.shopify.graphql import AdminGraphQL, Sleep

log = logging.getLogger(__name__)

CHILDREN = "__children"
PARENT = "__parentId"

RUN_BULK_QUERY = """
mutation BulkOperationRunQuery($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""

BULK_OPERATION_STATUS = """
query BulkOperationStatus($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount url }
  }
}
"""

_FAILED = {"FAILED", "CANCELED", "CANCELING", "EXPIRED"}


async def run_bulk_query(
    client: AdminGraphQL,
    query: str,
    *,
    poll_interval: float = 5.0,
    sleep: Sleep = asyncio.sleep,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Run `query` as a bulk operation and yield its top-level objects with their children.

    `on_progress` receives each polled status (`status`, `objectCount`) for a progress bar.
    Raises BulkOperationError when the operation cannot start or fails, TransientError when
    another bulk query is already running for the shop or the download breaks off.
    """
    operation_id = await start_bulk_query(client, query)
    operation = await wait_for_bulk_operation(
        client, operation_id, poll_interval=poll_interval, sleep=sleep, on_progress=on_progress
    )
    url = operation.get("url")
    if not url:
        return  # Shopify gives no file when the query matched nothing.
    async for record in _grouped(_stream_jsonl(client.http, url)):
        yield record


async def start_bulk_query(client: AdminGraphQL, query: str) -> str:
    data = await client.query(RUN_BULK_QUERY, {"query": query})
    result = data.get("bulkOperationRunQuery") or {}
    errors = result.get("userErrors") or []
    if errors:
        message = "; ".join(str(e.get("message", e)) for e in errors)
        if any(
            e.get("code") == "OPERATION_IN_PROGRESS" or "in progress" in str(e.get("message"))
            for e in errors
        ):
            raise TransientError(
                f"a bulk query is already running for {client.shop}", retry_after=60.0
            )
        raise BulkOperationError(f"bulk query refused for {client.shop}: {message}")
    operation = result.get("bulkOperation") or {}
    if not operation.get("id"):
        raise BulkOperationError(f"bulk query for {client.shop} returned no operation")
    return str(operation["id"])


async def wait_for_bulk_operation(
    client: AdminGraphQL,
    operation_id: str,
    *,
    poll_interval: float = 5.0,
    sleep: Sleep = asyncio.sleep,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll until the operation completes; returns its final status object."""
    while True:
        data = await client.query(BULK_OPERATION_STATUS, {"id": operation_id})
        operation = data.get("node")
        if not operation:
            raise BulkOperationError(f"bulk operation {operation_id} not found")
        if on_progress is not None:
            on_progress(operation)
        status = operation.get("status")
        if status == "COMPLETED":
            log.info(
                "bulk operation %s for %s completed: %s objects",
                operation_id,
                client.shop,
                operation.get("objectCount"),
            )
            return dict(operation)
        if status in _FAILED:
            raise BulkOperationError(
                f"bulk operation {operation_id} for {client.shop} ended {status}"
                f" ({operation.get('errorCode') or 'no error code'})"
            )
        await sleep(poll_interval)


async def _stream_jsonl(http: httpx.AsyncClient, url: str) -> AsyncIterator[dict[str, Any]]:
    # A signed storage URL: no Shopify headers (above all, no access token) go there.
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                message = f"bulk result download answered {response.status_code}"
                if response.status_code >= 500:
                    raise TransientError(message)
                raise BulkOperationError(message)
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    raise BulkOperationError("bulk result has a line that is not JSON") from exc
                if not isinstance(obj, dict):
                    raise BulkOperationError("bulk result has a line that is not an object")
                yield obj
    except httpx.TransportError as exc:
        raise TransientError(f"bulk result download broke off ({type(exc).__name__})") from exc


async def _grouped(objects: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    current: dict[str, Any] | None = None
    family: set[str] = set()
    async for obj in objects:
        parent = obj.get(PARENT)
        if parent is None:
            if current is not None:
                yield current
            current = {**obj, CHILDREN: []}
            family = {obj["id"]} if "id" in obj else set()
            continue
        if current is None or parent not in family:
            # Shopify writes children after their parent; anything else would be mis-grouped.
            raise BulkOperationError(f"bulk result: {parent} has children out of order")
        current[CHILDREN].append(obj)
        if "id" in obj:
            family.add(obj["id"])
    if current is not None:
        yield current
