// The setup checklist a freshly installed shop sees instead of empty figures: import the
// existing subscriptions (with live progress), place the survey, hook up the Flow trigger,
// and the first scoring. The Overview shows it while the shop has no figures; it is also at
// /app/onboarding.
import { h, fill } from "../lib/dom.js";
import { number, dateTime } from "../lib/format.js";
import { loading, failed, loaded } from "../lib/states.js";
import { button } from "../lib/controls.js";

const POLL_MS = 1500;

export async function render(root, ctx) {
  loading(root, 8);
  let timer = null;
  async function draw() {
    clearTimeout(timer);
    let status;
    try {
      status = await ctx.api("/api/admin/onboarding");
    } catch (error) {
      failed(root, error, draw);
      return;
    }
    if (!ctx.current()) return;
    const run = status.backfill;
    const importing = run && (run.status === "queued" || run.status === "running");
    const imported = run && run.status === "done";
    const scored = status.scored;
    const steps = [
      step(true, "Install Valuehealth", "Done. The app receives your shop's subscription events from now on."),
      step(imported || status.contracts > 0 && !importing, "Import your existing subscriptions",
        importing ? progress(run) : imported
          ? `Imported ${number(run.imported)} subscriptions${run.finished_at ? ` (${dateTime(run.finished_at)})` : ""}.`
          : run && run.status === "failed"
            ? h("span", { role: "alert" }, `The last import failed: ${run.error || "unknown error"}.`)
            : `Events only tell us what happens from now on. Import the ${status.contracts ? "remaining " : ""}subscriptions you already have, so retention and value start from your real history.`,
        importing ? null : button(run ? "Import again" : "Start import", { variant: "primary", onClick: start })),
      step(false, "Place the survey where subscribers see it",
        h("div", {},
          h("p", { style: "margin:0 0 4px" }, "Any of these, or all:"),
          h("ul", { style: "margin:0;padding-left:18px" },
            h("li", {}, "Storefront page (app proxy): ", h("code", {}, status.survey.proxy_url)),
            h("li", {}, "Customer account: add a menu link to the same page."),
            h("li", {}, "Email: ", status.survey.email_link, ".")))),
      step(false, "Send the survey after delivery with Flow",
        `In Shopify Flow, start a workflow with the trigger “${status.survey.flow_trigger}” and send an email with its Survey URL.`),
      step(scored, "First scoring",
        scored ? "Done: your figures are ready." : status.recompute && status.recompute.requested_at
          ? `Running since ${dateTime(status.recompute.requested_at)}.`
          : "Starts by itself shortly after the import or the first events."),
    ];
    fill(root,
      h("s-section", { heading: "Set up Valuehealth" },
        h("s-paragraph", {}, "Your figures appear here once there is something to measure. Four steps get you there."),
        h("ol", { class: "vh-steps" }, steps)));
    loaded(root);
    if (importing || (imported && !scored)) timer = setTimeout(() => { if (ctx.current()) draw(); }, POLL_MS);
  }
  async function start() {
    try {
      await ctx.api("/api/admin/onboarding/backfill", { method: "POST" });
      ctx.toast("Import started");
    } catch (error) {
      ctx.toast(`The import could not start: ${error.message}`, { error: true });
    }
    draw();
  }
  await draw();
}

function step(done, title, text, action = null) {
  return h("li", { "data-done": done ? "" : null },
    h("span", { class: "vh-step-mark", "data-done": done ? "" : null, "aria-hidden": "true" }),
    h("div", {},
      h("s-heading", {}, title, done ? h("span", { class: "vh-sr" }, " (done)") : null),
      h("div", { class: "vh-muted" }, text),
      action ? h("div", { style: "margin-top:8px" }, action) : null));
}

function progress(run) {
  if (run.status === "queued") return h("span", { role: "status" }, "Queued: starting in a moment…");
  if (run.phase === "waiting") {
    return h("div", { role: "status" }, `Shopify is preparing your subscriptions: ${number(run.objects)} records so far…`,
      h("div", { class: "vh-progress", style: "margin-top:6px" }, h("span", { style: "width:5%" })));
  }
  const share = run.total ? Math.min(1, run.imported / run.total) : 0;
  const eta = run.eta_seconds !== null && run.eta_seconds !== undefined
    ? ` About ${run.eta_seconds < 60 ? `${run.eta_seconds} s` : `${Math.ceil(run.eta_seconds / 60)} min`} left.` : "";
  return h("div", { role: "status" }, `Importing: ${number(run.imported)}${run.total ? ` of up to ${number(run.total)}` : ""} subscriptions.${eta}`,
    h("div", { class: "vh-progress", style: "margin-top:6px", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(100 * share)), "aria-label": "Import progress" },
      h("span", { style: `width:${Math.max(5, Math.round(100 * share))}%` })));
}
