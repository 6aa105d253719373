"""Why an event could not be processed: bad data (final) or a dependency not there yet (retry)."""

from __future__ import annotations

from plugin.queue import TransientError


class MalformedPayload(ValueError):
    """The payload lacks a field we need or has the wrong type. Retrying cannot help."""


class ContractNotYetKnown(TransientError):
    """An event refers to a subscription contract whose own webhook has not been processed yet.

    Deliveries are unordered, so this is usually seconds away; if the contract predates the
    install, `valuehealth backfill` imports it and the sweeper then processes the event.
    """

    def __init__(self, contract_id: int) -> None:
        super().__init__(f"subscription contract {contract_id} not known yet", retry_after=30.0)
        self.contract_id = contract_id
