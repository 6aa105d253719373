// Save offers: the offer a subscriber is shown for each cancel reason, the holdout who are shown
// nothing, and what the offers really keep (true save rate against the holdout, not the click
// rate). Data: GET/PUT /api/admin/save-offers; definitions in docs/metrics.md.
import { h, fill } from "../lib/dom.js";
import { percent, number, isNum, DASH } from "../lib/format.js";
import { loading, failed, loaded } from "../lib/states.js";
import { table, button, select, textField } from "../lib/controls.js";
import { explain } from "../lib/explain.js";

const KINDS = [
  ["", "No offer"],
  ["skip", "Skip the next delivery"],
  ["cadence", "Change the frequency"],
  ["pause", "Pause 1–3 months"],
  ["discount", "Discount on the next orders"],
];

function pts(x) {
  if (!isNum(x)) return DASH;
  const sign = x > 0 ? "+" : x < 0 ? "−" : "±";
  return `${sign}${(100 * Math.abs(x)).toFixed(1)} pts`;
}

export async function render(root, ctx) {
  loading(root, 10);
  let body;
  try {
    body = await ctx.api("/api/admin/save-offers");
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  if (!ctx.current()) return;
  fill(root,
    h("p", { class: "vh-muted" },
      "When a subscriber cancels, they first say why; you choose what they are offered for each reason. ",
      "A random holdout sees no offer, so the report can show what the offer really changes."),
    offersCard(ctx, body, () => render(root, ctx)),
    reportCard(body));
  loaded(root);
}

/** One row of controls per reason: the kind, and the parameters that kind takes. */
function offerRow(reason) {
  const offer = reason.offer || {};
  const kind = select({ label: `Offer for “${reason.label}”`, name: `kind-${reason.code}`, value: offer.kind || "", options: KINDS });
  const months = select({ label: "Months", name: `months-${reason.code}`, value: String(offer.months || 1),
    options: [["1", "1 month"], ["2", "2 months"], ["3", "3 months"]] });
  const pct = textField({ label: "Percent off", name: `percentage-${reason.code}`, type: "number", min: 1, max: 100, step: 1, value: offer.percentage || 10 });
  const orders = textField({ label: "Orders", name: `orders-${reason.code}`, type: "number", min: 1, max: 12, step: 1, value: offer.orders || 3 });
  const params = h("div", { class: "vh-inline" });
  const sync = () => {
    const k = kind.read();
    fill(params, k === "pause" ? months.el : null, k === "discount" ? [pct.el, orders.el] : null);
  };
  kind.input.addEventListener("change", sync);
  sync();
  const read = () => {
    const k = kind.read();
    if (!k) return null;
    if (k === "pause") return { kind: k, months: Number(months.read()) };
    if (k === "discount") return { kind: k, percentage: Number(pct.read()), orders: Number(orders.read()) };
    return { kind: k };
  };
  return { cells: [reason.label, h("div", {}, kind.el, params), reason.offer_text], read, fields: { percentage: pct, orders } };
}

function offersCard(ctx, body, reload) {
  const rows = body.reasons.map((r) => [r.code, offerRow(r)]);
  const holdout = textField({
    label: "Holdout (% of subscribers never shown an offer)", name: "holdout_share", type: "number",
    min: 0, max: 100 * body.max_holdout_share, step: 1, value: Math.round(100 * body.holdout_share),
    help: body.definitions.holdout,
  });
  const message = h("p", { class: "vh-field-error", role: "alert" });
  const save = async () => {
    message.textContent = "";
    holdout.setError("");
    const offers = Object.fromEntries(rows.map(([code, row]) => [code, row.read()]));
    try {
      await ctx.api("/api/admin/save-offers", { method: "PUT", body: { offers, holdout_share: Number(holdout.read()) / 100 } });
      ctx.toast("Save offers saved");
      reload();
    } catch (error) {
      const field = (error.body && error.body.error && error.body.error.field) || "";
      if (field === "holdout_share") holdout.setError(error.message);
      const [, code, param] = field.split(".");
      const row = rows.find(([c]) => c === code);
      if (row && row[1].fields[param]) row[1].fields[param].setError(error.message);
      message.textContent = field ? `${field}: ${error.message}` : error.message;
      ctx.toast("Not saved", { error: true });
    }
  };
  return h("s-section", { heading: "Offer per cancel reason" },
    table([{ title: "Cancel reason" }, { title: "Offer shown" }, { title: "The subscriber reads" }], rows.map(([, row]) => row.cells)),
    holdout.el,
    message,
    button("Save offers", { variant: "primary", onClick: save }));
}

function horizonCell(hz) {
  if (hz.save_rate === null) return h("span", { class: "vh-muted" }, `Not yet: ${hz.note || "no data"}`);
  const verdict = hz.ci_low > 0 ? "keeps subscribers" : hz.ci_high < 0 ? "loses subscribers" : "cannot tell yet";
  return h("span", {},
    h("strong", {}, pts(hz.save_rate)), ` (95%: ${pts(hz.ci_low)} to ${pts(hz.ci_high)}), ${verdict}`,
    h("br"),
    h("span", { class: "vh-small vh-muted" },
      `kept ${percent(hz.kept_offered)} of ${number(hz.offered_n)} offered, ${percent(hz.kept_holdout)} of ${number(hz.holdout_n)} held out`));
}

function reportCard(body) {
  const report = body.report;
  const d = body.definitions;
  const notes = h("div", { class: "vh-small vh-muted" },
    h("p", {}, h("strong", {}, "Offered: "), d.offered, " ", h("strong", {}, "Accepted: "), d.accepted),
    h("p", {}, h("strong", {}, "Kept: "), d.kept),
    h("p", {}, h("strong", {}, "True save rate: "), d.save_rate));
  if (!report.rows.length) {
    return h("s-section", { heading: "What the offers keep" },
      h("p", {}, "No cancel flow with an offer yet. Figures appear once subscribers go through the cancel flow."), notes);
  }
  const columns = [
    { title: "Reason" }, { title: "Offer" }, { title: "Offered", numeric: true },
    { title: h("span", {}, "Accepted", explain("save_offer_acceptance")), numeric: true },
    { title: "Held out", numeric: true },
    ...report.horizons.map((days) => ({ title: h("span", {}, `True save rate, ${days} days`, days === report.horizons[0] ? explain("true_save_rate") : null) })),
  ];
  const rows = report.rows.map((r) => [
    r.reason_label,
    r.offer_text,
    number(r.offered),
    `${number(r.accepted)} (${percent(r.acceptance_rate)})`,
    number(r.holdout),
    ...r.horizons.map(horizonCell),
  ]);
  return h("s-section", { heading: "What the offers keep" },
    h("p", {}, `${number(report.flows_counted)} cancel flows counted (the first per subscription).`),
    h("div", { id: "vh-save-report" }, table(columns, rows, { caption: "True save rate per reason and offer" })),
    notes);
}
