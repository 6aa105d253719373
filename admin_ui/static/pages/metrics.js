// How we compute each number: every metric's definition, formula, window and edge cases
// (plugin/scoring/definitions.py, the same source as docs/metrics.md). Linked from every
// "ⓘ" tip as /app/metrics#<metric>.
import { h, fill } from "../lib/dom.js";
import { loading, failed, loaded } from "../lib/states.js";

export async function render(root, ctx) {
  ctx.setHeading("How we compute the numbers");
  loading(root, 10);
  let body;
  try {
    body = await ctx.api("/api/admin/metrics/definitions");
  } catch (error) {
    failed(root, error, () => render(root, ctx));
    return;
  }
  if (!ctx.current()) return;
  fill(root,
    h("p", { class: "vh-muted" }, "Every figure comes from the last recompute. A number that cannot be computed shows — with the reason, never 0. Money is always per currency."),
    body.metrics.map((m) => h("s-section", {},
      h("div", { class: "vh-metric-doc", id: m.key, tabindex: "-1" },
        h("h2", {}, m.label),
        h("p", { style: "margin:0" }, m.short),
        h("dl", { class: "vh-dl" },
          h("dt", {}, "Formula"), h("dd", {}, m.formula),
          h("dt", {}, "Window"), h("dd", {}, m.window),
          h("dt", {}, "Edge cases"), h("dd", {}, h("ul", { style: "margin:0;padding-left:18px" }, m.edge_cases.map((e) => h("li", {}, e)))),
          h("dt", {}, "Computed by"), h("dd", {}, h("code", {}, m.source)))))));
  loaded(root);
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target) { target.scrollIntoView(); target.focus(); }
}
