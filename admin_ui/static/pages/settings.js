// Settings: value owner, the cancel-reason list (versioned), survey timing and throttle,
// margin and each plan's customer value model, languages and label overrides, and the
// customer data requests to send on. Each card saves on its own; the server checks every
// value and names the field it refuses, and nothing is stored then.
import { h, fill } from "../lib/dom.js";
import { dateTime, label, number } from "../lib/format.js";
import { loading, failed, loaded } from "../lib/states.js";
import { table, badge, button, textField, select, checkbox } from "../lib/controls.js";
import { explain } from "../lib/explain.js";

const SURVEY_FIELDS = [
  ["nps_delay_days", "Days after delivery before the survey", "0–60", 0, 60, "0.5"],
  ["nps_fallback_days", "Days after fulfilment when no delivery is tracked", "0–90", 0, 90, "0.5"],
  ["nps_throttle_days", "At most one survey per subscriber every … days", "0–730", 0, 730, "1"],
  ["nps_expiry_days", "Days a survey stays open", "1–90", 1, 90, "1"],
  ["answer_edit_hours", "Hours a subscriber may change an answer", "0–720", 0, 720, "1"],
];
const PLAN_MONEY = [["price", "Price per delivery"], ["one_time_price", "One-time price of the same goods"], ["shipping_included", "Shipping included"], ["perks", "Perks"], ["time_saved", "Time saved"]];

