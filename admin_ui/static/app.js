// Valuehealth App Home: fetches the shop's figures from /api/admin/* with the App Bridge
// session token and renders them. Every value from the API reaches the page as text
// (textContent / Text nodes), never as markup. No framework and no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // el("s-badge", {tone: "success"}, "text", otherNode): strings become Text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") {
        node.addEventListener(name.slice(2), value);
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function fill(target, ...children) {
    target.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  }

  // ---- API ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || `the server answered ${status}`);
      this.status = status;
      this.field = error.field || null;
    }
  }

  async function request(path, options = {}) {
    const token = await window.shopify.idToken();
    const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    const init = { method: options.method || "GET", headers, cache: "no-store" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const response = await fetch(path, init);
    if (options.raw && response.ok) return response;
    const type = response.headers.get("content-type") || "";
    const body = type.includes("application/json") ? await response.json() : null;
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  function showError(error) {
    console.error(error);
    $("vh-error-text").textContent = error.message || String(error);
    $("vh-error").hidden = false;
  }

  // ---- formatting --------------------------------------------------------------------------

  const DASH = "—";
  const numberFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const pct = (v, digits = 1) => (isNum(v) ? `${(100 * v).toFixed(digits)}%` : DASH);
  const count = (v) => (isNum(v) ? numberFmt.format(v) : DASH);
  const fixed = (v, digits = 1) => (isNum(v) ? v.toFixed(digits) : DASH);

  function money(amount, currency) {
    if (!isNum(amount)) return DASH;
    if (!currency) return amount.toFixed(2);
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount);
    } catch (_) {
      return `${amount.toFixed(2)} ${currency}`;
    }
  }

  function byUnit(value, unit, currency) {
    switch (unit) {
      case "share": return pct(value);
      case "points": return fixed(value, 1);
      case "money": return money(value, currency);
      case "count": return count(value);
      case "days": return isNum(value) ? `${value.toFixed(1)} d` : DASH;
      default: return fixed(value, 2);
    }
  }

  function signed(value, unit, currency) {
    if (!isNum(value)) return DASH;
    const sign = value > 0 ? "+" : value < 0 ? "−" : "±";
    const size = Math.abs(value);
    if (unit === "share") return `${sign}${(100 * size).toFixed(1)} pts`;
    return sign + byUnit(size, unit, currency);
  }

  const label = (code) => String(code).replaceAll("_", " ");

  // ---- building blocks ---------------------------------------------------------------------

  function stat(title, value, note) {
    // A sentence in place of a figure ("Not enough answers") gets a smaller type.
    const words = /^[A-Za-z ]{12,}$/.test(value);
    return el(
      "div",
      { class: "vh-stat" },
      el("div", { class: "vh-stat-label" }, title),
      el("div", { class: words ? "vh-stat-value vh-words" : "vh-stat-value" }, value),
      note ? el("div", { class: "vh-stat-note" }, note) : null,
    );
  }

  // columns: [{title, numeric?}], rows: arrays of cells (strings or nodes)
  function table(columns, rows) {
    return el(
      "div",
      { class: "vh-scroll" },
      el(
        "s-table",
        {},
        el(
          "s-table-header-row",
          {},
          columns.map((c) => el("s-table-header", { format: c.numeric ? "numeric" : null }, c.title)),
        ),
        el(
          "s-table-body",
          {},
          rows.map((cells) =>
            el(
              "s-table-row",
              {},
              cells.map((cell, i) =>
                el("s-table-cell", { class: columns[i].numeric ? "vh-num" : null }, cell),
              ),
            ),
          ),
        ),
      ),
    );
  }

  // Save a fetched file: a link that is in the document while it is clicked (Firefox needs it).
  function save(url, filename) {
    const link = el("a", { href: url, download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
  }

  function empty(text) {
    return el("p", { class: "vh-muted" }, text);
  }

  function missingNote(doc, path) {
    return (doc.missing && doc.missing[path]) || null;
  }

  // ---- sections ----------------------------------------------------------------------------

  function renderOverview(doc) {
    if (!doc.computed_at) {
      $("vh-computed").textContent =
        (doc.missing && doc.missing["*"]) || "No figures yet: the shop has not been scored.";
    } else {
      const asOf = doc.as_of ? ` as of ${doc.as_of}` : "";
      $("vh-computed").textContent =
        `Figures${asOf}, computed ${new Date(doc.computed_at).toLocaleString()}.`;
    }
    const nps = doc.nps || {};
    const npsValue = isNum(nps.score) ? fixed(nps.score, 0) : "Not enough answers";
    const npsNote = isNum(nps.score)
      ? `95% CI ${fixed(nps.ci_low, 0)} to ${fixed(nps.ci_high, 0)} · n = ${count(nps.responses)}`
      : `${count(nps.responses)} answers so far; a score needs at least 30`;
    const change = nps.change || {};
    const changeNote = isNum(change.delta)
      ? `${signed(change.delta, "points")} vs the 30 days before · ${change.real ? "a real change" : "not a real change"}`
      : null;
    const churn = doc.churn || {};
    const mrr = doc.mrr || {};
    const atRisk = doc.revenue_at_risk || {};
    fill(
      $("vh-stats"),
      stat("Active subscribers", count(doc.subscribers && doc.subscribers.active),
        `${count(doc.subscribers && doc.subscribers.paused)} paused (not churn)`),
      stat("MRR", money(mrr.amount, mrr.currency),
        doc.arpu && isNum(doc.arpu.amount) ? `ARPU ${money(doc.arpu.amount, doc.arpu.currency)}` : null),
      stat("Monthly churn", pct(churn.monthly_rate),
        churn.month ? `${churn.month}: ${count(churn.churned)} of ${count(churn.active_at_start)}` : missingNote(doc, "churn.monthly_rate")),
      stat("NPS", npsValue, [npsNote, changeNote].filter(Boolean).join(" · ")),
      stat("Revenue at risk", money(atRisk.amount, atRisk.currency), "MRR of high-risk subscribers"),
      stat("Value for money", isNum(doc.value_perception) ? `${fixed(doc.value_perception, 2)} / 5` : DASH,
        isNum(doc.response_rate) ? `survey response rate ${pct(doc.response_rate)}` : missingNote(doc, "value_perception")),
    );

    const reasons = doc.cancel_reasons || [];
    $("vh-capture").textContent = isNum(doc.capture_rate)
      ? `${pct(doc.capture_rate)} of ${count(doc.cancellations && doc.cancellations.total)} cancellations came with a reason from the subscriber.`
      : missingNote(doc, "capture_rate") || "";
    const widest = Math.max(0.0001, ...reasons.map((r) => r.share || 0));
    fill(
      $("vh-reasons"),
      reasons.length
        ? table(
            [{ title: "Reason" }, { title: "Value driver" }, { title: "Cancellations", numeric: true }, { title: "Share" }],
            reasons.map((r) => [
              r.label || r.code,
              r.driver ? label(r.driver) : DASH,
              count(r.count),
              el("span", {}, el("span", { class: "vh-bar", style: `width:${Math.round(120 * (r.share || 0) / widest)}px` }), pct(r.share)),
            ]),
          )
        : empty("No cancellation with a reason in the window."),
    );

    const drivers = doc.drivers || {};
    const details = doc.details || {};
    const of = (key) => {
      const d = details[key];
      return d && isNum(d.denominator) ? `${count(d.numerator)} of ${count(d.denominator)}` : null;
    };
    fill(
      $("vh-drivers"),
      stat("Billing success", pct(doc.billing_success_rate), of("billing_success_rate") || missingNote(doc, "billing_success_rate")),
      stat("Cadence fit", pct(drivers.cadence_fit), of("cadence_fit") || missingNote(doc, "drivers.cadence_fit")),
      stat("Self-serve changes", pct(drivers.self_serve), of("self_serve") || missingNote(doc, "drivers.self_serve")),
      stat("Delivery time (median)", isNum(drivers.delivery_days_median) ? `${fixed(drivers.delivery_days_median, 1)} days` : DASH,
        missingNote(doc, "drivers.delivery_days_median")),
      stat("Predicted LTV", money(doc.predicted_ltv && doc.predicted_ltv.amount, doc.predicted_ltv && doc.predicted_ltv.currency), "of a new subscriber"),
      stat("Churn risk model", doc.risk_model ? label(doc.risk_model.method) : DASH,
        doc.risk_model && isNum(doc.risk_model.auc) ? `holdout AUC ${fixed(doc.risk_model.auc, 2)}, top-decile lift ${fixed(doc.risk_model.top_decile_lift, 1)}` : (doc.risk_model && doc.risk_model.reason) || null),
    );
  }

  const COHORT_AGES = [1, 2, 3, 6, 9, 12];
  const COHORTS_SHOWN = 12;

  function renderRetention(body) {
    const model = body.model || {};
    $("vh-model").textContent = model.converged
      ? `Shifted-beta-geometric retention model: α = ${fixed(model.alpha, 3)}, β = ${fixed(model.beta, 3)} (${count(model.n_subscribers)} subscribers).`
      : model.reason || "";
    const cohorts = (body.cohorts || []).slice(-COHORTS_SHOWN).reverse();
    fill(
      $("vh-cohorts"),
      cohorts.length
        ? table(
            [{ title: "Cohort" }, { title: "Size", numeric: true }, ...COHORT_AGES.map((a) => ({ title: `Month ${a}`, numeric: true }))],
            cohorts.map((c) => [c.cohort, count(c.size), ...COHORT_AGES.map((a) => pct((c.survival || [])[a], 0))]),
          )
        : empty("No cohorts yet."),
    );
  }

  let riskCursor = null;
  let riskRows = [];

  async function loadAtRisk(more) {
    const params = new URLSearchParams({ segment: "at_risk_high_value", sort: "-risk", limit: "20" });
    if (more && riskCursor) params.set("cursor", riskCursor);
    const page = await request(`/api/admin/subscribers?${params}`);
    riskCursor = page.next_cursor;
    const container = $("vh-at-risk");
    const rows = page.items.map((s) => [
      s.name || `Customer ${s.customer_id}`,
      pct(s.churn_risk, 0),
      fixed(s.value_score, 0),
      money(s.expected_residual_value, s.currency),
      money(s.mrr, s.currency),
      isNum(s.nps_last) ? String(s.nps_last) : DASH,
    ]);
    const columns = [
      { title: "Subscriber" }, { title: "Churn risk", numeric: true }, { title: "Value score", numeric: true },
      { title: "Expected residual value", numeric: true }, { title: "MRR", numeric: true }, { title: "Last NPS", numeric: true },
    ];
    riskRows = more ? riskRows.concat(rows) : rows;
    fill(
      container,
      riskRows.length ? table(columns, riskRows) : empty("Nobody in this segment right now."),
      riskCursor ? el("button", { type: "button", onclick: () => loadAtRisk(true).catch(showError) }, "Show more") : null,
    );
  }

  // ---- review ------------------------------------------------------------------------------

  async function loadReviews() {
    const body = await request("/api/admin/reviews");
    const select = $("vh-review-month");
    fill(select, body.months.map((m) => el("option", { value: m }, m)));
    const form = $("vh-review-form");
    for (const button of form.querySelectorAll("button")) button.disabled = !body.months.length;
    $("vh-review-status").textContent = body.months.length ? "" : "No month has been scored yet.";
  }

  async function openReview(format) {
    const month = $("vh-review-month").value;
    if (!month) return;
    const status = $("vh-review-status");
    status.textContent = "Preparing…";
    try {
      const response = await request(`/api/admin/reviews/${encodeURIComponent(month)}?format=${format}`, { raw: true });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      if (format === "html") {
        window.open(url, "_blank", "noopener");
      } else {
        save(url, `value-review-${month}.${format}`);
      }
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      status.textContent = "";
    } catch (error) {
      status.textContent = error.message;
    }
  }

  // ---- initiatives -------------------------------------------------------------------------

  const VERDICTS = {
    not_started: ["not started", "neutral"],
    measuring: ["measuring", "info"],
    not_enough_data: ["not enough data", "warning"],
    real_change: ["real change", "success"],
    no_real_change: ["no real change", "neutral"],
    untested: ["direction only", "info"],
  };
  let choices = null;

  function effectCell(item) {
    const e = item.effect || {};
    const [text, tone] = VERDICTS[e.verdict] || [e.verdict, "neutral"];
    const lines = [el("s-badge", { tone }, text)];
    if (isNum(e.before) || isNum(e.after)) {
      lines.push(el("div", { class: "vh-stat-note" },
        `${byUnit(e.before, item.unit)} → ${byUnit(e.after, item.unit)} (${signed(e.change, item.unit)})`));
    }
    if (isNum(e.p_value)) lines.push(el("div", { class: "vh-stat-note" }, `p = ${e.p_value.toFixed(3)}`));
    if (e.as_expected !== null && e.as_expected !== undefined) {
      lines.push(el("div", { class: "vh-stat-note" }, e.as_expected ? "as expected" : "not as expected"));
    }
    if (e.reason && e.verdict !== "real_change") lines.push(el("div", { class: "vh-stat-note" }, e.reason));
    return el("div", {}, lines);
  }

  function statusCell(item) {
    const actions = item.next_statuses.map((next) =>
      el("button", { type: "button", onclick: () => moveInitiative(item.id, next) }, `→ ${next}`),
    );
    const dates = item.starts_on ? `from ${item.starts_on}${item.ends_on ? ` to ${item.ends_on}` : ""}` : null;
    return el("div", {}, el("s-badge", {}, item.status), dates ? el("div", { class: "vh-stat-note" }, dates) : null,
      actions.length ? el("div", { class: "vh-actions" }, actions) : null);
  }

  function renderInitiatives(body) {
    const items = body.initiatives;
    fill(
      $("vh-initiatives"),
      items.length
        ? table(
            [{ title: "Initiative" }, { title: "Target" }, { title: "Status" }, { title: "Measured effect" }],
            items.map((item) => [
              el("div", {}, el("strong", {}, item.title), el("div", { class: "vh-stat-note" }, item.hypothesis),
                el("div", { class: "vh-stat-note" }, `${label(item.driver)} · owner ${item.owner}`)),
              el("div", {}, item.target_label,
                el("div", { class: "vh-stat-note" },
                  `expected ${signed(item.expected_direction === "up" ? item.expected_change : -item.expected_change, item.unit)}, ${item.window_days} days each side`)),
              statusCell(item),
              effectCell(item),
            ]),
          )
        : empty("No initiatives yet. A review that measures without acting changes nothing: add the first one."),
    );
  }

  function fillChoices(c) {
    choices = c;
    fill($("vh-i-driver"), c.drivers.map((d) => el("option", { value: d }, label(d))));
    fill($("vh-i-metric"), c.metrics.map((m) => el("option", { value: m.key }, `${m.label}${m.tested ? "" : " (no test)"}`)));
    fill($("vh-i-direction"), c.directions.map((d) => el("option", { value: d }, d)));
    const win = $("vh-i-window");
    win.min = c.window_days.min;
    win.max = c.window_days.max;
    win.value = c.window_days.default;
    updateUnit();
  }

  function updateUnit() {
    if (!choices) return;
    const metric = choices.metrics.find((m) => m.key === $("vh-i-metric").value);
    const hint = { share: "(a share: 0.02 is 2 points)", points: "(NPS points)", money: "(money)", days: "(days)", count: "(subscribers)", score: "(on the 1–5 scale)" };
    $("vh-i-unit").textContent = metric ? hint[metric.unit] || "" : "";
    if (metric) $("vh-i-direction").value = metric.better;
  }

  async function loadInitiatives() {
    const body = await request("/api/admin/initiatives");
    if (!choices) fillChoices(body.choices);
    renderInitiatives(body);
  }

  async function moveInitiative(id, status) {
    try {
      await request(`/api/admin/initiatives/${id}`, { method: "PATCH", body: { status } });
      await loadInitiatives();
    } catch (error) {
      showError(error);
    }
  }

  async function submitInitiative(event) {
    event.preventDefault();
    const form = event.target;
    const data = Object.fromEntries(new FormData(form).entries());
    const body = {
      ...data,
      expected_change: data.expected_change === "" ? null : Number(data.expected_change),
      window_days: data.window_days === "" ? undefined : Number(data.window_days),
    };
    const error = $("vh-i-error");
    error.textContent = "";
    try {
      await request("/api/admin/initiatives", { method: "POST", body });
      form.reset();
      fillChoices(choices);
      await loadInitiatives();
    } catch (err) {
      error.textContent = err.field ? `${label(err.field)}: ${err.message}` : err.message;
      const input = err.field && form.elements.namedItem(err.field);
      if (input && input.focus) input.focus();
    }
  }

  // ---- privacy -----------------------------------------------------------------------------

  async function downloadExport(id) {
    try {
      const response = await request(`/api/admin/privacy/exports/${id}`, { raw: true });
      const url = URL.createObjectURL(await response.blob());
      save(url, `data-export-${id}.json`);
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      showError(error);
    }
  }

  async function loadExports() {
    const body = await request("/api/admin/privacy/exports");
    fill(
      $("vh-exports"),
      body.exports.length
        ? table(
            [{ title: "Customer" }, { title: "Requested" }, { title: "Prepared" }, { title: "" }],
            body.exports.map((x) => [
              String(x.customer_id),
              new Date(x.requested_at).toLocaleString(),
              new Date(x.created_at).toLocaleString(),
              el("button", { type: "button", onclick: () => downloadExport(x.id) }, "Download"),
            ]),
          )
        : empty("No data requests."),
    );
  }

  // ---- start -------------------------------------------------------------------------------

  async function start() {
    $("vh-initiative-form").addEventListener("submit", submitInitiative);
    $("vh-i-metric").addEventListener("change", updateUnit);
    const reviewForm = $("vh-review-form");
    reviewForm.addEventListener("submit", (event) => {
      event.preventDefault();
      openReview("html");
    });
    for (const button of reviewForm.querySelectorAll("button[type=button]")) {
      button.addEventListener("click", () => openReview(button.dataset.format));
    }
    const loads = [
      request("/api/admin/overview").then(renderOverview),
      request("/api/admin/retention").then(renderRetention),
      loadAtRisk(false),
      loadReviews(),
      loadInitiatives(),
      loadExports(),
    ];
    for (const result of await Promise.allSettled(loads)) {
      if (result.status === "rejected") showError(result.reason);
    }
  }

  start();
})();
