// Initiatives: the value backlog, each with its measured effect. A targeted initiative fixes
// its segment's members at the start and compares a random treatment group with a holdout;
// a shop-wide one compares the days after its start with the days before, and says that this
// cannot separate it from the season. Every figure comes with its meaning in words.
import { h, fill } from "../lib/dom.js";
import { percent, number, date, signed, byUnit, isNum } from "../lib/format.js";
import { loading, empty, failed, loaded } from "../lib/states.js";
import { button, textField, select, checkbox, badge } from "../lib/controls.js";

const STATUS_TONE = { idea: "neutral", planned: "info", running: "attention", done: "success", dropped: "neutral" };
const VERDICT_WORDS = {
  real_change: ["A real effect", "success"],
  no_real_change: ["No effect shown", "warning"],
  inconclusive: ["Cannot tell yet", "info"],
  not_enough_data: ["Not enough data yet", "info"],
  measuring: ["Measuring", "attention"],
  not_started: ["Not started", "neutral"],
  untested: ["Direction only", "neutral"],
};
const FILTER_LABELS = { segment: "Segment", plan: "Plan", cadence: "Cadence", cohort: "Cohort", currency: "Currency", nps_category: "NPS category" };

export async function render(root, ctx) {
  loading(root, 8);
  let doc, data;
  try {
    [doc, data] = await Promise.all([ctx.api("/api/admin/initiatives"), ctx.api("/api/admin/customer-data")]);
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  if (!ctx.current()) return;
  const list = h("div", { "data-section": "initiatives" });
  fill(root, scopesBanner(data, ctx), newInitiative(doc.choices, ctx, () => render(root, ctx)), list);
  loaded(root);
  if (!doc.initiatives.length) {
    empty(list, "No initiatives yet", "Write down an action meant to move a value driver, pick who it targets, and the app measures it against a random holdout.");
    return;
  }
  fill(list, doc.initiatives.map((item) => initiativeCard(item, ctx, () => render(root, ctx))));
}

function scopesBanner(data, ctx) {
  if (!data.missing_scopes || !data.missing_scopes.length) {
    return h("p", { class: "vh-muted vh-small", "data-customer-data": "ok" },
      `Value segment, churn-risk band, value score, NPS category and treatment groups are written on each Shopify customer (${number(data.customers_written)} so far) as metafields in the ${data.namespace} namespace, for customer segments, Shopify Email, Flow and Klaviyo.`);
  }
  const ask = async () => {
    const scopes = window.shopify && window.shopify.scopes;
    if (!scopes || typeof scopes.request !== "function") {
      ctx.toast("Open the app in Shopify admin to grant access.", { error: true });
      return;
    }
    try {
      await scopes.request(data.missing_scopes);
      ctx.toast("Access requested");
    } catch (error) {
      ctx.toast(`Access not granted: ${error.message || error}`, { error: true });
    }
  };
  return h("s-banner", { tone: "warning", heading: "Allow Valuehealth to write on customers", "data-customer-data": "missing" },
    h("s-paragraph", {}, `To mark treatment groups and value segments on your Shopify customers, the app needs the ${data.missing_scopes.join(", ")} permission. Until then nothing is written and everything else works.`),
    button("Grant access", { onClick: ask, variant: "primary" }));
}

function filterWords(filter) {
  return Object.entries(filter || {}).map(([k, v]) => `${FILTER_LABELS[k] || k}: ${v}`).join(" · ");
}

function effectWords(item) {
  const effect = item.effect || {};
  const [label, tone] = VERDICT_WORDS[effect.verdict] || [effect.verdict, "neutral"];
  const out = [h("div", { class: "vh-spread" }, h("strong", {}, "Measured effect"), badge(label, tone))];
  if (effect.method === "holdout") {
    const u = effect.uplift;
    if (u) {
      const unit = item.unit;
      out.push(h("s-paragraph", { "data-effect": "holdout" },
        `Treatment ${byUnit(u.treatment.value, unit, effect.currency)} (${number(u.treatment.n)} ${u.treatment.unit}) against holdout ${byUnit(u.holdout.value, unit, effect.currency)} (${number(u.holdout.n)}): `,
        h("strong", {}, signed(u.difference, unit, effect.currency)),
        isNum(u.ci_low) ? ` — 95% interval ${signed(u.ci_low, unit, effect.currency)} to ${signed(u.ci_high, unit, effect.currency)}.` : "."));
    }
    out.push(h("s-paragraph", { class: "vh-muted" }, effect.reason || ""));
    out.push(h("p", { class: "vh-muted vh-small" },
      "The difference is treatment minus holdout: both groups were drawn at random from the same members at the start, so the season and anything else that happened meanwhile hit both alike. The interval holds the true effect with 95% confidence; if it includes zero, the data cannot rule out no effect."));
  } else if (effect.verdict === "not_started") {
    out.push(h("s-paragraph", { "data-effect": "before_after" }, "Not started yet: the days after its start will be compared with the days before."));
    out.push(h("s-paragraph", { class: "vh-muted vh-small", "data-caveat": "season" }, effect.caveat || ""));
  } else {
    out.push(h("s-paragraph", { "data-effect": "before_after" },
      `Before the start ${byUnit(effect.before, item.unit)}, after ${byUnit(effect.after, item.unit)}: ${signed(effect.change, item.unit)}. `, effect.reason || ""));
    out.push(h("s-paragraph", { class: "vh-muted vh-small", "data-caveat": "season" }, effect.caveat || ""));
  }
  return out;
}

function initiativeCard(item, ctx, reload) {
  const move = (status) => async () => {
    try {
      await ctx.api(`/api/admin/initiatives/${item.id}`, { method: "PATCH", body: { status } });
      ctx.toast(`“${item.title}” is ${status}`);
      reload();
    } catch (error) {
      ctx.toast(error.message, { error: true });
    }
  };
  const audience = item.audience;
  const who = audience
    ? h("s-paragraph", {}, `Targets ${filterWords(audience.filter)}. `,
      audience.drawn_at
        ? `${number(audience.members)} members fixed on ${date(audience.drawn_at)}: ${percent(1 - audience.holdout_share, 0)} treatment, ${percent(audience.holdout_share, 0)} holdout (the holdout gets nothing; marker vh-initiative-${item.id}).`
        : `Members are fixed and split when it starts (${percent(audience.holdout_share, 0)} held out at random).`)
    : h("s-paragraph", {}, "Shop-wide: measured before against after.");
  return h("s-section", { heading: item.title, "data-initiative": String(item.id) },
    h("div", { class: "vh-spread" }, h("span", { class: "vh-muted" }, `${item.driver} · owner ${item.owner}`), badge(item.status, STATUS_TONE[item.status])),
    h("s-paragraph", {}, item.hypothesis),
    h("s-paragraph", {}, `Target: ${item.target_label}, expected ${item.expected_direction} by ${signed(item.expected_change, item.unit).replace(/^[+−±]/, "")}${item.starts_on ? `, started ${date(item.starts_on)}` : ""}${item.ends_on ? `, ended ${date(item.ends_on)}` : ""}.`),
    who,
    effectWords(item),
    item.next_statuses.length
      ? h("div", { class: "vh-toolbar" }, item.next_statuses.map((s) => button(`Mark ${s}`, { onClick: move(s), variant: s === "running" ? "primary" : null })))
      : null);
}

function newInitiative(choices, ctx, reload) {
  const title = textField({ label: "Title", name: "title", maxlength: 200, required: true });
  const hypothesis = textField({ label: "Hypothesis", name: "hypothesis", type: "textarea", maxlength: 2000, help: "What you do, for whom, and what should move." });
  const owner = textField({ label: "Owner", name: "owner", maxlength: 200 });
  const driver = select({ label: "Value driver", name: "driver", options: choices.drivers.map((d) => [d, d]) });
  const targeted = checkbox({ label: "Target a segment and measure against a random holdout (recommended)", name: "targeted", checked: true, onChange: () => sync() });
  const segment = select({ label: "Segment", name: "segment", options: [["", "Any segment"], ...choices.audience.segments.map((s) => [s, s])] });
  const nps = select({ label: "NPS category", name: "nps_category", options: [["", "Any"], ...choices.audience.nps_categories.map((c) => [c, c])] });
  const plan = textField({ label: "Plan", name: "plan", help: "Plan name, exactly as on the contract (optional)." });
  const cadence = textField({ label: "Cadence", name: "cadence", placeholder: "month:1", help: "interval:count, e.g. month:1 or week:2 (optional)." });
  const cohort = textField({ label: "Cohort", name: "cohort", placeholder: "2026-03", help: "Month of the first subscription (optional)." });
  const currency = textField({ label: "Currency", name: "currency", placeholder: "USD" });
  const share = textField({ label: "Holdout share", name: "holdout_share", type: "number", step: "0.01", min: choices.holdout_share.min, max: choices.holdout_share.max, value: choices.holdout_share.default, help: "The part of the members that gets nothing, drawn at random." });
  const memberMetric = select({ label: "Target metric", name: "member_metric", options: choices.member_metrics.map((m) => [m.key, m.label]) });
  const shopMetric = select({ label: "Target metric", name: "target_metric", options: choices.metrics.map((m) => [m.key, m.label]) });
  const direction = select({ label: "Expected direction", name: "expected_direction", options: choices.directions.map((d) => [d, d]) });
  const change = textField({ label: "Expected change", name: "expected_change", type: "number", step: "any", value: "0.05", help: "In the metric's unit: 0.05 is 5 points of a share." });
  const audienceBox = h("div", { class: "vh-grid-3" }, segment.el, nps.el, plan.el, cadence.el, cohort.el, currency.el, share.el);
  const fields = { title, hypothesis, owner, expected_change: change, holdout_share: share, plan, cadence, cohort, currency };
  const metricBox = h("div", {});
  function sync() {
    audienceBox.hidden = !targeted.read();
    fill(metricBox, targeted.read() ? memberMetric.el : shopMetric.el);
  }
  sync();
  async function submit(event) {
    event.preventDefault();
    Object.values(fields).forEach((f) => f.setError(""));
    const body = {
      title: title.read(), hypothesis: hypothesis.read(), owner: owner.read(), driver: driver.read(),
      expected_direction: direction.read(), expected_change: Number(change.read()),
    };
    if (targeted.read()) {
      const filter = {};
      for (const [key, field] of [["segment", segment], ["nps_category", nps], ["plan", plan], ["cadence", cadence], ["cohort", cohort], ["currency", currency]]) {
        const value = field.read().trim();
        if (value) filter[key] = value;
      }
      body.audience = filter;
      body.holdout_share = Number(share.read());
      body.target_metric = memberMetric.read();
    } else {
      body.target_metric = shopMetric.read();
    }
    try {
      await ctx.api("/api/admin/initiatives", { method: "POST", body });
      ctx.toast("Initiative added");
      reload();
    } catch (error) {
      const field = error.body && error.body.error && error.body.error.field;
      const key = field && field.startsWith("audience.") ? field.slice(9) : field;
      if (key && fields[key]) fields[key].setError(error.message);
      else ctx.toast(`${field ? `${field}: ` : ""}${error.message}`, { error: true });
    }
  }
  return h("details", { class: "vh-form-card" },
    h("summary", {}, "Add an initiative"),
    h("form", { onsubmit: submit, "data-form": "initiative" },
      h("div", { class: "vh-grid-2" }, title.el, owner.el), hypothesis.el, driver.el, targeted.el, audienceBox,
      h("div", { class: "vh-grid-3" }, metricBox, direction.el, change.el),
      button("Add initiative", { type: "submit", variant: "primary" })));
}