export async function render(root, ctx) {
  loading(root, 12);
  let s;
  try {
    s = await ctx.api("/api/admin/settings");
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  if (!ctx.current()) return;
  const exportsBox = h("div", {});
  fill(root,
    ownerCard(ctx, s),
    reasonsCard(ctx, s),
    surveysCard(ctx, s),
    valueCard(ctx, s),
    labelsCard(ctx, s),
    h("s-section", { heading: "Customer data requests" },
      h("p", { class: "vh-muted" }, "Exports made when a customer asked for their data (customers/data_request). Send them to the customer who asked."), exportsBox));
  loaded(root);
  loadExports(ctx, exportsBox);
}

/** Save one section; field errors go next to the field named in the server's answer. */
async function save(ctx, section, body, fields = {}) {
  for (const f of Object.values(fields)) f.setError("");
  try {
    await ctx.api(`/api/admin/settings/${section}`, { method: "PUT", body });
    ctx.toast("Settings saved");
    return true;
  } catch (error) {
    const field = error.body && error.body.error && error.body.error.field;
    const key = field ? field.split(".").slice(1).join(".") : null;
    if (key && fields[key]) fields[key].setError(error.message);
    ctx.toast(error.message, { error: true });
    return false;
  }
}

function ownerCard(ctx, s) {
  const owner = textField({ label: "Value owner", name: "value_owner", value: s.workspace.value_owner, maxlength: 200,
    help: "The person accountable for subscriber value: the monthly review and initiatives name them." });
  return h("s-section", { heading: "Value owner" },
    h("form", { class: "vh-form-card", onsubmit: (e) => { e.preventDefault(); save(ctx, "workspace", { value_owner: owner.read() }, { value_owner: owner }); } },
      owner.el, h("div", {}, button("Save", { type: "submit", variant: "primary" }))));
}

function reasonsCard(ctx, s) {
  const box = h("div", {});
  const drivers = s.choices.drivers.map((d) => [d, label(d)]);
  let reasons = s.reasons;
  const call = async (path, method, body) => {
    try {
      const out = await ctx.api(path, { method, body });
      reasons = out.reasons;
      draw();
      ctx.toast("Reason list saved");
    } catch (error) {
      ctx.toast(error.message, { error: true });
    }
  };
  const move = (code, delta) => {
    const codes = reasons.map((r) => r.code);
    const i = codes.indexOf(code);
    const j = i + delta;
    if (j < 0 || j >= codes.length) return;
    [codes[i], codes[j]] = [codes[j], codes[i]];
    call("/api/admin/settings/reasons/order", "PUT", { codes });
  };
  function draw() {
    if (!reasons.length) {
      fill(box, h("p", { class: "vh-muted" }, "The default list is created with the first cancellation or the first edit below."));
    } else {
      fill(box, table(
        [{ title: "Reason" }, { title: "Points at" }, { title: "Comment" }, { title: "Version", numeric: true }, { title: "" }],
        reasons.map((r, i) => [
          h("div", {}, h("strong", {}, (r.labels && r.labels.en) || label(r.code)), h("div", { class: "vh-small vh-muted" }, r.code), r.active ? null : badge("Retired", "neutral")),
          select({ label: `Value driver of ${r.code}`, name: `driver-${r.code}`, value: r.driver, options: drivers,
            onChange: (v) => call(`/api/admin/settings/reasons/${encodeURIComponent(r.code)}`, "PATCH", { driver: v }) }).el,
          r.requires_comment ? "Required" : "Optional",
          `v${r.version}`,
          h("div", { class: "vh-row" },
            button("↑", { label: `Move ${r.code} up`, disabled: i === 0, onClick: () => move(r.code, -1) }),
            button("↓", { label: `Move ${r.code} down`, disabled: i === reasons.length - 1, onClick: () => move(r.code, 1) }),
            button(r.active ? "Retire" : "Offer again", { variant: "plain", onClick: () => call(`/api/admin/settings/reasons/${encodeURIComponent(r.code)}`, "PATCH", { active: !r.active }) })),
        ]), { caption: "Cancel reasons" }));
    }
  }
  draw();
  const code = textField({ label: "Code", name: "code", placeholder: "too_expensive_shipping", maxlength: 64, help: "Lowercase letters, digits and _; never reused." });
  const text = textField({ label: "Label (English)", name: "label", maxlength: 200 });
  const driver = select({ label: "Points at", name: "driver", options: drivers });
  const needsComment = checkbox({ label: "Ask for a comment", name: "requires_comment" });
  const add = h("form", { class: "vh-toolbar", style: "margin-top:12px", onsubmit: (e) => {
    e.preventDefault();
    call("/api/admin/settings/reasons", "POST", { code: code.read().trim(), driver: driver.read(), requires_comment: needsComment.read(), labels: text.read().trim() ? { en: text.read().trim() } : {} });
  } }, code.el, text.el, driver.el, needsComment.el, button("Add reason", { type: "submit" }));
  return h("s-section", { heading: "Cancel reasons" },
    h("p", { class: "vh-muted" }, "What subscribers choose from when they cancel. Changing what a reason means makes a new version; past answers keep theirs. Retired reasons are no longer offered.", explain("cancel_reasons")),
    box, add);
}

function surveysCard(ctx, s) {
  const fields = {};
  for (const [key, text, help, min, max, step] of SURVEY_FIELDS) {
    fields[key] = textField({ label: text, name: key, type: "number", value: s.surveys[key], min, max, step, help });
  }
  const randomise = checkbox({ label: "Shuffle the cancel reasons (against order bias; “Other” stays last)", name: "randomise_reason_order", checked: s.surveys.randomise_reason_order });
  const theme = checkbox({ label: "Show survey pages inside the store theme", name: "proxy_theme_layout", checked: s.surveys.proxy_theme_layout });
  return h("s-section", { heading: "Survey timing" },
    h("form", { onsubmit: (e) => {
      e.preventDefault();
      const body = { ...s.surveys, randomise_reason_order: randomise.read(), proxy_theme_layout: theme.read() };
      for (const key of Object.keys(fields)) body[key] = Number(fields[key].read());
      save(ctx, "surveys", body, fields).then((done) => { if (done) Object.assign(s.surveys, body); });
    } },
      h("div", { class: "vh-grid-2" }, Object.values(fields).map((f) => f.el)),
      h("div", { style: "margin:12px 0" }, randomise.el, theme.el),
      button("Save", { type: "submit", variant: "primary" })));
}

function valueCard(ctx, s) {
  const margin = textField({ label: "Margin (%)", name: "margin", type: "number", min: 0, max: 100, step: "0.1", value: Math.round(s.value.margin * 1000) / 10,
    help: "Share of the recurring amount you keep; it turns revenue into value." });
  const discount = textField({ label: "Yearly discount rate (%)", name: "annual_discount_rate", type: "number", min: 0, max: 100, step: "0.1",
    value: Math.round(s.value.annual_discount_rate * 1000) / 10, help: "What money later is worth less than money now (10% is usual)." });
  const known = new Map(s.value.plans.map((p) => [p.plan_id, p]));
  const names = [...new Set([...s.choices.plans.map((p) => p.plan), ...known.keys()])];
  const currencyOf = new Map(s.choices.plans.map((p) => [p.plan, p.currency]));
  const rows = names.map((name) => {
    const model = known.get(name) || {};
    const inputs = Object.fromEntries(PLAN_MONEY.map(([key, text]) => [key, textField({ label: `${text} (${name})`, name: `${name}-${key}`, type: "number", min: 0, step: "0.01", value: model[key] ?? "" })]));
    return { name, currency: model.currency || currencyOf.get(name) || "USD", inputs };
  });
  const fields = { margin, annual_discount_rate: discount };
  rows.forEach((r, i) => { for (const [key] of PLAN_MONEY) fields[`plans[${i}].${key}`] = r.inputs[key]; });
  const planBox = rows.length
    ? h("div", { class: "vh-plans" }, rows.map((r) => h("fieldset", { class: "vh-fieldset" },
      h("legend", {}, `${r.name} (${r.currency})`),
      h("div", { class: "vh-grid-3" }, PLAN_MONEY.map(([key]) => r.inputs[key].el)))))
    : h("p", { class: "vh-muted" }, "No plans seen yet: they appear once subscriptions are imported.");
  return h("s-section", { heading: "Margin and value to the customer" },
    h("form", { onsubmit: (e) => {
      e.preventDefault();
      const plans = [];
      const indexOf = {};
      for (const r of rows) {
        const price = r.inputs.price.read();
        if (price === "") continue; // a plan without a price has no model (—, never 0)
        const plan = { plan: r.name, currency: r.currency };
        for (const [key] of PLAN_MONEY) if (r.inputs[key].read() !== "") plan[key] = Number(r.inputs[key].read());
        if (plan.one_time_price === undefined) plan.one_time_price = plan.price;
        indexOf[plans.length] = rows.indexOf(r);
        plans.push(plan);
      }
      // The server names plans by their index in what was sent: map back to the form's rows.
      const sentFields = { margin, annual_discount_rate: discount };
      plans.forEach((_, k) => { for (const [key] of PLAN_MONEY) sentFields[`plans[${k}].${key}`] = rows[indexOf[k]].inputs[key]; });
      save(ctx, "value", { margin: Number(margin.read()) / 100, annual_discount_rate: Number(discount.read()) / 100, plans }, sentFields);
    } },
      h("div", { class: "vh-grid-2" }, margin.el, discount.el),
      h("s-heading", { style: "margin-top:12px" }, "Customer value model per plan", explain("customer_value")),
      h("p", { class: "vh-muted vh-small" }, "Per delivery, in the plan's currency: what the subscriber pays and what they get beyond it. Leave the price empty for a plan you do not model."),
      planBox,
      h("div", { style: "margin-top:12px" }, button("Save", { type: "submit", variant: "primary" })),
      h("p", { class: "vh-muted vh-small" }, "Saving recomputes the figures within a few minutes.")));
}

function labelsCard(ctx, s) {
  const labels = JSON.parse(JSON.stringify(s.surveys.labels || {}));
  const list = h("div", {});
  const locale = select({ label: "Language", name: "locale", options: s.choices.locales.map((l) => [l, l]) });
  const key = select({ label: "Text", name: "key", options: s.choices.label_keys.map((k) => [k, k]) });
  const text = textField({ label: "Your wording", name: "text", maxlength: 500 });
  const store = async () => {
    const body = { ...s.surveys, labels };
    if (await save(ctx, "surveys", body, { labels: text })) s.surveys.labels = JSON.parse(JSON.stringify(labels));
    draw();
  };
  function draw() {
    const rows = Object.entries(labels).flatMap(([loc, texts]) => Object.entries(texts).map(([k, v]) => [loc, k, v,
      button("Remove", { variant: "plain", onClick: () => { delete labels[loc][k]; if (!Object.keys(labels[loc]).length) delete labels[loc]; store(); } })]));
    fill(list, rows.length
      ? table([{ title: "Language" }, { title: "Text" }, { title: "Your wording" }, { title: "" }], rows, { caption: "Label overrides" })
      : h("p", { class: "vh-muted" }, "No overrides: subscribers see the standard wording."));
  }
  draw();
  return h("s-section", { heading: "Languages and wording" },
    h("p", { class: "vh-muted" }, `Survey pages speak the subscriber's language: ${s.choices.locales.join(", ")}. Replace any standard text with your own.`),
    list,
    h("form", { class: "vh-toolbar", style: "margin-top:12px", onsubmit: (e) => {
      e.preventDefault();
      if (!text.read().trim()) { text.setError("Write the text to show"); return; }
      labels[locale.read()] = { ...(labels[locale.read()] || {}), [key.read()]: text.read().trim() };
      store();
    } }, locale.el, key.el, text.el, button("Add wording", { type: "submit" })));
}

async function loadExports(ctx, box) {
  loading(box, 2);
  try {
    const body = await ctx.api("/api/admin/privacy/exports");
    fill(box, body.exports.length
      ? table([{ title: "Customer" }, { title: "Requested" }, { title: "Prepared" }, { title: "" }],
        body.exports.map((x) => [String(x.customer_id), dateTime(x.requested_at), dateTime(x.created_at),
          button("Download", { onClick: () => download(ctx, x) })]), { caption: "Customer data requests" })
      : h("p", { class: "vh-muted" }, "No data requests."));
    loaded(box);
  } catch (error) {
    failed(box, error, () => loadExports(ctx, box));
  }
}

async function download(ctx, x) {
  try {
    const response = await ctx.download(`/api/admin/privacy/exports/${x.id}`);
    const url = URL.createObjectURL(await response.blob());
    const a = h("a", { href: url, download: `customer-${x.customer_id}-data-export-${x.id}.json`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    ctx.toast(error.message, { error: true });
  }
}

