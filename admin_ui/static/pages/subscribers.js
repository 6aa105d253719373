// Subscribers: segment tabs, filters, sort and CSV export of the filtered list; and, at
// /app/subscribers/<customer id>, one subscriber's detail. Filters live in the URL, so a
// filtered list can be bookmarked, shared and reached with the back button.
import { h, fill } from "../lib/dom.js";
import { money, percent, number, date, dateTime, isNum, DASH, label } from "../lib/format.js";
import { loading, empty, failed, loaded } from "../lib/states.js";
import { table, badge, button, link, select } from "../lib/controls.js";
import { explain } from "../lib/explain.js";
import { whyList, nextStep, riskModelSentence } from "../lib/words.js";

const TABS = [
  ["", "All"],
  ["at_risk_high_value", "At risk – high value"],
  ["needs_attention", "Needs attention"],
  ["healthy", "Healthy"],
  ["new", "New"],
  ["paused", "Paused"],
];
const SORTS = [["-value", "Value score, highest first"], ["-risk", "Churn risk, highest first"], ["-mrr", "MRR, highest first"],
  ["value", "Value score, lowest first"], ["risk", "Churn risk, lowest first"], ["mrr", "MRR, lowest first"]];
const NPS = [["", "Any"], ["promoter", "Promoters (9–10)"], ["passive", "Passives (7–8)"], ["detractor", "Detractors (0–6)"], ["none", "No answer"]];
const FILTERS = ["segment", "plan", "cadence", "cohort", "currency", "nps", "sort"];
const SEGMENT_BADGES = {
  champions: ["Champion", "success"], loyal: ["Loyal", "success"], at_risk_high_value: ["At risk, high value", "critical"],
  needs_attention: ["Needs attention", "warning"], low_value: ["Low value", "neutral"], churned: ["Churned", "neutral"], unscored: ["Not scored", "neutral"],
};

export async function render(root, ctx) {
  if (ctx.rest.length) return renderDetail(root, ctx, ctx.rest[0]);
  return renderList(root, ctx);
}

// ---- list ---------------------------------------------------------------------------------

function query(params, extra = {}) {
  const q = new URLSearchParams();
  for (const key of FILTERS) if (params.get(key)) q.set(key, params.get(key));
  for (const [k, v] of Object.entries(extra)) if (v) q.set(k, v);
  return q;
}

