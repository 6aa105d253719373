// Plans: the subscription plans Valuehealth sells through Shopify (one selling plan group
// each): name, the delivery and billing frequencies offered, one discount, and the products
// and variants they are offered on. Create at /app/plans, edit at /app/plans/<id>.
// A change of frequencies or discount is saved as a new version; the table says which.
import { h, fill } from "../lib/dom.js";
import { date } from "../lib/format.js";
import { loading, failed } from "../lib/states.js";
import { button, textField, select, table, badge, section } from "../lib/controls.js";

const INTERVAL_WORDS = { day: "days", week: "weeks", month: "months", year: "years" };
const DISCOUNT_WORDS = [["none", "No discount"], ["percentage", "Percentage off"], ["fixed_amount", "Amount off"]];

function discountText(discount) {
  if (!discount || discount.type === "none") return "No discount";
  if (discount.type === "percentage") return `${Number(discount.value)}% off each delivery`;
  return `${discount.value} off each delivery (shop currency)`;
}

function gids(text, kind) {
  return String(text || "")
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (/^\d+$/.test(s) ? `gid://shopify/${kind}/${s}` : s));
}

export async function render(root, ctx) {
  loading(root, 4);
  let doc;
  try {
    doc = await ctx.api("/api/admin/plans");
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  const editing = ctx.rest.length ? doc.plans.find((p) => String(p.id) === ctx.rest[0]) : null;
  fill(root,
    listSection(doc, ctx),
    formSection(doc, editing, ctx, root));
}

function listSection(doc, ctx) {
  const intro = h("p", {},
    "Each plan is offered at checkout in your theme's subscription options. Subscribers keep the price ",
    "they signed up at; a change of frequencies or discount starts a new version, so your figures ",
    "always know which offer each subscriber bought.");
  if (!doc.plans.length) {
    return section("Your plans", intro, h("p", { class: "vh-empty" }, "No plan yet: create the first one below."));
  }
  const rows = doc.plans.map((plan) => [
    plan.name,
    plan.frequencies.map((f) => f.label).join("; "),
    discountText(plan.discount),
    String(plan.products.length + plan.variants.length),
    h("span", {}, badge(`Version ${plan.version}`, plan.version > 1 ? "info" : "neutral"),
      " since ", date(plan.versions[plan.versions.length - 1].effective_from)),
    button("Edit", { variant: "plain", onClick: () => ctx.navigate(`/app/plans/${plan.id}`), label: `Edit ${plan.name}` }),
  ]);
  return section("Your plans", intro,
    table([{ title: "Plan" }, { title: "Frequencies offered" }, { title: "Discount" },
      { title: "Products and variants", numeric: true }, { title: "Version" }, { title: "" }], rows,
    { caption: "Subscription plans" }));
}

function frequencyRow(doc, value, onRemove) {
  const interval = select({
    label: "Every", name: "interval", value: value.interval || "month",
    options: doc.choices.intervals.map((i) => [i, INTERVAL_WORDS[i]]),
  });
  const delivery = textField({ label: "Deliver every", name: "delivery_count", type: "number", min: 1, value: value.delivery_count || 1 });
  const billing = textField({
    label: "Bill every", name: "billing_count", type: "number", min: 1, value: value.billing_count || value.delivery_count || 1,
    help: "Same as the delivery for pay-as-you-go; a multiple of it for prepaid.",
  });
  const remove = button("Remove", { variant: "plain", tone: "critical", onClick: onRemove, label: "Remove this frequency" });
  const el = h("div", { class: "vh-toolbar vh-frequency", style: "align-items:flex-start" }, delivery.el, interval.el, billing.el, remove);
  return {
    el,
    read: () => ({
      interval: interval.read(),
      delivery_count: Number(delivery.read()),
      billing_count: Number(billing.read()),
    }),
  };
}

function formSection(doc, plan, ctx, root) {
  const name = textField({ label: "Plan name", name: "name", value: plan ? plan.name : "", maxlength: 255, required: true,
    help: "Shown to buyers next to the subscription options." });
  const rows = [];
  const list = h("div", { class: "vh-frequencies" });
  const draw = () => fill(list, rows.map((r) => r.el));
  const addRow = (value) => {
    const row = frequencyRow(doc, value, () => {
      rows.splice(rows.indexOf(row), 1);
      draw();
    });
    rows.push(row);
    draw();
  };
  (plan ? plan.frequencies : [{ interval: "month", delivery_count: 1, billing_count: 1 }]).forEach(addRow);
  const kind = select({ label: "Discount", name: "discount_type", value: plan ? plan.discount.type : "none", options: DISCOUNT_WORDS });
  const amount = textField({ label: "Discount value", name: "discount_value", type: "number", step: "0.01", min: 0,
    value: plan && plan.discount.type !== "none" ? plan.discount.value : "",
    help: "A percentage (e.g. 10) or an amount in the shop's currency, off each delivery." });
  const products = textField({ label: "Products", name: "products", type: "textarea",
    value: plan ? plan.products.join("\n") : "",
    help: "Product IDs or Shopify product GIDs, one per line." });
  const variants = textField({ label: "Variants (optional)", name: "variants", type: "textarea",
    value: plan ? plan.variants.join("\n") : "",
    help: "Single variants to offer without their whole product." });
  const fields = { name, discount_value: amount, products, variants };
  const status = h("p", { class: "vh-field-error", role: "alert" });

  async function pick(kindName, field) {
    // App Bridge's resource picker inside Shopify admin; typing IDs works everywhere.
    if (!(window.shopify && window.shopify.resourcePicker)) return;
    const picked = await window.shopify.resourcePicker({ type: kindName, multiple: true });
    if (picked) field.input.value = picked.map((p) => p.id).join("\n");
  }

  async function save() {
    for (const f of Object.values(fields)) f.setError("");
    status.textContent = "";
    const body = {
      name: name.read(),
      frequencies: rows.map((r) => r.read()),
      discount: kind.read() === "none" ? { type: "none" } : { type: kind.read(), value: amount.read() },
      products: gids(products.read(), "Product"),
      variants: gids(variants.read(), "ProductVariant"),
    };
    try {
      const saved = plan
        ? await ctx.api(`/api/admin/plans/${plan.id}`, { method: "PATCH", body })
        : await ctx.api("/api/admin/plans", { method: "POST", body });
      ctx.toast(plan ? `Saved ${saved.name} (version ${saved.version})` : `Created ${saved.name}`);
      if (plan) ctx.navigate("/app/plans");
      else render(root, ctx);
    } catch (error) {
      const detail = (error.body && error.body.error) || {};
      const field = String(detail.field || "").split(/[.[]/)[0];
      const message = detail.message || error.message;
      if (fields[field]) fields[field].setError(message);
      status.textContent = message;
      ctx.toast(message, { error: true });
    }
  }

  return section(plan ? `Edit ${plan.name}` : "Create a plan",
    name.el,
    h("h3", {}, "Frequencies offered"),
    h("p", { class: "vh-help" }, "Buyers choose one of these at checkout (at most ", String(doc.choices.max_frequencies), ")."),
    list,
    button("Add a frequency", { onClick: () => addRow({ interval: "week", delivery_count: 2, billing_count: 2 }) }),
    h("div", { class: "vh-toolbar", style: "align-items:flex-start" }, kind.el, amount.el),
    products.el,
    window.shopify && window.shopify.resourcePicker ? button("Choose products", { variant: "plain", onClick: () => pick("product", products) }) : null,
    variants.el,
    status,
    h("div", { class: "vh-toolbar" },
      button(plan ? "Save plan" : "Create plan", { variant: "primary", onClick: save }),
      plan ? button("Cancel", { variant: "plain", onClick: () => ctx.navigate("/app/plans") }) : null),
  );
}
