// Retention: Kaplan–Meier curves by monthly cohort with the retention model's projection
// drawn beyond the data, the cohort heatmap by month, and retention by order number.
import { h, fill } from "../lib/dom.js";
import { percent, number, date, isNum } from "../lib/format.js";
import { loading, empty, failed, loaded } from "../lib/states.js";
import { lineChart, heatmap, chartWidth, PALETTE } from "../lib/charts.js";
import { table, select } from "../lib/controls.js";
import { explain } from "../lib/explain.js";
import { retentionSentence } from "../lib/words.js";

const HORIZON = 24;
const RANGES = [["6", "Last 6 cohorts"], ["12", "Last 12 cohorts"], ["24", "Last 24 cohorts"]];
const CURVES = 5;

/** sBG survival after t renewal opportunities: Π_{i<t} (β+i)/(α+β+i). */
export function sbgSurvival(alpha, beta, t) {
  let s = 1;
  for (let i = 0; i < t; i += 1) s *= (beta + i) / (alpha + beta + i);
  return s;
}

export async function render(root, ctx) {
  loading(root, 10);
  let body;
  let overview;
  try {
    [body, overview] = await Promise.all([ctx.api("/api/admin/retention"), ctx.api("/api/admin/overview")]);
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  if (!ctx.current()) return;
  if (!body.computed_at || !(body.cohorts || []).length) {
    empty(root, "No retention yet", "Retention appears after the first recompute, once subscribers have at least one month of history.", { label: "See the setup checklist", href: ctx.href("/app") });
    return;
  }
  const range = select({ label: "Cohorts", name: "cohorts", value: ctx.params.get("cohorts") || "12", options: RANGES,
    onChange: (v) => { const p = new URLSearchParams(ctx.params); p.set("cohorts", v); ctx.setParams(p); draw(); } });
  const curves = h("div", { style: "min-height:300px" });
  const heat = h("div", {});
  const byOrder = h("div", {});
  const model = body.model || {};
  fill(root,
    h("s-section", { heading: "How long subscribers stay" },
      h("s-paragraph", {}, retentionSentence(overview), " ", explain("retention_model")),
      h("div", { class: "vh-toolbar" }, range.el),
      h("s-heading", {}, "Share still subscribed, by month they joined", explain("cohort_retention")),
      curves),
    h("s-section", { heading: "Cohort heatmap by month" }, heat),
    h("s-section", { heading: "Retention by order number" }, h("s-paragraph", { class: "vh-muted" }, "Share of all subscribers who go on to place more than a given number of orders, and how many leave after each order.", explain("retention_by_order")), byOrder));

  function draw() {
    const count = Number(range.read());
    const cohorts = body.cohorts.slice(-count);
    const labels = Array.from({ length: HORIZON + 1 }, (_, k) => k);
    const recent = cohorts.slice(-CURVES);
    const series = recent.map((c, i) => ({
      name: date(c.cohort),
      values: labels.map((k) => (isNum(c.survival[k]) ? c.survival[k] : null)),
      color: PALETTE[i % PALETTE.length],
    }));
    if (model.converged && isNum(model.alpha) && isNum(model.beta)) {
      series.push({ name: "Model projection", values: labels.map((k) => sbgSurvival(model.alpha, model.beta, k)), color: "#303030", dashed: true });
    }
    fill(curves,
      lineChart({ title: "Kaplan–Meier retention by cohort", width: chartWidth(curves), labels, series, format: (v) => percent(v, 0), formatX: (k) => `${k} mo`, zero: true, height: 260 }),
      h("p", { class: "vh-muted vh-small" }, model.converged
        ? "Solid lines: what each cohort actually did (Kaplan–Meier). Dashed: the retention model fitted to every cohort, drawn to 24 months (one renewal a month)."
        : `Solid lines: what each cohort actually did (Kaplan–Meier). No projection: ${model.reason || "the retention model did not converge"}.`));
    const ages = Array.from({ length: 13 }, (_, k) => k);
    fill(heat, heatmap({
      title: "Share of each cohort still subscribed after k months",
      rowHeader: "Joined",
      rowLabels: cohorts.map((c) => date(c.cohort)).reverse(),
      rowNotes: { title: "Size", values: cohorts.map((c) => number(c.size)).reverse() },
      colLabels: ages.map((k) => `M${k}`),
      values: cohorts.map((c) => ages.map((k) => c.survival[k])).reverse(),
      format: (v) => percent(v, 0),
    }), h("p", { class: "vh-muted vh-small" }, "M3 = still subscribed three months after joining. Blank: the cohort is not that old yet."));
    loaded(curves);
  }
  draw();

  const orders = (body.by_order || []).filter((o) => o.orders >= 1).slice(0, 12);
  if (!orders.length) {
    empty(byOrder, "No orders yet", "");
  } else {
    fill(byOrder,
      heatmap({ title: "Share placing more than k orders", rowHeader: "", rowLabels: ["All subscribers"],
        colLabels: orders.map((o) => `>${o.orders}`), values: [orders.map((o) => o.survival)], format: (v) => percent(v, 0) }),
      table([{ title: "After order" }, { title: "Still subscribed", numeric: true }, { title: "Leave after this order", numeric: true }, { title: "Subscribers observed", numeric: true }],
        orders.map((o) => [String(o.orders), percent(o.survival, 1), percent(o.churn_after, 1), number(o.at_risk)]), { caption: "Retention by order number" }));
  }
  loaded(root);
}
