"""Why an event could not be processed: bad data (final) or a dependency not there yet (retry)."""

from __future__ import annotations

from collections.abc import Iterable

from plugin.failures import describe
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


def waiting_for(contract_ids: Iterable[int]) -> list[str]:
    """The error recorded on an event row waiting for each of these contracts (`describe` of
    its `ContractNotYetKnown`): how the inbox finds the rows to try again once one arrives."""
    return [describe(ContractNotYetKnown(contract_id)) for contract_id in contract_ids]
