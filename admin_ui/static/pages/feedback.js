// Feedback: NPS with its interval (in words and as a band over time, with the answer counts),
// the promoter / passive / detractor split, value for money and the survey response rate.
import { h, fill } from "../lib/dom.js";
import { percent, number, date, signed, isNum, DASH } from "../lib/format.js";
import { loading, empty, failed, loaded } from "../lib/states.js";
import { lineChart, barChart, chartWidth, PALETTE } from "../lib/charts.js";
import { select } from "../lib/controls.js";
import { explain } from "../lib/explain.js";
import { npsSentence } from "../lib/words.js";

const RANGES = [["6", "Last 6 months"], ["12", "Last 12 months"], ["24", "Last 24 months"]];

export async function render(root, ctx) {
  loading(root, 10);
  let doc;
  try {
    doc = await ctx.api("/api/admin/overview");
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  if (!ctx.current()) return;
  if (!doc.computed_at) {
    empty(root, "No answers yet", "NPS and value for money appear once subscribers answer the survey and the shop has been scored.", { label: "See where to place the survey", href: ctx.href("/app") });
    return;
  }
  const nps = doc.nps || {};
  const change = nps.change || {};
  const n = nps.responses || 0;
  const split = n ? [["Promoters (9–10)", nps.promoters, "success"], ["Passives (7–8)", nps.passives, null], ["Detractors (0–6)", nps.detractors, "critical"]] : [];
  const range = select({ label: "Date range", name: "range", value: ctx.params.get("range") || "12", options: RANGES,
    onChange: (v) => { const p = new URLSearchParams(ctx.params); p.set("range", v); ctx.setParams(p); drawHistory(); } });
  const historyBox = h("div", { style: "min-height:560px" });
  const details = doc.details || {};
  fill(root,
    h("div", { class: "vh-grid-3" },
      h("s-section", { heading: "Net Promoter Score" },
        h("div", { class: "vh-tile-value", "data-value": "nps" }, isNum(nps.score) ? number(nps.score) : "Not enough answers", explain("nps")),
        h("s-paragraph", {}, npsSentence(nps)),
        isNum(change.delta)
          ? h("s-paragraph", { class: "vh-muted" }, `${signed(change.delta, "points")} against the 30 days before (${number(change.previous_responses)} answers then): ${change.real ? "a real change" : "this could be chance"}${isNum(change.p_value) ? ` (p = ${change.p_value.toFixed(3)})` : ""}.`)
          : h("s-paragraph", { class: "vh-muted" }, change.reason || "")),
      h("s-section", { heading: "Who answered what" },
        split.length
          ? h("ul", { class: "vh-list" }, split.map(([text, count]) => h("li", { class: "vh-spread" }, h("span", {}, text), h("span", { class: "vh-num" }, `${number(count)} · ${percent(count / n, 0)}`))))
          : h("p", { class: "vh-muted" }, "No answers in the window.")),
      h("s-section", { heading: "Value for money" },
        h("div", { class: "vh-tile-value", "data-value": "value_perception" }, isNum(doc.value_perception) ? `${doc.value_perception.toFixed(2)} / 5` : DASH, explain("value_perception")),
        h("s-paragraph", { class: "vh-muted" }, isNum(doc.value_perception)
          ? `From ${number((details.value_perception || {}).answers)} answers to “Is it good value for money?” (1 = poor, 5 = excellent).`
          : (doc.missing || {}).value_perception || ""),
        h("s-paragraph", { class: "vh-muted" }, "Survey response rate: ", h("strong", { "data-value": "response_rate" }, percent(doc.response_rate, 0)),
          (details.response_rate || {}).denominator ? ` (${number(details.response_rate.numerator)} of ${number(details.response_rate.denominator)} invitations)` : "", explain("response_rate")))),
    h("s-section", { heading: "Over time" }, h("div", { class: "vh-toolbar" }, range.el), historyBox));

  async function drawHistory() {
    loading(historyBox, 8);
    let body;
    try {
      body = await ctx.api(`/api/admin/history?months=${range.read()}`);
    } catch (error) {
      failed(historyBox, error, drawHistory);
      return;
    }
    if (!ctx.current()) return;
    const months = body.months;
    if (!months.length) {
      empty(historyBox, "No monthly history yet", "Each month's figures are kept once it has been scored.");
      return;
    }
    const labels = months.map((m) => m.month);
    const width = chartWidth(historyBox);
    fill(historyBox,
      h("s-heading", {}, "NPS with its 95% interval", explain("nps")),
      lineChart({ title: "NPS by month with its 95% interval", width, labels, formatX: (m) => date(m), zero: false, format: (v) => number(v),
        series: [{ name: "NPS", values: months.map((m) => m.nps.score), band: months.map((m) => [m.nps.ci_low, m.nps.ci_high]), color: PALETTE[2], dots: true }] }),
      h("p", { class: "vh-muted vh-small" }, "The shaded band is where the true score lies with 95% confidence; it narrows as more subscribers answer. A month with fewer than 30 answers has no score."),
      h("s-heading", { style: "margin-top:12px" }, "Answers per month"),
      barChart({ title: "Survey answers per month", width, labels, formatX: (m) => date(m), format: (v) => number(v), height: 160,
        series: [
          { name: "Promoters", values: months.map((m) => m.nps.promoters), color: PALETTE[2] },
          { name: "Passives", values: months.map((m) => m.nps.passives), color: "#b5b5b5" },
          { name: "Detractors", values: months.map((m) => m.nps.detractors), color: PALETTE[4] },
        ] }),
      h("s-heading", { style: "margin-top:12px" }, "Value for money (1–5)", explain("value_perception")),
      lineChart({ title: "Value for money by month", width, labels, formatX: (m) => date(m), zero: false, height: 160, format: (v) => v.toFixed(2),
        series: [{ name: "Value for money", values: months.map((m) => m.value_perception), color: PALETTE[3], dots: true }] }));
    loaded(historyBox);
  }
  drawHistory();
  loaded(root);
}
