// Save offers: the offer shown for each cancel reason, the holdout, and what the offers really
// keep (true save rate against the holdout, not the click rate). Data: /api/admin/save-offers.
import { h, clear } from "../lib/dom.js";
import { percent, number } from "../lib/format.js";
import { loading, failed } from "../lib/states.js";

const KIND_LABELS = {
  "": "No offer",
  skip: "Skip the next delivery",
  cadence: "Change the frequency",
  pause: "Pause 1–3 months",
  discount: "Discount on the next orders",
};

function pts(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) return "—";
  const sign = x > 0 ? "+" : x < 0 ? "−" : "±";
  return `${sign}${(100 * Math.abs(x)).toFixed(1)} pts`;
}

function table(headers, rows) {
  return h(
    "s-table",
    {},
    h("s-table-header-row", {}, ...headers.map((t) => h("s-table-header", {}, t))),
    h("s-table-body", {}, ...rows.map((cells) => h("s-table-row", {}, ...cells.map((c) => h("s-table-cell", {}, c))))),
  );
}

function offerControls(reason) {
  const offer = reason.offer || {};
  const kind = h(
    "select",
    { name: `kind:${reason.code}`, "aria-label": `Offer for ${reason.label}` },
    ...Object.entries(KIND_LABELS).map(([value, text]) =>
      h("option", { value, selected: (offer.kind || "") === value }, text),
    ),
  );
  const months = h(
    "select",
    { name: `months:${reason.code}`, "aria-label": `Months of pause for ${reason.label}` },
    ...[1, 2, 3].map((m) => h("option", { value: String(m), selected: offer.months === m }, `${m} month${m > 1 ? "s" : ""}`)),
  );
  const percentage = h("input", {
    type: "number", min: "1", max: "100", name: `percentage:${reason.code}`,
    value: String(offer.percentage || 10), "aria-label": `Discount percent for ${reason.label}`, size: "4",
  });
  const orders = h("input", {
    type: "number", min: "1", max: "12", name: `orders:${reason.code}`,
    value: String(offer.orders || 3), "aria-label": `Number of discounted orders for ${reason.label}`, size: "3",
  });
  const pauseBox = h("span", { class: "vh-offer-params" }, months);
  const discountBox = h("span", { class: "vh-offer-params" }, percentage, " % off the next ", orders, " orders");
  const sync = () => {
    pauseBox.hidden = kind.value !== "pause";
    discountBox.hidden = kind.value !== "discount";
  };
  kind.addEventListener("change", sync);
  sync();
  return h("span", {}, kind, " ", pauseBox, discountBox);
}

function readOffers(form, reasons) {
  const data = new FormData(form);
  const offers = {};
  for (const r of reasons) {
    const kind = data.get(`kind:${r.code}`);
    if (!kind) { offers[r.code] = null; continue; }
    const offer = { kind };
    if (kind === "pause") offer.months = Number(data.get(`months:${r.code}`));
    if (kind === "discount") {
      offer.percentage = Number(data.get(`percentage:${r.code}`));
      offer.orders = Number(data.get(`orders:${r.code}`));
    }
    offers[r.code] = offer;
  }
  return offers;
}

function configSection(body, ctx, reload) {
  const message = h("p", { class: "vh-form-error", role: "alert" });
  const holdout = h("input", {
    type: "number", id: "vh-holdout", name: "holdout", min: "0", max: String(100 * body.max_holdout_share),
    step: "1", value: String(Math.round(100 * body.holdout_share)), size: "4",
  });
  const form = h(
    "form",
    { class: "vh-form", id: "vh-offers-form", novalidate: true },
    table(
      ["Cancel reason", "Offer shown", "The subscriber reads"],
      body.reasons.map((r) => [r.label, offerControls(r), r.offer_text]),
    ),
    h("p", {}, h("label", { for: "vh-holdout" }, "Holdout: "), holdout, " % of subscribers are never shown an offer"),
    h("p", { class: "vh-hint" }, body.definitions.holdout),
    message,
    h("s-button", { variant: "primary", type: "submit", id: "vh-offers-save" }, "Save offers"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    try {
      await ctx.api("/api/admin/save-offers", {
        method: "PUT",
        body: { offers: readOffers(form, body.reasons), holdout_share: Number(holdout.value) / 100 },
      });
      ctx.toast("Save offers saved");
      await reload();
    } catch (error) {
      const field = error.body && error.body.error && error.body.error.field;
      message.textContent = field ? `${field}: ${error.message}` : error.message;
      ctx.toast("Not saved", { error: true });
    }
  });
  // s-button may not submit a form by itself (outside Shopify's CDN components).
  form.querySelector("#vh-offers-save").addEventListener("click", () => form.requestSubmit());
  return h("s-section", { heading: "Offer per cancel reason" }, form);
}

function horizonCell(hz) {
  if (hz.save_rate === null) return h("span", {}, "not yet: ", hz.note || "no data");
  const verdict = hz.ci_low > 0 ? "keeps subscribers" : hz.ci_high < 0 ? "loses subscribers" : "cannot tell yet";
  return h(
    "span",
    {},
    h("strong", {}, pts(hz.save_rate)),
    ` (95%: ${pts(hz.ci_low)} to ${pts(hz.ci_high)}) — ${verdict}. `,
    h("br"),
    `Kept ${percent(hz.kept_offered)} of ${number(hz.offered_n)} offered vs ${percent(hz.kept_holdout)} of ${number(hz.holdout_n)} held out`,
  );
}

function reportSection(body) {
  const report = body.report;
  const d = body.definitions;
  const explain = h(
    "div",
    { class: "vh-hint" },
    h("p", {}, h("strong", {}, "Offered: "), d.offered, " ", h("strong", {}, "Accepted: "), d.accepted),
    h("p", {}, h("strong", {}, "Kept: "), d.kept),
    h("p", {}, h("strong", {}, "True save rate: "), d.save_rate),
  );
  if (!report.rows.length) {
    return h(
      "s-section",
      { heading: "What the offers keep" },
      h("p", {}, "No cancel flow with an offer yet. Figures appear once subscribers go through the cancel flow."),
      explain,
    );
  }
  const headers = ["Reason", "Offer", "Offered", "Accepted", "Held out", ...report.horizons.map((x) => `True save rate at ${x} days`)];
  const rows = report.rows.map((r) => [
    r.reason.replaceAll("_", " "),
    r.offer.replaceAll("_", " "),
    number(r.offered),
    `${number(r.accepted)} (${percent(r.acceptance_rate)})`,
    number(r.holdout),
    ...r.horizons.map(horizonCell),
  ]);
  return h(
    "s-section",
    { heading: "What the offers keep" },
    h("p", {}, `${number(report.flows_counted)} cancel flows counted (first flow per subscription).`),
    h("div", { id: "vh-save-report" }, table(headers, rows)),
    explain,
  );
}

export async function render(root, ctx) {
  async function load() {
    loading(root, 6);
    try {
      const body = await ctx.api("/api/admin/save-offers");
      clear(root);
      root.append(
        h("s-page", { heading: "Save offers" },
          h("p", {}, "When a subscriber cancels, they first say why; you choose what they are offered for each reason. A random holdout sees no offer, so you can see what the offer really changes."),
          configSection(body, ctx, load),
          reportSection(body),
        ),
      );
    } catch (error) {
      failed(root, error, load);
    }
  }
  await load();
}
