// Billing: what today's billing run asked of Shopify and what came of it, failed payments
// being retried, revenue recovered by retries per month, and the dunning settings.
import { h, fill } from "../lib/dom.js";
import { money, number } from "../lib/format.js";
import { loading, failed } from "../lib/states.js";
import { button, textField, select, table, badge, section } from "../lib/controls.js";

const STATUS = {
  claimed: ["Sending", "info"],
  submitted: ["Waiting for Shopify", "info"],
  success: ["Paid", "success"],
  failure: ["Failed", "critical"],
  rejected: ["Refused by Shopify", "warning"],
};

export async function render(root, ctx) {
  loading(root, 4);
  let doc;
  try {
    doc = await ctx.api("/api/admin/billing");
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  fill(root, todaySection(doc), recoveredSection(doc), settingsSection(doc, ctx, root));
}

function todaySection(doc) {
  const today = doc.today;
  const counts = Object.entries(today.counts || {}).map(([status, n]) =>
    h("span", {}, badge(`${(STATUS[status] || [status])[0]}: ${number(n)}`, (STATUS[status] || [])[1] || "neutral"), " "));
  const rows = today.charges.map((c) => [
    String(c.contract_id),
    c.billing_date,
    c.kind,
    c.amount === null ? "—" : money(Number(c.amount), c.currency),
    badge((STATUS[c.status] || [c.status])[0], (STATUS[c.status] || [])[1] || "neutral"),
    c.error_code ? c.error_code.replaceAll("_", " ") : "",
  ]);
  return section(`Today's billing run (${today.day})`,
    h("p", {}, doc.explanations.billing_day),
    h("p", {}, doc.explanations.today),
    counts.length ? h("p", {}, counts) : null,
    rows.length
      ? table([{ title: "Contract" }, { title: "Billing date" }, { title: "Charge" }, { title: "Amount", numeric: true },
        { title: "Status" }, { title: "Reason" }], rows, { caption: "Charges asked of Shopify today" })
      : h("p", { class: "vh-empty" }, "No charge asked today yet."),
    h("p", {}, `Failed payments being retried: ${number(doc.dunning.open)}, of which `,
      `${number(doc.dunning.awaiting_payment_update)} wait for the customer to update their card.`));
}

function recoveredSection(doc) {
  const rows = doc.recovered.map((r) => [r.month, money(Number(r.amount), r.currency), number(r.cycles)]);
  return section("Recovered revenue",
    h("p", {}, doc.explanations.recovered),
    rows.length
      ? table([{ title: "Month" }, { title: "Recovered", numeric: true }, { title: "Payments recovered", numeric: true }], rows,
        { caption: "Revenue recovered by payment retries, per month" })
      : h("p", { class: "vh-empty" }, "Nothing recovered yet: no failed payment has been paid by a retry."));
}

function settingsSection(doc, ctx, root) {
  const s = doc.settings;
  const days = textField({ label: "Retry after (days)", name: "retry_days", value: s.retry_days.join(", "),
    help: doc.explanations.retry_days });
  const action = select({ label: "After the last failed retry", name: "final_action", value: s.final_action,
    options: [["pause", "Pause the subscription"], ["cancel", "Cancel the subscription"]], help: doc.explanations.final_action });
  const hour = textField({ label: "Billing hour (shop time, 0–23)", name: "billing_hour", type: "number", min: 0, max: 23, value: s.billing_hour });
  const fields = { retry_days: days, billing_hour: hour };
  async function save() {
    for (const f of Object.values(fields)) f.setError("");
    const body = {
      retry_days: days.read().split(/[\s,]+/).filter(Boolean).map(Number),
      final_action: action.read(),
      billing_hour: Number(hour.read()),
    };
    try {
      await ctx.api("/api/admin/billing/settings", { method: "PUT", body });
      ctx.toast("Dunning settings saved");
      render(root, ctx);
    } catch (error) {
      const detail = (error.body && error.body.error) || {};
      if (fields[detail.field]) fields[detail.field].setError(detail.message);
      ctx.toast(detail.message || error.message, { error: true });
    }
  }
  return section("Dunning settings", days.el, action.el, hour.el,
    button("Save settings", { variant: "primary", onClick: save }));
}
