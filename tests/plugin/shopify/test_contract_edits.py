"""Contract changes through the Admin GraphQL API, against the fake Shopify: the exact documents
and variables sent, user errors with a clear message and nothing half-done, throttling retried,
a contract changed meanwhile reported."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from plugin.queue import TransientError
from plugin.settings import Settings
from plugin.shopify.contract_edits import (
    ACTIVATE_MUTATION,
    CANCEL_MUTATION,
    CONTRACT_UPDATE_MUTATION,
    DRAFT_COMMIT_MUTATION,
    DRAFT_DISCOUNT_ADD_MUTATION,
    DRAFT_LINE_UPDATE_MUTATION,
    DRAFT_UPDATE_MUTATION,
    PAUSE_MUTATION,
    SKIP_MUTATION,
    UNSKIP_MUTATION,
    Cadence,
    ContractEditor,
    ContractEditRefused,
)
from plugin.shopify.graphql import AdminGraphQL
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP

GID = "gid://shopify/SubscriptionContract/5"
LINE = "gid://shopify/SubscriptionLine/5-1"


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def editor(fake: FakeShopify, settings: Settings, sleeps: Sleeps) -> ContractEditor:
    fake.add_contract(contract_id=5, customer_id=50)
    client = AdminGraphQL(
        fake.client(), settings, SHOP, fake.grant_token(), sleep=sleeps, rand=lambda: 0.0
    )
    return ContractEditor(client)


def sent(fake: FakeShopify) -> list[tuple[str, dict[str, Any]]]:
    """(document, variables) of every GraphQL request, in order."""
    return [(r.json()["query"], r.json().get("variables") or {}) for r in fake.requests]


async def test_skip_sends_the_skip_mutation_for_that_cycle_and_the_fake_records_it(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    await editor.skip_cycle(GID, 4)
    assert sent(fake) == [(SKIP_MUTATION, {"contractId": GID, "index": 4})]
    assert fake.changes == [("skip", GID, {"index": 4})]
    await editor.unskip_cycle(GID, 4)
    assert sent(fake)[1] == (UNSKIP_MUTATION, {"contractId": GID, "index": 4})
    assert fake.contracts[SHOP][GID].skipped == set()


@pytest.mark.parametrize(
    ("method", "document", "status"),
    [
        ("pause", PAUSE_MUTATION, "PAUSED"),
        ("resume", ACTIVATE_MUTATION, "ACTIVE"),
        ("cancel", CANCEL_MUTATION, "CANCELLED"),
    ],
)
async def test_status_changes_send_their_mutation_with_the_contract_id(
    fake: FakeShopify, editor: ContractEditor, method: str, document: str, status: str
) -> None:
    await getattr(editor, method)(GID)
    assert sent(fake) == [(document, {"contractId": GID})]
    assert fake.contracts[SHOP][GID].status == status


async def test_a_quantity_change_opens_a_draft_updates_the_line_and_commits(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    await editor.set_quantity(GID, LINE, 3)
    [(open_doc, open_vars), (line_doc, line_vars), (commit_doc, commit_vars)] = sent(fake)
    assert (open_doc, open_vars) == (CONTRACT_UPDATE_MUTATION, {"contractId": GID})
    draft = line_vars["draftId"]
    assert draft.startswith("gid://shopify/SubscriptionContractDraft/")
    assert (line_doc, line_vars) == (
        DRAFT_LINE_UPDATE_MUTATION,
        {"draftId": draft, "lineId": LINE, "input": {"quantity": 3}},
    )
    assert (commit_doc, commit_vars) == (DRAFT_COMMIT_MUTATION, {"draftId": draft})
    assert fake.contracts[SHOP][GID].lines[0].quantity == 3


async def test_a_plan_change_sets_both_policies_and_the_lines_plan(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    fake.add_selling_plan_group(
        plans=[(7001, "Every month", "MONTH", 1), (7002, "Every 2 months", "MONTH", 2)]
    )
    contract = await editor.contract(GID)
    assert contract is not None
    choices = await editor.plan_choices(contract.lines[0])
    assert [(c.name, c.delivery) for c in choices] == [
        ("Every month", Cadence("MONTH", 1)),
        ("Every 2 months", Cadence("MONTH", 2)),
    ]
    fake.requests.clear()
    await editor.change_plan(contract, choices[1])
    calls = sent(fake)
    draft = calls[1][1]["draftId"]
    policy = {"interval": "MONTH", "intervalCount": 2}
    assert calls[1] == (
        DRAFT_UPDATE_MUTATION,
        {"draftId": draft, "input": {"billingPolicy": policy, "deliveryPolicy": policy}},
    )
    assert calls[2] == (
        DRAFT_LINE_UPDATE_MUTATION,
        {
            "draftId": draft,
            "lineId": LINE,
            "input": {
                "sellingPlanId": "gid://shopify/SellingPlan/7002",
                "sellingPlanName": "Every 2 months",
            },
        },
    )
    stored = fake.contracts[SHOP][GID]
    assert (stored.billing, stored.delivery) == (("MONTH", 2), ("MONTH", 2))
    assert stored.lines[0].selling_plan_name == "Every 2 months"


async def test_a_discount_applies_a_percentage_to_all_lines_for_n_orders(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    await editor.add_discount(GID, percentage=20, orders=3, title="Stay with us")
    [_, (doc, variables), _] = sent(fake)
    assert (doc, variables) == (
        DRAFT_DISCOUNT_ADD_MUTATION,
        {
            "draftId": variables["draftId"],
            "input": {
                "title": "Stay with us",
                "value": {"percentage": 20},
                "recurringCycleLimit": 3,
                "entitledLines": {"all": True},
            },
        },
    )
    [discount] = fake.contracts[SHOP][GID].discounts
    assert discount["recurringCycleLimit"] == 3


async def test_a_new_billing_date_goes_through_a_draft(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    await editor.set_next_billing_date(GID, date(2026, 9, 1))
    assert sent(fake)[1][1]["input"] == {"nextBillingDate": "2026-09-01T00:00:00Z"}
    assert fake.contracts[SHOP][GID].next_billing_date == "2026-09-01T00:00:00Z"


async def test_a_refused_line_update_leaves_the_draft_uncommitted_and_the_contract_unchanged(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    with pytest.raises(ContractEditRefused) as refused:
        await editor.set_quantity(GID, LINE, 0)
    assert refused.value.message == "The quantity must be at least 1."
    assert refused.value.field == "input.quantity"
    assert not any(doc == DRAFT_COMMIT_MUTATION for doc, _ in sent(fake))
    assert fake.contracts[SHOP][GID].lines[0].quantity == 1
    assert fake.changes == []


async def test_a_refused_commit_changes_nothing(fake: FakeShopify, editor: ContractEditor) -> None:
    fake.refuse_next("subscriptionDraftCommit", "Delivery method is invalid")
    with pytest.raises(ContractEditRefused) as refused:
        await editor.add_discount(GID, percentage=10, orders=2, title="Thanks")
    assert refused.value.message == (
        "Shopify could not make this change: Delivery method is invalid."
    )
    assert fake.contracts[SHOP][GID].discounts == []
    assert fake.changes == []


async def test_a_contract_changed_meanwhile_is_reported_and_not_overwritten(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    fake.change_contract_before_next_commit(GID)
    with pytest.raises(ContractEditRefused) as refused:
        await editor.set_quantity(GID, LINE, 2)
    assert refused.value.changed_meanwhile
    assert "changed by someone else" in refused.value.message
    assert fake.contracts[SHOP][GID].lines[0].quantity == 1


async def test_a_terminated_contract_gives_a_plain_message(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    fake.contracts[SHOP][GID].status = "CANCELLED"
    with pytest.raises(ContractEditRefused) as refused:
        await editor.pause(GID)
    assert refused.value.code == "CONTRACT_TERMINATED"
    assert refused.value.message == "This subscription has ended and can no longer be changed."
    with pytest.raises(ContractEditRefused):
        await editor.skip_cycle(GID, 4)
    assert fake.changes == []


async def test_throttling_is_waited_out_and_the_mutation_sent_once(
    fake: FakeShopify, editor: ContractEditor, sleeps: Sleeps
) -> None:
    fake.throttle(2, requested=10, available=0, restore_rate=50)
    await editor.pause(GID)
    assert sleeps == [0.5, 0.5]  # (10 − 0) / 50 = 0.2 s, raised to the 0.5 s floor
    assert fake.changes == [("pause", GID, {})]


async def test_throttling_without_end_raises_transient_and_changes_nothing(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    fake.throttle(10, requested=10, available=0, restore_rate=50)
    with pytest.raises(TransientError):
        await editor.skip_cycle(GID, 4)
    assert fake.changes == []


async def test_upcoming_cycles_come_in_order_with_their_skips(
    fake: FakeShopify, editor: ContractEditor
) -> None:
    fake.contracts[SHOP][GID].skipped.add(5)
    cycles = await editor.upcoming_cycles(
        GID, datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 8, 30, tzinfo=UTC)
    )
    assert [(c.index, c.expected_at.date(), c.skipped) for c in cycles] == [
        (4, date(2026, 6, 1), False),
        (5, date(2026, 7, 1), True),
        (6, date(2026, 8, 1), False),
    ]
