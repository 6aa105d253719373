// Cancellations: why subscribers leave (the reason mix and its value drivers), how often they
// tell us, who ended the subscription (churn by source), and the mix over time.
import { h, fill } from "../lib/dom.js";
import { percent, number, date, isNum, DASH, label } from "../lib/format.js";
import { loading, empty, failed, loaded } from "../lib/states.js";
import { barChart, chartWidth, PALETTE } from "../lib/charts.js";
import { table, select } from "../lib/controls.js";
import { explain } from "../lib/explain.js";

const RANGES = [["6", "Last 6 months"], ["12", "Last 12 months"], ["24", "Last 24 months"]];
const SOURCES = [["voluntary", "Customer cancelled"], ["involuntary", "Payment failed"], ["merchant", "Merchant cancelled"], ["expired", "Plan ran out"], ["unknown", "Unknown"]];

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
    empty(root, "No cancellations to show yet", "Figures appear after the first recompute.", { label: "See the setup checklist", href: ctx.href("/app") });
    return;
  }
  const reasons = doc.cancel_reasons || [];
  const window = doc.window ? `${date(doc.window.start)} – ${date(doc.window.end)}` : "the last 30 days";
  const total = (doc.cancellations || {}).total || 0;
  const widest = Math.max(0.0001, ...reasons.map((r) => r.share || 0));
  const drivers = {};
  for (const r of reasons) drivers[r.driver || "other"] = (drivers[r.driver || "other"] || 0) + r.share;
  const system = Object.entries((doc.cancellations || {}).system_reasons || {});
  const range = select({ label: "Date range", name: "range", value: ctx.params.get("range") || "12", options: RANGES,
    onChange: (v) => { const p = new URLSearchParams(ctx.params); p.set("range", v); ctx.setParams(p); drawHistory(); } });
  const historyBox = h("div", { style: "min-height:300px" });
  fill(root,
    h("div", { class: "vh-grid-2" },
      h("s-section", { heading: "Why subscribers cancel" },
        h("p", { class: "vh-muted vh-small", "data-value": "capture_rate" },
          isNum(doc.capture_rate)
            ? `${window}: ${number(total)} cancellations; ${percent(doc.capture_rate, 0)} came with a reason from the subscriber.`
            : `${window}: ${(doc.missing || {}).capture_rate || "no cancellations"}.`, explain("capture_rate")),
        reasons.length
          ? table([{ title: "Reason" }, { title: "Points at" }, { title: "Count", numeric: true }, { title: "Share of reasons" }],
            reasons.map((r) => [r.label || r.code, r.driver ? label(r.driver) : DASH, number(r.count),
              h("span", {}, h("span", { class: "vh-bar", style: `width:${Math.round((80 * (r.share || 0)) / widest)}px`, "aria-hidden": "true" }), percent(r.share, 0))]),
            { caption: "Cancel reasons" })
          : h("p", { class: "vh-muted" }, "No cancellation with a reason in the window."),
        system.length ? h("p", { class: "vh-muted vh-small", style: "margin-top:8px" }, `Without a customer reason: ${system.map(([k, n]) => `${label(k)} ${number(n)}`).join(" · ")}.`) : null),
      h("s-section", { heading: "What the reasons point at" },
        h("p", { class: "vh-muted vh-small" }, "Each reason points at a value driver: the part of the offer to fix.", explain("cancel_reasons")),
        Object.keys(drivers).length
          ? h("ul", { class: "vh-list" }, Object.entries(drivers).sort((a, b) => b[1] - a[1]).map(([d, share]) => h("li", { class: "vh-spread" }, h("span", {}, label(d)), h("strong", { class: "vh-num" }, percent(share, 0)))))
          : h("p", { class: "vh-muted" }, "Nothing to group yet."),
        h("s-heading", { style: "margin-top:12px" }, `Who ended subscriptions in ${date((doc.churn || {}).month)}`, explain("churn_split")),
        h("ul", { class: "vh-list" }, SOURCES.map(([k, text]) => h("li", { class: "vh-spread" }, h("span", {}, text), h("span", { class: "vh-num" }, percent((doc.churn || {})[k]))))))),
    h("s-section", { heading: "Reasons over time" }, h("div", { class: "vh-toolbar" }, range.el), historyBox));

  async function drawHistory() {
    loading(historyBox, 6);
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
    const counts = {};
    for (const m of months) for (const r of m.cancel_reasons) counts[r.code] = [(counts[r.code] || [0])[0] + r.count, r.label];
    const top = Object.entries(counts).sort((a, b) => b[1][0] - a[1][0]);
    const shown = top.slice(0, 5).map(([code]) => code);
    const series = shown.map((code, i) => ({ name: counts[code][1], color: PALETTE[i], values: months.map((m) => (m.cancel_reasons.find((r) => r.code === code) || { count: 0 }).count) }));
    if (top.length > shown.length) {
      series.push({ name: "Other reasons", color: PALETTE[5], values: months.map((m) => m.cancel_reasons.filter((r) => !shown.includes(r.code)).reduce((s, r) => s + r.count, 0)) });
    }
    fill(historyBox,
      h("p", { class: "vh-muted vh-small" }, "Cancellations with a customer reason, by reason, in the 30 days before each month's end."),
      barChart({ title: "Cancel reasons by month", width: chartWidth(historyBox), labels: months.map((m) => m.month), formatX: (m) => date(m), format: (v) => number(v), series }));
    loaded(historyBox);
  }
  drawHistory();
  loaded(root);
}
