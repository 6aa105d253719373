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


# ---- bulk mutations: upload a JSONL of variables, run one mutation per line ----------------

STAGED_UPLOADS_CREATE = """
mutation StagedUploadsCreate($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}
"""

RUN_BULK_MUTATION = """
mutation BulkOperationRunMutation($mutation: String!, $stagedUploadPath: String!) {
  bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $stagedUploadPath) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""

LINE_NUMBER = "__lineNumber"


async def stage_jsonl(client: AdminGraphQL, lines: list[dict[str, Any]], filename: str) -> str:
    """Upload mutation variables, one JSON object per line, to Shopify's staged storage;
    returns the staged upload path `bulkOperationRunMutation` reads them from."""
    data = await client.query(
        STAGED_UPLOADS_CREATE,
        {
            "input": [
                {
                    "resource": "BULK_MUTATION_VARIABLES",
                    "filename": filename,
                    "mimeType": "text/jsonl",
                    "httpMethod": "POST",
                }
            ]
        },
    )
    result = data.get("stagedUploadsCreate") or {}
    errors = result.get("userErrors") or []
    targets = result.get("stagedTargets") or []
    if errors or not targets:
        message = "; ".join(str(e.get("message", e)) for e in errors) or "no staged target"
        raise BulkOperationError(f"staged upload refused for {client.shop}: {message}")
    target = targets[0]
    fields = {p["name"]: p["value"] for p in target.get("parameters") or []}
    path = fields.get("key")
    if not path or not target.get("url"):
        raise BulkOperationError(f"staged upload for {client.shop} gave no key or url")
    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    # A signed storage URL: form fields from Shopify, then the file; no access token goes there.
    try:
        response = await client.http.post(
            target["url"], data=fields, files={"file": (filename, body.encode(), "text/jsonl")}
        )
    except httpx.TransportError as exc:
        raise TransientError(f"staged upload broke off ({type(exc).__name__})") from exc
    if response.status_code >= 500:
        raise TransientError(f"staged upload answered {response.status_code}")
    if response.status_code >= 300:
        raise BulkOperationError(f"staged upload answered {response.status_code}")
    return str(path)


async def start_bulk_mutation(client: AdminGraphQL, mutation: str, staged_path: str) -> str:
    """Start the bulk mutation; its id. Another one running: TransientError (retry later)."""
    data = await client.query(
        RUN_BULK_MUTATION, {"mutation": mutation, "stagedUploadPath": staged_path}
    )
    result = data.get("bulkOperationRunMutation") or {}
    errors = result.get("userErrors") or []
    if errors:
        message = "; ".join(str(e.get("message", e)) for e in errors)
        if any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors):
            raise TransientError(
                f"a bulk mutation is already running for {client.shop}", retry_after=60.0
            )
        raise BulkOperationError(f"bulk mutation refused for {client.shop}: {message}")
    operation = result.get("bulkOperation") or {}
    if not operation.get("id"):
        raise BulkOperationError(f"bulk mutation for {client.shop} returned no operation")
    return str(operation["id"])


async def bulk_operation_status(client: AdminGraphQL, operation_id: str) -> dict[str, Any]:
    """One poll of a bulk operation (status, errorCode, objectCount, url)."""
    data = await client.query(BULK_OPERATION_STATUS, {"id": operation_id})
    operation = data.get("node")
    if not operation:
        raise BulkOperationError(f"bulk operation {operation_id} not found")
    return dict(operation)


def bulk_failed(status: str | None) -> bool:
    return status in _FAILED


async def bulk_mutation_results(client: AdminGraphQL, url: str) -> AsyncIterator[dict[str, Any]]:
    """Each line of a finished bulk mutation's result: `data` (the mutation's payload) and
    `__lineNumber`, the 0-based line of the uploaded variables it answers."""
    async for obj in _stream_jsonl(client.http, url):
        yield obj
