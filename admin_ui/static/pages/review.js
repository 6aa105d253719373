// Monthly review: the pack stored on the 1st for the month that ended, a badge until the value
// owner marks it reviewed, who reviewed which month, and where the pack is emailed.
import { h, fill } from "../lib/dom.js";
import { number, date, dateTime, signed, byUnit, isNum, DASH } from "../lib/format.js";
import { loading, empty, failed, loaded } from "../lib/states.js";
import { button, textField, checkbox, badge, table } from "../lib/controls.js";

export async function render(root, ctx) {
  loading(root, 8);
  let doc;
  try {
    doc = await ctx.api("/api/admin/review-digests");
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  if (!ctx.current()) return;
  const reload = () => render(root, ctx);
  const packBox = h("div", { "data-section": "pack" });
  fill(root,
    doc.badge ? waiting(doc, ctx, reload) : h("s-paragraph", { "data-badge": "none" }, doc.history.length ? "Every stored review is marked reviewed." : ""),
    h("s-section", { heading: "Review history" }, historyTable(doc.history, ctx, packBox)),
    packBox,
    emailSettings(doc, ctx, reload));
  loaded(root);
  const month = ctx.params.get("month") || (doc.history[0] && doc.history[0].month);
  if (month) showPack(packBox, month, ctx);
  else empty(packBox, "No review stored yet", "On the 1st of each month the app builds the review of the month that ended, once the shop has been scored for it.");
}

function waiting(doc, ctx, reload) {
  const who = textField({ label: "Reviewed by", name: "reviewed_by", value: doc.settings.owner_name || "", maxlength: 200 });
  async function mark(event) {
    event.preventDefault();
    who.setError("");
    try {
      await ctx.api(`/api/admin/review-digests/${doc.badge.month}/reviewed`, { method: "POST", body: { reviewed_by: who.read() } });
      ctx.toast(`Review of ${doc.badge.month} marked reviewed`);
      reload();
    } catch (error) {
      who.setError(error.message);
    }
  }
  return h("s-banner", { tone: "info", heading: `The value review of ${doc.badge.month} is waiting`, "data-badge": doc.badge.month },
    h("s-paragraph", {}, badge("To review", "attention"), ` Built ${dateTime(doc.badge.built_at)}. Read it with your team, decide what to act on, then mark it reviewed.`),
    h("form", { class: "vh-toolbar", onsubmit: mark }, who.el, button("Mark reviewed", { type: "submit", variant: "primary" })));
}

function historyTable(items, ctx, packBox) {
  if (!items.length) return h("p", { class: "vh-muted" }, "No month stored yet.");
  const open = (month) => (event) => {
    event.preventDefault();
    const params = new URLSearchParams(ctx.params);
    params.set("month", month);
    ctx.setParams(params);
    showPack(packBox, month, ctx);
  };
  return table(
    [{ title: "Month" }, { title: "Built" }, { title: "Reviewed by" }, { title: "Reviewed" }, { title: "Emailed" }],
    items.map((d) => [
      h("a", { href: ctx.href(`/app/review?month=${d.month}`), onclick: open(d.month) }, d.month),
      date(d.built_at),
      d.reviewed_by || badge("Not reviewed", "attention"),
      d.reviewed_at ? date(d.reviewed_at) : DASH,
      d.emailed_at ? date(d.emailed_at) : DASH,
    ]),
    { caption: "Who reviewed which month" });
}

async function showPack(box, month, ctx) {
  loading(box, 6);
  let doc;
  try {
    doc = await ctx.api(`/api/admin/review-digests/${month}`);
  } catch (error) {
    failed(box, error, () => showPack(box, month, ctx));
    return;
  }
  if (!ctx.current()) return;
  const pack = doc.pack;
  fill(box,
    h("s-section", { heading: `Review of ${pack.month}` },
      h("s-paragraph", { class: "vh-muted" }, `Figures as of ${date(pack.as_of)}${pack.previous_month ? `, compared with ${pack.previous_month}` : ""}. A change is called real only when its test says so (p < 0.05).`),
      pack.changes.length ? h("ul", { class: "vh-list", "data-changes": "" }, pack.changes.map((c) => h("li", {}, c))) : h("p", { class: "vh-muted" }, "Nothing moved enough to mention."),
      pack.notes.length ? h("p", { class: "vh-muted vh-small" }, pack.notes.join(" · ")) : null),
    pack.sections.map((s) => h("s-section", { heading: s.title },
      table([{ title: "Metric" }, { title: pack.month, numeric: true }, { title: pack.previous_month || "Before", numeric: true }, { title: "Change", numeric: true }, { title: "What it means" }],
        s.rows.map((r) => [r.label, byUnit(r.value, r.unit, pack.currency), byUnit(r.previous, r.unit, pack.currency), signed(r.change, r.unit, pack.currency), meaning(r)]),
        { caption: s.title }))),
    pack.initiatives.length
      ? h("s-section", { heading: "Initiatives" },
        table([{ title: "Initiative" }, { title: "Status" }, { title: "Without / before", numeric: true }, { title: "With / after", numeric: true }, { title: "Effect", numeric: true }, { title: "Verdict" }],
          pack.initiatives.map((i) => [i.title, i.status, byUnit(i.before, i.unit), byUnit(i.after, i.unit), signed(i.effect_change, i.unit), `${i.verdict}${i.verdict_reason ? ` — ${i.verdict_reason}` : ""}`]),
          { caption: "Initiatives and their measured effect" }))
      : null);
  box.removeAttribute("aria-busy");
}

function meaning(row) {
  const test = row.test;
  const parts = [];
  if (row.note) parts.push(row.note);
  if (test) parts.push(test.real ? `a real change (p = ${test.p_value.toFixed(3)})` : test.reason || "could be chance");
  if (isNum(row.n)) parts.push(`${number(row.n)} observations`);
  return parts.join("; ");
}

function emailSettings(doc, ctx, reload) {
  const s = doc.settings;
  const name = textField({ label: "Value owner", name: "owner_name", value: s.owner_name || "", maxlength: 200 });
  const email = textField({ label: "Value owner's email", name: "owner_email", type: "email", value: s.owner_email || "", maxlength: 320 });
  const enabled = checkbox({ label: "Email each month's review to the value owner", name: "email_enabled", checked: s.email_enabled });
  const fields = { owner_name: name, owner_email: email };
  async function save(event) {
    event.preventDefault();
    Object.values(fields).forEach((f) => f.setError(""));
    try {
      await ctx.api("/api/admin/review-digests/settings", { method: "PATCH", body: { owner_name: name.read() || null, owner_email: email.read() || null, email_enabled: enabled.read() } });
      ctx.toast("Review email settings saved");
      reload();
    } catch (error) {
      const field = error.body && error.body.error && error.body.error.field;
      if (fields[field]) fields[field].setError(error.message);
      else ctx.toast(error.message, { error: true });
    }
  }
  return h("s-section", { heading: "Review email" },
    h("s-paragraph", { class: "vh-muted" }, doc.email_configured
      ? "The pack is emailed once, when it is built on the 1st."
      : "No mail server is configured for this app (SMTP_URL), so the review is shown here only."),
    h("form", { onsubmit: save, "data-form": "review-email" }, h("div", { class: "vh-grid-2" }, name.el, email.el), enabled.el,
      button("Save", { type: "submit", variant: "primary" })));
}
