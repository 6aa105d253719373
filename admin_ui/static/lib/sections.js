// Patterns the pages share: load something into a box (skeleton, then the data, or the
// failure with a retry), and the "over time" section drawn from the stored monthly figures
// with a date range kept in the URL.
import { h, fill } from "./dom.js";
import { loading, empty, failed, loaded } from "./states.js";
import { select } from "./controls.js";

/**
 * Show a skeleton in `box`, run `load()`; on failure show it with a retry (which runs
 * `retry`, default the same load again). Resolves to the data, or null when it failed or the
 * merchant has moved to another page meanwhile.
 */
export async function loadInto(box, ctx, load, { rows = 6, retry = null } = {}) {
  loading(box, rows);
  try {
    const data = await load();
    return ctx.current() ? data : null;
  } catch (error) {
    if (ctx.current()) failed(box, error, retry || (() => loadInto(box, ctx, load, { rows, retry })));
    return null;
  }
}

export const MONTH_RANGES = [["6", "Last 6 months"], ["12", "Last 12 months"], ["24", "Last 24 months"]];

/**
 * A date range select and a box drawn by `draw(box, months)` from `/api/admin/history`;
 * the range is the URL's `range` parameter. Returns the elements to place.
 */
export function historySection(ctx, draw, { rows = 6, minHeight = 300 } = {}) {
  const box = h("div", { style: `min-height:${minHeight}px` });
  const range = select({ label: "Date range", name: "range", value: ctx.params.get("range") || "12", options: MONTH_RANGES,
    onChange: (v) => { const p = new URLSearchParams(ctx.params); p.set("range", v); ctx.setParams(p); refresh(); } });
  async function refresh() {
    const body = await loadInto(box, ctx, () => ctx.api(`/api/admin/history?months=${range.read()}`), { rows, retry: refresh });
    if (!body) return;
    if (!body.months.length) {
      empty(box, "No monthly history yet", "Each month's figures are kept once it has been scored.");
      return;
    }
    fill(box);
    draw(box, body.months);
    loaded(box);
  }
  refresh();
  return [h("div", { class: "vh-toolbar" }, range.el), box];
}
