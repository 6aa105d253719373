// Overview: how healthy is our subscriber value, and who needs us now. Headline tiles with
// their change and a sparkline, the subscribers to call first with why, what changed this
// month, and the main trends as charts. A shop with no figures yet gets the setup checklist.
import { h, fill } from "../lib/dom.js";
import { money, percent, number, date, signed, isNum, DASH, label } from "../lib/format.js";
import { loading, empty, failed, loaded } from "../lib/states.js";
import { sparkline, lineChart, barChart, chartWidth, PALETTE } from "../lib/charts.js";
import { table, badge, button, link, select } from "../lib/controls.js";
import { explain } from "../lib/explain.js";
import { npsSentence, riskModelSentence, retentionSentence, currencies, whyList, nextStep } from "../lib/words.js";

const TREND_SPARKS = ["active_subscribers", "mrr", "churn_rate", "nps", "value_perception", "revenue_at_risk"];
const CHURN_SOURCES = [
  ["voluntary", "Customer cancelled"],
  ["involuntary", "Payment failed"],
  ["merchant", "Merchant cancelled"],
  ["expired", "Plan ran out"],
  ["unknown", "Unknown"],
];

export async function render(root, ctx) {
  const tiles = h("div", { class: "vh-tiles", "aria-busy": "true" });
  for (let i = 0; i < 8; i += 1) tiles.append(h("div", { class: "vh-tile" }, h("div", { class: "vh-skeleton-line", style: "width:60%" })));
  const status = h("p", { class: "vh-muted vh-small", style: "min-height:20px;margin:0 0 12px" }, "\u00a0");
  const atRisk = h("div", {});
  const changed = h("div", {});
  const charts = h("div", {});
  loading(atRisk, 5);
  loading(changed, 3);
  loading(charts, 6);
  fill(root,
    status,
    tiles,
    h("div", { class: "vh-grid-2", style: "margin-top:16px" },
      h("s-section", { heading: "Who needs you now" }, atRisk),
      h("s-section", { heading: "What changed this month" }, changed)),
    h("s-section", { heading: "Trends" }, charts));

  let doc;
  try {
    doc = await ctx.api("/api/admin/overview");
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  if (!ctx.current()) return;
  if (!doc.computed_at) {
    const onboarding = await import("./onboarding.js");
    await onboarding.render(root, ctx, doc);
    return;
  }
  status.textContent = `Figures as of ${date(doc.as_of)} · updated ${new Date(doc.computed_at).toLocaleString()}`;
  const sparks = await loadSparks(ctx);
  if (!ctx.current()) return;
  fill(tiles, headlineTiles(doc, sparks));
  tiles.removeAttribute("aria-busy");
  loadAtRisk(atRisk, ctx, doc);
  renderChanged(changed, doc, sparks);
  renderCharts(charts, ctx, doc);
}

async function loadSparks(ctx) {
  const out = {};
  await Promise.all(TREND_SPARKS.map(async (metric) => {
    try {
      const body = await ctx.api(`/api/admin/trends?metric=${metric}&period=month`);
      out[metric] = body.points;
    } catch (_) {
      out[metric] = [];
    }
  }));
  return out;
}

function lastChange(points) {
  const values = (points || []).map((p) => p.value).filter(isNum);
  if (values.length < 2) return null;
  return values[values.length - 1] - values[values.length - 2];
}

function deltaNode(delta, unit, { goodWhenUp = true, currency = null, note = "vs last month" } = {}) {
  if (!isNum(delta)) return h("span", { class: "vh-delta-flat" }, "No earlier month to compare");
  const better = delta === 0 ? null : (delta > 0) === goodWhenUp;
  const cls = better === null ? "vh-delta-flat" : better ? "vh-delta-up" : "vh-delta-down";
  const arrow = delta > 0 ? "↑" : delta < 0 ? "↓" : "→";
  return h("span", { class: cls }, `${arrow} ${signed(delta, unit, currency)} ${note}`);
}

function tile(title, key, value, notes, spark) {
  const words = typeof value === "string" && value.length > 14;
  return h("div", { class: "vh-tile", "data-metric": key },
    h("div", { class: "vh-tile-label" }, title, explain(key)),
    h("div", { class: words ? "vh-tile-value vh-words" : "vh-tile-value", "data-value": key }, value),
    notes.filter(Boolean).map((n) => h("div", { class: "vh-tile-note" }, n)),
    spark || h("svg", { class: "vh-spark", "aria-hidden": "true" }));
}

function values(points) {
  return (points || []).map((p) => p.value);
}

function headlineTiles(doc, sparks) {
  const subs = doc.subscribers || {};
  const mrr = doc.mrr || {};
  const churn = doc.churn || {};
  const nps = doc.nps || {};
  const risk = doc.revenue_at_risk || {};
  const mrrList = currencies(mrr);
  const riskList = currencies(risk);
  const history = churn.history || [];
  const prevChurn = history.length > 1 ? history[history.length - 2].rate : null;
  const churnDelta = isNum(churn.monthly_rate) && isNum(prevChurn) ? churn.monthly_rate - prevChurn : null;
  const splitNote = CHURN_SOURCES
    .filter(([k]) => isNum(churn[k]) && churn[k] > 0)
    .map(([k, text]) => `${text} ${percent(churn[k])}`).join(" · ");
  const tiles = [
    tile("Active subscribers", "active_subscribers", number(subs.active),
      [`${number(subs.paused)} paused (not churn)`, deltaNode(lastChange(sparks.active_subscribers), "count")],
      sparkline(values(sparks.active_subscribers))),
    tile("MRR", "mrr", mrrList.length ? money(mrrList[0][1], mrrList[0][0]) : money(0, mrr.currency),
      [mrrList.slice(1).map(([c, v]) => money(v, c)).join(" · ") || null,
        deltaNode(lastChange(sparks.mrr), "money", { currency: mrr.currency })],
      sparkline(values(sparks.mrr))),
    tile("Monthly churn", "churn_rate", percent(churn.monthly_rate),
      [churn.month ? `${date(churn.month)}: ${number(churn.churned)} of ${number(churn.active_at_start)}` : (doc.missing || {})["churn.monthly_rate"],
        deltaNode(churnDelta, "share", { goodWhenUp: false })],
      sparkline(values(sparks.churn_rate), { color: PALETTE[4] })),
    tile("Churn by source", "churn_split", splitNote ? "" : DASH, [splitNote ? null : "No churn last month"], churnBar(churn)),
    tile("NPS", "nps", isNum(nps.score) ? number(nps.score) : "Not enough answers",
      [npsSentence(nps), nps.change && isNum(nps.change.delta)
        ? h("span", { class: nps.change.real ? (nps.change.delta > 0 ? "vh-delta-up" : "vh-delta-down") : "vh-delta-flat" },
          `${signed(nps.change.delta, "points")} vs the 30 days before: ${nps.change.real ? "a real change" : "could be chance"}`)
        : null],
      sparkline(values(sparks.nps), { color: PALETTE[2] })),
    tile("Value for money", "value_perception", isNum(doc.value_perception) ? `${doc.value_perception.toFixed(2)} / 5` : DASH,
      [isNum((doc.details || {}).value_perception && doc.details.value_perception.answers) ? `${number(doc.details.value_perception.answers)} answers` : (doc.missing || {}).value_perception,
        deltaNode(lastChange(sparks.value_perception), "score")],
      sparkline(values(sparks.value_perception), { color: PALETTE[3] })),
    tile("Revenue at risk", "revenue_at_risk", riskList.length ? money(riskList[0][1], riskList[0][0]) : money(0, risk.currency),
      [riskList.slice(1).map(([c, v]) => money(v, c)).join(" · ") || "MRR of subscribers with churn risk ≥ 15%",
        deltaNode(lastChange(sparks.revenue_at_risk), "money", { currency: risk.currency, goodWhenUp: false })],
      sparkline(values(sparks.revenue_at_risk), { color: PALETTE[1] })),
    tile("Expected value of a new subscriber", "predicted_ltv",
      money((doc.predicted_ltv || {}).amount, (doc.predicted_ltv || {}).currency),
      [retentionSentence(doc)], null),
  ];
  return tiles;
}

function churnBar(churn) {
  const total = CHURN_SOURCES.reduce((s, [k]) => s + (isNum(churn[k]) ? churn[k] : 0), 0);
  const bar = h("div", { style: "display:flex;height:10px;border-radius:5px;overflow:hidden;background:#ebebeb;margin:6px 0 4px", "aria-hidden": "true" });
  const legend = h("ul", { class: "vh-list vh-small" });
  CHURN_SOURCES.forEach(([k, text], i) => {
    const v = isNum(churn[k]) ? churn[k] : null;
    if (total > 0 && v) bar.append(h("span", { style: `width:${(100 * v) / total}%;background:${PALETTE[i]}` }));
    if (!v) return; // a source with no churn is left out of the legend (the tile says the total)
    legend.append(h("li", { style: "padding:0;border:0;line-height:16px" }, h("i", { style: `display:inline-block;width:8px;height:8px;border-radius:2px;margin-right:4px;background:${PALETTE[i]}` }), `${text}: ${v === null ? DASH : percent(v)}`));
  });
  return h("div", {}, bar, legend);
}

async function loadAtRisk(target, ctx, doc) {
  const draw = async () => {
    loading(target, 5);
    let page;
    try {
      page = await ctx.api("/api/admin/subscribers?segment=at_risk_high_value&sort=-value&limit=5&why=1");
    } catch (error) {
      failed(target, error, draw);
      return;
    }
    if (!ctx.current()) return;
    const items = page.items.filter((s) => isNum(s.mrr) && s.mrr > 0);
    if (!items.length) {
      empty(target, "Nobody needs you right now", "No high-value subscriber has a churn risk of 15% or more.");
      return;
    }
    fill(target,
      h("p", { class: "vh-muted vh-small", style: "margin:0 0 8px" },
        `${number((doc.segments || {}).at_risk_high_value)} subscribers are worth more than most and likely to cancel before their next renewal. The most valuable first.`, " ", riskModelSentence(doc.risk_model)),
      h("ul", { class: "vh-list" }, items.map((s) => h("li", {},
        h("div", { class: "vh-spread" },
          link(s.name || `Customer ${s.customer_id}`, `/app/subscribers/${s.customer_id}`),
          h("span", { class: "vh-num" }, `${percent(s.churn_risk, 0)} risk · ${money(s.expected_residual_value, s.currency)} still to come`)),
        h("div", { class: "vh-small vh-muted" }, "Why: ", whyList(s.why)),
        h("div", { class: "vh-small" }, "Next step: ", nextStep(s.why))))),
      h("div", { style: "margin-top:8px" }, button("See all at-risk subscribers", { href: ctx.href("/app/subscribers?segment=at_risk_high_value"), variant: "plain" })));
    loaded(target);
  };
  await draw();
}

function renderChanged(target, doc, sparks) {
  const lines = [];
  const churn = doc.churn || {};
  const activeDelta = lastChange(sparks.active_subscribers);
  if (isNum(activeDelta)) {
    lines.push(activeDelta === 0 ? "Active subscribers held steady." :
      `${activeDelta > 0 ? "You gained" : "You lost"} ${number(Math.abs(activeDelta))} active subscribers (net) since last month.`);
  }
  const mrrDelta = lastChange(sparks.mrr);
  if (isNum(mrrDelta) && (doc.mrr || {}).currency) {
    lines.push(`MRR in ${doc.mrr.currency} ${mrrDelta >= 0 ? "rose" : "fell"} by ${money(Math.abs(mrrDelta), doc.mrr.currency)}.`);
  }
  const history = churn.history || [];
  if (history.length > 1 && isNum(churn.monthly_rate) && isNum(history[history.length - 2].rate)) {
    const before = history[history.length - 2];
    const top = CHURN_SOURCES.map(([k, t]) => [t, churn[k]]).filter(([, v]) => isNum(v)).sort((a, b) => b[1] - a[1])[0];
    lines.push(`Churn in ${date(churn.month)} was ${percent(churn.monthly_rate)}, against ${percent(before.rate)} in ${date(before.month)}` +
      (top && top[1] > 0 ? `; most of it: ${top[0].toLowerCase()}.` : "."));
  }
  const nps = doc.nps || {};
  if (nps.change && isNum(nps.change.delta)) {
    lines.push(nps.change.real
      ? `NPS ${nps.change.delta > 0 ? "rose" : "fell"} by ${Math.abs(nps.change.delta).toFixed(0)} points: a real change, not chance (p = ${nps.change.p_value.toFixed(3)}).`
      : `NPS moved by ${signed(nps.change.delta, "points")} points, which could be chance with this many answers.`);
  }
  const reasons = doc.cancel_reasons || [];
  if (reasons.length) {
    lines.push(`The most common cancel reason was “${reasons[0].label}” (${percent(reasons[0].share, 0)} of the reasons given).`);
  }
  for (const shift of ((doc.retention || {}).shifts || []).slice(0, 2)) {
    if (Math.abs(shift.shift) >= 0.02) {
      lines.push(`Subscribers who joined in ${date(shift.cohort)} are ${shift.shift > 0 ? "staying better" : "leaving faster"} than earlier cohorts: ${percent(shift.recent, 0)} still subscribed after ${shift.age} month${shift.age === 1 ? "" : "s"} against ${percent(shift.baseline, 0)}.`);
    }
  }
  if (!lines.length) {
    empty(target, "Nothing to compare yet", "Changes appear once two months have been scored.");
    return;
  }
  fill(target, h("ul", { class: "vh-list" }, lines.map((t) => h("li", {}, t))));
  loaded(target);
}

const RANGES = [["6", "Last 6 months"], ["12", "Last 12 months"], ["24", "Last 24 months"], ["90d", "Last 90 days (daily)"]];

function renderCharts(target, ctx, doc) {
  const range = select({ label: "Date range", name: "range", value: ctx.params.get("range") || "12", options: RANGES,
    onChange: (v) => { const p = new URLSearchParams(ctx.params); p.set("range", v); ctx.setParams(p); draw(); } });
  const body = h("div", { style: "min-height:520px" });
  fill(target, h("div", { class: "vh-toolbar" }, range.el), body);
  const draw = async () => {
    loading(body, 8);
    const value = range.read();
    const daily = value.endsWith("d");
    const to = doc.as_of;
    const from = new Date(`${to}T00:00:00Z`);
    if (daily) from.setUTCDate(from.getUTCDate() - 90);
    else from.setUTCMonth(from.getUTCMonth() - Number(value));
    const q = `from=${from.toISOString().slice(0, 10)}&to=${to}&period=${daily ? "day" : "month"}`;
    let mrr, active, churnVol, churnInv, churnAll;
    try {
      [mrr, active, churnAll, churnVol, churnInv] = await Promise.all(
        ["mrr", "active_subscribers", "churn_rate", "voluntary_churn_rate", "involuntary_churn_rate"]
          .map((m) => ctx.api(`/api/admin/trends?metric=${m}&${q}`)));
    } catch (error) {
      failed(body, error, draw);
      return;
    }
    if (!ctx.current()) return;
    const fmtX = daily ? (d) => date(d) : (d) => date(d.slice(0, 7));
    const half = chartWidth(body, 2);
    const full = chartWidth(body);
    const currency = (doc.mrr || {}).currency;
    const other = churnAll.points.map((p, i) => {
      const v = churnVol.points[i] && churnVol.points[i].value;
      const f = churnInv.points[i] && churnInv.points[i].value;
      return isNum(p.value) ? Math.max(0, p.value - (isNum(v) ? v : 0) - (isNum(f) ? f : 0)) : null;
    });
    fill(body,
      h("div", { class: "vh-grid-2" },
        h("div", {}, h("s-heading", {}, `MRR (${currency || "main currency"})`, explain("mrr")),
          lineChart({ title: `MRR in ${currency}`, labels: mrr.points.map((p) => p.date), formatX: fmtX,
            width: half, series: [{ name: "MRR", values: mrr.points.map((p) => p.value) }], format: (v) => money(v, currency, { compact: true }) })),
        h("div", {}, h("s-heading", {}, "Active subscribers", explain("active_subscribers")),
          lineChart({ title: "Active subscribers", labels: active.points.map((p) => p.date), formatX: fmtX,
            width: half, series: [{ name: "Active", values: active.points.map((p) => p.value), color: PALETTE[2] }], format: (v) => number(v) }))),
      h("div", { style: "margin-top:16px" }, h("s-heading", {}, "Monthly churn by source", explain("churn_split")),
        barChart({ title: "Monthly churn by source", width: full, labels: churnAll.points.map((p) => p.date), formatX: fmtX, format: (v) => percent(v, 1),
          series: [
            { name: "Customer cancelled", values: churnVol.points.map((p) => p.value) },
            { name: "Payment failed", values: churnInv.points.map((p) => p.value) },
            { name: "Merchant, expired or unknown", values: other, color: PALETTE[5] },
          ] })));
    loaded(body);
  };
  draw();
}

