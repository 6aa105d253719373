"""`valuehealth score SHOP`: recompute one shop now and describe its value health in text."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from plugin.models import Shop
from plugin.runtime import Runtime
from plugin.scoring.metrics_doc import OverviewDoc
from plugin.scoring.recompute import (
    BACKFILL_MONTHS,
    RecomputeOutcome,
    ShopNotFound,
    recompute_shop_now,
)


@dataclass(frozen=True)
class ScoreSummary:
    shop: str
    outcome: RecomputeOutcome

    @property
    def overview(self) -> OverviewDoc:
        return self.outcome.overview


async def score_shop_now(runtime: Runtime, shop_domain: str) -> ScoreSummary:
    """Recompute the shop (waiting for a recompute already running) and store the results,
    with every missing month-end of the past year (the user is waiting for the full picture).
    Raises ShopNotFound for a domain we have no record of."""
    async with runtime.sessionmaker() as session:
        shop_id = await session.scalar(select(Shop.id).where(Shop.domain == shop_domain))
    if shop_id is None:
        raise ShopNotFound(
            f"no shop {shop_domain} in this database (it appears once Shopify sends its "
            "first webhook or the merchant opens the app)"
        )
    outcome = await recompute_shop_now(runtime, shop_id, wait=True, backfill=BACKFILL_MONTHS)
    assert outcome is not None  # wait=True always gets its turn
    return ScoreSummary(shop_domain, outcome)


def _money(amount: float | None, currency: str | None) -> str:
    if amount is None:
        return "n/a"
    return f"{amount:,.2f} {currency or ''}".rstrip()


def _pct(value: float | None, why: str | None = None) -> str:
    if value is None:
        return f"n/a ({why})" if why else "n/a"
    return f"{100 * value:.1f}%"


def format_summary(summary: ScoreSummary) -> str:
    """The shop's value health as a few lines of plain text."""
    doc = summary.overview
    missing = doc["missing"]
    mrr = doc["mrr"]
    churn = doc["churn"]
    nps = doc["nps"]
    timing = summary.outcome.seconds
    lines = [
        f"Value health of {summary.shop} as of {doc['as_of']}",
        f"  subscribers      {doc['subscribers']['active']:,} active, "
        f"{doc['subscribers']['paused']:,} paused",
        f"  MRR              {_money(mrr['amount'], mrr['currency'])}",
    ]
    others = {k: v for k, v in mrr["by_currency"].items() if k != mrr["currency"]}
    if others:
        lines.append(
            "                   also " + ", ".join(_money(v, k) for k, v in others.items())
        )
    lines += [
        f"  ARPU             {_money(doc['arpu']['amount'], doc['arpu']['currency'])}",
        f"  churn ({churn['month'] or 'n/a'})  "
        f"{_pct(churn['monthly_rate'], missing.get('churn.monthly_rate'))}"
        + (
            f"  voluntary {_pct(churn['voluntary'])}, involuntary {_pct(churn['involuntary'])},"
            f" merchant {_pct(churn['merchant'])}, expired {_pct(churn['expired'])},"
            f" source unknown {_pct(churn['unknown'])}"
            if churn["monthly_rate"] is not None
            else ""
        ),
        f"  billing success  "
        f"{_pct(doc['billing_success_rate'], missing.get('billing_success_rate'))}",
    ]
    if nps["score"] is None:
        lines.append(f"  NPS              n/a ({nps['reason']})")
    else:
        lines.append(
            f"  NPS              {nps['score']:.0f} (n={nps['responses']}, 95% CI "
            f"{nps['ci_low']:.0f} to {nps['ci_high']:.0f})"
        )
    lines.append(f"  capture rate     {_pct(doc['capture_rate'], missing.get('capture_rate'))}")
    for reason in doc["cancel_reasons"][:5]:
        lines.append(f"    {reason['label']:<38} {reason['count']:>5}  {_pct(reason['share'])}")
    at_risk = doc["revenue_at_risk"]
    lines.append(f"  revenue at risk  {_money(at_risk['amount'], at_risk['currency'])}")
    model = doc["retention"]["model"]
    if model["converged"]:
        lines.append(f"  retention model  sBG alpha={model['alpha']:.3f} beta={model['beta']:.3f}")
    else:
        lines.append(f"  retention model  {model['source']} ({model['reason']})")
    risk = doc["risk_model"]
    if risk is not None:
        auc = f", holdout AUC {risk['auc']:.3f}" if risk["auc"] is not None else ""
        lines.append(f"  churn risk       {risk['method']}{auc}")
    if doc["segments"]:
        lines.append(
            "  segments         "
            + ", ".join(f"{name} {count:,}" for name, count in doc["segments"].items() if count)
        )
    if summary.outcome.months:
        lines.append(f"  month snapshots  {', '.join(summary.outcome.months)} filled in")
    lines.append(
        f"  computed in {timing.get('total', 0.0):.2f}s for "
        f"{summary.outcome.subscribers:,} subscribers"
        + ("" if summary.outcome.stored else " (a newer result was already stored)")
    )
    return "\n".join(lines)
