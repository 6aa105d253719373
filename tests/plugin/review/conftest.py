"""Hand-built month snapshots for the review pack: March 2026 against February 2026."""

from __future__ import annotations

from datetime import date
from typing import Any

from plugin.scoring.metrics_doc import OverviewDoc, empty_overview

SHOP = "review-shop.myshopify.com"


def month_doc(month: str, **values: Any) -> OverviewDoc:
    """A stored-looking metrics document for the last day of `month` (keys as metrics_doc)."""
    mon = int(month.split("-")[1])
    last = {2: 28, 3: 31, 4: 30}[mon]
    doc = empty_overview(SHOP)
    doc["status"] = "ok"
    doc["computed_at"] = f"{month}-{last:02d}T23:00:00+00:00"
    doc["as_of"] = values.get("as_of", f"{month}-{last:02d}")
    doc["window"] = values["window"]
    doc["driver_window"] = values["driver_window"]
    p, q, r = values["nps"]
    n = p + q + r
    enough = n >= 30
    doc["nps"].update(
        {
            "promoters": p,
            "passives": q,
            "detractors": r,
            "responses": n,
            "score": 100 * (p - r) / n if enough else None,
            "ci_low": values.get("ci", (None, None))[0] if enough else None,
            "ci_high": values.get("ci", (None, None))[1] if enough else None,
            "enough_answers": enough,
            "reason": None if enough else f"not enough answers ({n} < 30)",
        }
    )
    doc["subscribers"] = {"active": values["active"], "paused": 4}
    doc["mrr"] = {"amount": values["mrr"], "currency": "USD", "by_currency": {}}
    doc["arpu"] = {"amount": 35.0, "currency": "USD", "by_currency": {}}
    doc["revenue_at_risk"] = {"amount": values["at_risk"], "currency": "USD", "by_currency": {}}
    doc["predicted_ltv"] = {"amount": 410.0, "currency": "USD", "by_currency": {}}
    billing, capture, cadence = values["billing"], values["capture"], values["cadence"]
    doc["billing_success_rate"] = billing[0] / billing[1]
    doc["capture_rate"] = capture[0] / capture[1]
    doc["response_rate"] = 0.25
    doc["value_perception"] = values["vfm"]
    doc["drivers"] = {
        "cadence_fit": cadence[0] / cadence[1],
        "self_serve": 0.4,
        "delivery_days_median": 3.0,
    }
    doc["details"] = {
        "billing_success_rate": {"numerator": billing[0], "denominator": billing[1]},
        "capture_rate": {"numerator": capture[0], "denominator": capture[1]},
        "response_rate": {"numerator": 100, "denominator": 400},
        "value_perception": {"answers": 60},
        "cadence_fit": {"numerator": cadence[0], "denominator": cadence[1]},
        "self_serve": {"numerator": 40, "denominator": 100},
        "delivery_days_median": {"deliveries": 250},
    }
    doc["cancellations"] = {
        "total": capture[1],
        "with_customer_reason": capture[0],
        "system_reasons": {"payment_failed": 5, "unknown": capture[1] - capture[0] - 5},
    }
    doc["cancel_reasons"] = [
        {"code": code, "label": label, "count": n, "share": n / capture[0], "driver": driver}
        for code, label, n, driver in values["reasons"]
    ]
    doc["churn"]["history"] = values.get("churn_history", [])
    doc["retention"]["shifts"] = values.get("shifts", [])
    doc["retention"]["cohorts"] = values.get("cohorts", [])
    doc["retention"]["by_order"] = values.get("by_order", [])
    doc["missing"] = {}
    return doc


def churn_month(month: str, churned: int, base: int, voluntary: int, involuntary: int) -> dict:
    return {
        "month": month,
        "rate": churned / base,
        "churned": churned,
        "active_at_start": base,
        "voluntary": voluntary,
        "involuntary": involuntary,
        "merchant": 0,
        "expired": 0,
        "unknown": churned - voluntary - involuntary,
    }


def february() -> OverviewDoc:
    return month_doc(
        "2026-02",
        window={"start": "2026-01-30", "end": "2026-02-28"},
        driver_window={"start": "2025-12-01", "end": "2026-02-28"},
        nps=(40, 30, 30),
        active=290,
        mrr=10_000.0,
        at_risk=1_000.0,
        billing=(360, 400),
        capture=(30, 50),
        cadence=(700, 1000),
        vfm=4.0,
        reasons=[
            ("too_expensive", "Too expensive", 6, "price_value"),
            ("product_quality", "Product quality", 9, "product_fit"),
            ("taking_a_break", "Taking a break", 15, "life_change"),
        ],
        by_order=[{"orders": 1, "survival": 0.8, "at_risk": 500, "churn_after": 0.2}],
    )


def march(**overrides: Any) -> OverviewDoc:
    values: dict[str, Any] = {
        "window": {"start": "2026-03-02", "end": "2026-03-31"},
        "driver_window": {"start": "2026-01-01", "end": "2026-03-31"},
        "nps": (55, 25, 20),
        "ci": (18.69, 49.28),
        "active": 300,
        "mrr": 10_500.0,
        "at_risk": 1_200.0,
        "billing": (380, 400),
        "capture": (40, 50),
        "cadence": (760, 1000),
        "vfm": 4.1,
        "reasons": [
            ("too_expensive", "Too expensive", 20, "price_value"),
            ("product_quality", "Product quality", 12, "product_fit"),
            ("other", "Other", 8, "other"),
        ],
        "churn_history": [
            churn_month("2026-02", 24, 600, 18, 6),
            churn_month("2026-03", 15, 620, 10, 5),
        ],
        "cohorts": [{"cohort": "2026-01", "size": 120, "survival": [1.0, 0.8]}],
        "shifts": [
            {
                "cohort": "2026-01",
                "age": 1,
                "recent": 0.80,
                "baseline": 0.88,
                "shift": -0.08,
                "n_earlier": 6,
            }
        ],
        "by_order": [
            {"orders": 1, "survival": 0.78, "at_risk": 520, "churn_after": 0.22},
            {"orders": 2, "survival": 0.7, "at_risk": 400, "churn_after": 0.1},
            {"orders": 4, "survival": 0.6, "at_risk": 200, "churn_after": 0.05},
        ],
    }
    return month_doc("2026-03", **{**values, **overrides})


FIRST_OF_MARCH = date(2026, 3, 1)