async function renderList(root, ctx) {
  const params = new URLSearchParams(ctx.params);
  let overview = null;
  try {
    overview = await ctx.api("/api/admin/overview");
  } catch (_) { /* the filters still work without the choices it gives */ }
  if (!ctx.current()) return;
  const setFilter = (key, value) => {
    if (value) params.set(key, value); else params.delete(key);
    ctx.setParams(query(params));
    drawTabs();
    load(false);
  };
  const tabs = h("div", { class: "vh-tabs", role: "tablist", "aria-label": "Segments" });
  const drawTabs = () => fill(tabs, TABS.map(([value, text]) => h("button", {
    class: "vh-tab", role: "tab", type: "button", "aria-selected": String((params.get("segment") || "") === value),
    onclick: () => setFilter("segment", value),
  }, text, value && overview && overview.segments && isNum(overview.segments[value]) ? ` ${number(overview.segments[value])}` : "")));
  drawTabs();

  const plans = Object.keys((overview && overview.plan_values) || {}).sort();
  const currencyList = Object.keys(((overview && overview.mrr) || {}).by_currency || {});
  const cohorts = (((overview && overview.retention) || {}).cohorts || []).map((c) => c.cohort).reverse();
  const controls = [
    select({ label: "Sort by", name: "sort", value: params.get("sort") || "-value", options: SORTS, onChange: (v) => setFilter("sort", v) }),
    select({ label: "Plan", name: "plan", value: params.get("plan") || "", options: [["", "Any"], ...plans.map((p) => [p, p])], onChange: (v) => setFilter("plan", v) }),
    select({ label: "Cadence", name: "cadence", value: params.get("cadence") || "", onChange: (v) => setFilter("cadence", v),
      options: [["", "Any"], ["week:1", "Weekly"], ["week:2", "Every 2 weeks"], ["month:1", "Monthly"], ["month:2", "Every 2 months"], ["month:3", "Every 3 months"], ["year:1", "Yearly"]] }),
    select({ label: "Cohort (joined)", name: "cohort", value: params.get("cohort") || "", options: [["", "Any"], ...cohorts.map((c) => [c, date(c)])], onChange: (v) => setFilter("cohort", v) }),
    select({ label: "Currency", name: "currency", value: params.get("currency") || "", options: [["", "Any"], ...currencyList.map((c) => [c, c])], onChange: (v) => setFilter("currency", v) }),
    select({ label: "Last NPS answer", name: "nps", value: params.get("nps") || "", options: NPS, onChange: (v) => setFilter("nps", v) }),
  ];
  const exportButton = button("Export CSV", { onClick: () => exportCsv(ctx, params, exportButton) });
  const list = h("div", { style: "min-height:420px" });
  const more = h("div", { style: "margin-top:12px;min-height:32px" });
  fill(root,
    h("s-section", {},
      tabs,
      h("div", { class: "vh-toolbar" }, controls.map((c) => c.el), h("div", { style: "margin-left:auto" }, exportButton)),
      list, more));

  let rows = [];
  let cursor = null;
  async function load(append) {
    if (!append) { rows = []; cursor = null; loading(list, 8); fill(more); }
    let page;
    try {
      page = await ctx.api(`/api/admin/subscribers?${query(params, { limit: "50", cursor: append ? cursor : null })}`);
    } catch (error) {
      failed(list, error, () => load(false));
      return;
    }
    if (!ctx.current()) return;
    cursor = page.next_cursor;
    rows = rows.concat(page.items);
    if (!rows.length) {
      empty(list, "No subscribers match", "Try another tab or clear a filter.", { label: "Clear filters", onClick: () => ctx.navigate("/app/subscribers") });
      return;
    }
    fill(list, table(
      [{ title: "Subscriber" }, { title: "Segment" }, { title: "Value score", numeric: true }, { title: "Churn risk", numeric: true },
        { title: "Still to come", numeric: true }, { title: "MRR", numeric: true }, { title: "Renewals", numeric: true }, { title: "Last NPS", numeric: true }],
      rows.map((s) => [
        link(s.name || `Customer ${s.customer_id}`, `/app/subscribers/${s.customer_id}`),
        segmentBadge(s.segment),
        isNum(s.value_score) ? s.value_score.toFixed(0) : DASH,
        percent(s.churn_risk, 0),
        money(s.expected_residual_value, s.currency),
        money(s.mrr, s.currency),
        number(s.tenure),
        isNum(s.nps_last) ? String(s.nps_last) : DASH,
      ]), { caption: "Subscribers" }));
    loaded(list);
    fill(more, cursor ? button("Show more", { onClick: () => load(true) }) : h("span", { class: "vh-muted vh-small" }, `${number(rows.length)} shown`));
  }
  await load(false);
}

function segmentBadge(segment) {
  const [text, tone] = SEGMENT_BADGES[segment] || [label(segment || "unscored"), "neutral"];
  return badge(text, tone);
}

async function exportCsv(ctx, params, control) {
  control.setAttribute("disabled", "");
  try {
    const response = await ctx.download(`/api/admin/subscribers.csv?${query(params)}`);
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: "subscribers.csv", hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    ctx.toast("CSV exported");
  } catch (error) {
    ctx.toast(`Export failed: ${error.message}`, { error: true });
  } finally {
    control.removeAttribute("disabled");
  }
}

// ---- detail -------------------------------------------------------------------------------

function adminLink(text, path) {
  // Inside the admin, App Bridge opens shopify:admin/… links; the demo has no admin around it.
  const demo = document.body.hasAttribute("data-demo");
  const shop = document.body.dataset.shop || "";
  const href = demo ? `https://admin.shopify.com/store/${shop.replace(".myshopify.com", "")}/${path}` : `shopify:admin/${path}`;
  return link(text, href, { target: demo ? "_blank" : "_top" });
}

const COMPONENT_WORDS = {
  economic: ["What they are worth", "percentile of expected remaining value among subscribers paying in the same currency"],
  perceived: ["How they feel", "from their latest NPS and value-for-money answers"],
  health: ["How likely they stay", "1 − churn risk"],
};

