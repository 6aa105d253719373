"""The review pack from hand-built snapshots: its numbers, its tests, its "what changed" list,
and its three renderings."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date

import pytest

from plugin.review.build import assemble
from plugin.review.pack import InitiativeItem, ReviewPack, Row
from plugin.review.render import CSV_COLUMNS, render
from tests.plugin.review.conftest import february, march


def row(pack: ReviewPack, metric: str) -> Row:
    found = [r for s in pack.sections for r in s.rows if r.metric == metric]
    assert len(found) == 1, metric
    return found[0]


def item(**fields: object) -> InitiativeItem:
    base = InitiativeItem(
        id=7,
        title="Card updater e-mails",
        hypothesis="Reminders before a card expires lift billing success.",
        driver="billing",
        owner="Dana",
        status="done",
        target_metric="billing_success_rate",
        target_label="Billing success rate",
        unit="share",
        expected_direction="up",
        expected_change=0.02,
        starts_on=date(2026, 2, 1),
        ends_on=date(2026, 3, 2),
        window_days=28,
        before=0.9,
        after=0.95,
        effect_change=0.05,
        verdict="real_change",
        verdict_reason=None,
        p_value=0.00726,
        as_expected=True,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.fixture
def pack() -> ReviewPack:
    return assemble("2026-03", march(), february(), [item()])


def test_perception_with_the_nps_z_test(pack: ReviewPack) -> None:
    nps = row(pack, "nps.score")
    assert (nps.value, nps.previous, nps.change) == (35.0, 10.0, 25.0)
    assert nps.note == "95% CI 18.7 to 49.3, n = 100"
    # Adjusted Wald, 40/30/30 → 55/25/20: z = 2.15058, p = 0.03151 (see test_effect).
    assert nps.test is not None and nps.test.kind == "nps"
    assert nps.test.z == pytest.approx(2.15058, abs=1e-5)
    assert nps.test.p_value == pytest.approx(0.03151, abs=1e-5)
    assert nps.test.real
    vfm = row(pack, "value_perception")
    assert vfm.change == pytest.approx(0.1) and vfm.note == "60 answers"
    response = row(pack, "response_rate")
    assert response.test is not None and response.test.z == 0.0 and not response.test.real


def test_cancel_reason_mix_and_capture_rate(pack: ReviewPack) -> None:
    capture = row(pack, "capture_rate")
    assert (capture.value, capture.previous) == (0.8, 0.6)
    # 30/50 → 40/50: pooled 0.7, se = sqrt(0.7 × 0.3 × 2/50) = 0.0916515, z = 2.18218.
    assert capture.test is not None
    assert capture.test.z == pytest.approx(2.18218, abs=1e-5)
    assert capture.test.p_value == pytest.approx(0.029096, abs=1e-6)
    assert capture.test.real
    assert capture.note == "40 of 50"
    expensive = row(pack, "cancel_reasons.too_expensive.share")
    assert expensive.change == pytest.approx(0.3) and expensive.note == "20 of 40 reasons given"
    # 6/30 → 20/40: pooled 26/70, se = sqrt(0.3714 × 0.6286 × (1/30 + 1/40)) = 0.116702,
    # z = 0.3 / 0.116702 = 2.57068, p = 0.01015.
    assert expensive.test is not None and expensive.test.real
    assert expensive.test.z == pytest.approx(2.57068, abs=1e-5)
    assert row(pack, "cancel_reasons.product_quality.share").change == pytest.approx(0.0)
    # A reason given last month and not this month has a true share of 0 now, and vice versa;
    # a count of 0 is too few for the test to call the change real.
    gone = row(pack, "cancel_reasons.taking_a_break.share")
    assert (gone.value, gone.previous) == (0.0, 0.5)
    assert gone.test is not None and not gone.test.real
    new = row(pack, "cancel_reasons.other.share")
    assert (new.value, new.previous) == (0.2, 0.0)
    assert row(pack, "cancellations.system_reasons.unknown").value == 5.0


def test_churn_by_source_from_whole_months(pack: ReviewPack) -> None:
    churn = row(pack, "churn.monthly_rate")
    assert churn.value == pytest.approx(15 / 620) and churn.previous == pytest.approx(0.04)
    # 24/600 → 15/620: z = −1.56902, p = 0.1166: not a real change.
    assert churn.test is not None
    assert churn.test.z == pytest.approx(-1.56902, abs=1e-5)
    assert not churn.test.real
    assert churn.note == "15 of 620 (2026-03)"
    voluntary = row(pack, "churn.voluntary")
    assert voluntary.value == pytest.approx(10 / 620) and voluntary.previous == pytest.approx(0.03)


def test_retention_revenue_and_drivers(pack: ReviewPack) -> None:
    shift = row(pack, "retention.shifts.2026-01.age1")
    assert (shift.value, shift.previous) == (0.80, 0.88)
    assert shift.change == pytest.approx(-0.08)
    after_first = row(pack, "retention.by_order.1.churn_after")
    assert (after_first.value, after_first.previous) == (0.22, 0.2)
    assert [r.metric for r in pack.sections[2].rows if "by_order" in r.metric] == [
        "retention.by_order.1.churn_after",
        "retention.by_order.2.churn_after",
    ]
    mrr = row(pack, "mrr.amount")
    assert (mrr.value, mrr.previous, mrr.change, mrr.currency) == (10_500.0, 10_000.0, 500.0, "USD")
    billing = row(pack, "billing_success_rate")
    assert billing.test is not None and billing.test.z == pytest.approx(2.68462, abs=1e-5)
    # 90-day driver windows a month apart share 60 days: shown, not tested.
    cadence = row(pack, "drivers.cadence_fit")
    assert cadence.change == pytest.approx(0.06)
    assert cadence.test is None
    assert cadence.note is not None and "overlap" in cadence.note


def test_what_changed_is_derived_from_the_rows(pack: ReviewPack) -> None:
    # Real (tested) changes first, strongest first: billing z 2.68, "too expensive" 2.57,
    # capture 2.18, NPS 2.15.
    assert pack.changes == (
        "Billing success rate rose from 90.0% to 95.0%: a real change (p = 0.007).",
        "Cancellations giving “Too expensive” rose from 20.0% to 50.0% of the reasons given: "
        "a real change (p = 0.010).",
        "Capture rate (reason given) rose from 60.0% to 80.0%: a real change (p = 0.029).",
        "NPS rose from 10.0 to 35.0: a real change (p = 0.032).",
        # A cohort shift of at least 5 points in a cohort of at least 30.
        "Cohort 2026-01 still subscribed at month 1: 80.0%, 8.0 points fewer than earlier cohorts.",
        # Figures on everyone (not samples) that moved at least 5 %, largest first.
        "Revenue at risk (MRR) rose 20%, from 1,000.00 USD to 1,200.00 USD.",
        "MRR rose 5%, from 10,000.00 USD to 10,500.00 USD.",
        "Initiative “Card updater e-mails” moved Billing success rate from 90.0% to 95.0% "
        "(+5.0 pts): a real change (p = 0.007).",
    )
    # Left out, each for its reason: churn 4.0% → 2.4% (p = 0.12, not real); "Taking a break"
    # 50% → 0% (a cell of 0: too few to test); active subscribers +3.4 % (under 5 %).
    text = " ".join(pack.changes)
    assert "churn" not in text.lower()
    assert "Taking a break" not in text and "Active subscribers" not in text


def test_a_small_cohort_shift_is_not_news() -> None:
    small = march(cohorts=[{"cohort": "2026-01", "size": 12, "survival": [1.0, 0.8]}])
    pack = assemble("2026-03", small, february(), [])
    assert not any(text.startswith("Cohort") for text in pack.changes)
    assert row(pack, "retention.shifts.2026-01.age1").n == 12


def test_changes_follow_the_data() -> None:
    # Same month against itself: nothing moved; only the cohort shift (a comparison with
    # earlier cohorts, not with last month) is left to report.
    same = assemble("2026-03", march(), march(), [])
    assert len(same.changes) == 1 and same.changes[0].startswith("Cohort 2026-01")
    assert assemble("2026-03", march(shifts=[]), march(shifts=[]), []).changes == ()
    # Too few answers this month: no score, no real change, nothing said about the score.
    small = assemble("2026-03", march(nps=(11, 5, 4)), february(), [])
    nps = row(small, "nps.score")
    assert nps.value is None and nps.note == "not enough answers (20 < 30)"
    assert nps.test is not None and not nps.test.real
    assert not any(text.startswith("NPS rose") for text in small.changes)
    assert "NPS answers fell 80%, from 100 to 20." in small.changes


def test_without_a_previous_month() -> None:
    pack = assemble("2026-03", march(), None, [])
    assert pack.previous_month is None
    assert row(pack, "nps.score").previous is None and row(pack, "nps.score").test is None
    assert "no snapshot of 2026-02 to compare with" in pack.notes
    # Churn still compares whole months from the history the snapshot carries.
    assert row(pack, "churn.monthly_rate").previous == pytest.approx(0.04)


def test_month_in_progress_is_noted() -> None:
    pack = assemble("2026-03", march(as_of="2026-03-12"), february(), [])
    assert "2026-03 is not over: figures as of 2026-03-12" in pack.notes


def test_february_windows_overlap_january_so_nps_uses_the_engines_comparison() -> None:
    jan = march(window={"start": "2026-01-02", "end": "2026-01-31"})
    feb = march(window={"start": "2026-01-30", "end": "2026-02-28"})
    feb["nps"]["change"] = {
        "delta": 5.0,
        "z": 0.5,
        "p_value": 0.62,
        "real": False,
        "previous_score": 30.0,
        "previous_responses": 90,
        "reason": "not significant (p = 0.620 ≥ 0.05)",
    }
    nps = row(assemble("2026-02", feb, jan, []), "nps.score")
    assert nps.previous == 30.0 and nps.test is not None and nps.test.z == 0.5
    assert nps.note is not None and "30 days before" in nps.note
    billing = row(assemble("2026-02", feb, jan, []), "billing_success_rate")
    assert billing.test is None and billing.note is not None and "overlap" in billing.note


# ---- rendering ------------------------------------------------------------------------------


def test_html_is_self_contained_and_escapes_merchant_text() -> None:
    evil = "<script>alert('x')</script>"
    reasons = [("too_expensive", '<img src=x onerror="alert(1)">', 40, "price_value")]
    pack = assemble(
        "2026-03",
        march(reasons=reasons),
        february(),
        [item(title=evil, hypothesis="a & b", owner="<b>me</b>")],
    )
    html = render(pack, "html")
    assert evil not in html and "<img" not in html and "<b>me</b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "a &amp; b" in html
    # Self-contained: no script, no external stylesheet or image; printable.
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert "@media print" in html
    assert "Monthly value review · 2026-03" in html
    assert "real change (p = 0.032)" in html  # the NPS verdict


def test_csv_has_one_metric_per_row() -> None:
    pack = assemble("2026-03", march(), february(), [item()])
    rows = list(csv.reader(io.StringIO(render(pack, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert all(len(r) == 5 for r in rows)
    by_metric = {r[1]: r for r in rows[1:]}
    assert len(by_metric) == len(rows) - 1  # one row per metric
    assert by_metric["nps.score"] == ["perception", "nps.score", "35.0", "10.0", "25.0"]
    assert by_metric["mrr.amount"] == ["revenue", "mrr.amount", "10500.0", "10000.0", "500.0"]
    assert by_metric["initiatives.7.billing_success_rate"][2:4] == ["0.95", "0.9"]
    # A value without a previous one leaves previous and change empty.
    alone = list(csv.reader(io.StringIO(render(assemble("2026-03", march(), None, []), "csv"))))
    assert {r[1]: r for r in alone[1:]}["nps.score"][3:] == ["", ""]


def test_json_round_trips() -> None:
    pack = assemble("2026-03", march(), february(), [item()])
    doc = json.loads(render(pack, "json"))
    assert doc["month"] == "2026-03" and doc["previous_month"] == "2026-02"
    assert doc["as_of"] == "2026-03-31" and doc["window"] == ["2026-03-02", "2026-03-31"]
    assert doc["changes"] == list(pack.changes)
    nps = next(r for s in doc["sections"] for r in s["rows"] if r["metric"] == "nps.score")
    assert nps["change"] == 25.0 and nps["test"]["real"] is True
    assert doc["initiatives"][0]["starts_on"] == "2026-02-01"


def test_unknown_format_is_refused(pack: ReviewPack) -> None:
    with pytest.raises(ValueError, match="format"):
        render(pack, "pdf")