async function renderDetail(root, ctx, id) {
  if (!/^\d+$/.test(id)) {
    empty(root, "No such subscriber", "The address does not name a customer.", { label: "Back to subscribers", href: ctx.href("/app/subscribers") });
    return;
  }
  loading(root, 10);
  let s;
  let overview = null;
  try {
    [s, overview] = await Promise.all([ctx.api(`/api/admin/subscribers/${id}`), ctx.api("/api/admin/overview").catch(() => null)]);
  } catch (error) {
    if (error.status === 404) {
      empty(root, "No such subscriber", error.message, { label: "Back to subscribers", href: ctx.href("/app/subscribers") });
      return;
    }
    failed(root, error, () => renderDetail(root, ctx, id));
    return;
  }
  if (!ctx.current()) return;
  const name = s.name || `Customer ${s.customer_id}`;
  ctx.setHeading(name);
  const comps = s.components || {};
  const riskWords = isNum(s.churn_risk)
    ? `${percent(s.churn_risk, 0)} chance of cancelling before the next renewal (${s.risk_method === "logistic" ? "this shop's own model" : "fixed rules"}).`
    : "Not scored: no live subscription.";
  fill(root,
    h("div", { class: "vh-row", style: "margin:-8px 0 12px" },
      link("← All subscribers", "/app/subscribers"), segmentBadge(s.segment),
      adminLink("Open customer in Shopify", `customers/${s.customer_id}`)),
    h("div", { class: "vh-grid-2" },
      h("s-section", { heading: "Value and risk" },
        h("dl", { class: "vh-dl" },
          h("dt", {}, "Value score", explain("value_score")), h("dd", { "data-value": "value_score" }, isNum(s.value_score) ? `${s.value_score.toFixed(0)} / 100` : DASH),
          h("dt", {}, "Churn risk", explain("churn_risk")), h("dd", { "data-value": "churn_risk" }, riskWords),
          h("dt", {}, "Still to come", explain("expected_residual_value")), h("dd", {}, money(s.expected_residual_value, s.currency)),
          h("dt", {}, "MRR", explain("mrr")), h("dd", {}, money(s.mrr, s.currency)),
          h("dt", {}, "Renewals so far"), h("dd", {}, number(s.tenure)),
          h("dt", {}, "Last NPS"), h("dd", {}, isNum(s.nps_last) ? `${s.nps_last} / 10${comps.nps_last_on ? ` (${date(comps.nps_last_on)})` : ""}` : "No answer yet")),
        h("s-heading", { style: "margin-top:12px" }, "What raises the risk"),
        h("s-paragraph", {}, whyList(s.why)),
        h("s-paragraph", {}, h("strong", {}, "Next step: "), nextStep(s.why)),
        overview ? h("p", { class: "vh-muted vh-small" }, riskModelSentence(overview.risk_model)) : null),
      h("s-section", { heading: "Behind the value score" },
        h("ul", { class: "vh-list" }, Object.entries(COMPONENT_WORDS).map(([key, [title, how]]) => h("li", {},
          h("div", { class: "vh-spread" }, h("strong", {}, title), h("span", { class: "vh-num" }, isNum(comps[key]) ? `${Math.round(100 * comps[key])} / 100` : "missing")),
          h("div", { class: "vh-muted vh-small" }, isNum(comps[key]) ? how : `${how}: not available, so the score uses the other parts`)))),
        h("s-heading", { style: "margin-top:12px" }, "Value to the customer", explain("customer_value")),
        h("s-paragraph", {}, isNum(comps.customer_value_per_cycle)
          ? `Their plan gives them ${money(comps.customer_value_per_cycle, s.currency)} per delivery beyond its price (savings, shipping, perks, time); ${money(comps.customer_value_cumulative, s.currency)} so far.`
          : "No value model for their plan yet: set its benefits in Settings."))),
    h("s-section", { heading: "Subscriptions" },
      table([{ title: "Contract" }, { title: "Plan" }, { title: "Status" }, { title: "Amount", numeric: true }, { title: "Every" }, { title: "Started" }, { title: "Next billing" }],
        (s.contracts || []).map((c) => [
          adminLink(`#${c.contract_id}`, `subscription_contracts/${c.contract_id}`),
          c.plan || DASH,
          badge(c.status, c.status === "active" ? "success" : c.status === "paused" ? "warning" : "neutral"),
          money(c.recurring_amount, c.currency),
          `${c.billing_interval_count > 1 ? `${c.billing_interval_count} ` : ""}${c.billing_interval}${c.billing_interval_count > 1 ? "s" : ""}`,
          date(c.started_at),
          c.next_billing_date ? date(c.next_billing_date) : DASH,
        ]), { caption: "Subscriptions" })),
    h("s-section", { heading: "Timeline" },
      (s.timeline || []).length
        ? h("ol", { class: "vh-timeline" }, s.timeline.map((e) => h("li", {},
          h("div", { class: "vh-small vh-muted" }, dateTime(e.at)),
          h("div", {}, e.text),
          e.comment ? h("blockquote", { class: "vh-muted", style: "margin:4px 0 0;padding-left:8px;border-left:3px solid #e3e3e3" }, e.comment) : null)))
        : h("p", { class: "vh-muted" }, "Nothing recorded yet.")));
  loaded(root);
}
