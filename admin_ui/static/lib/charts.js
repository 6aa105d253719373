// Small SVG charts, written for this workspace (no library, nothing from a CDN). Every chart is
// a <figure>: the SVG is a picture for the eye (aria-hidden) and a table with the same numbers
// follows it for screen readers and for anyone who wants the figures ("Show as table").
// Charts have a fixed aspect ratio (viewBox), so they take their final size before drawing.
import { h, svg } from "./dom.js";
import { isNum, DASH } from "./format.js";

export const PALETTE = ["#2c6ecb", "#e57c23", "#1a7f5a", "#8051ff", "#c8414d", "#6d7175", "#d4a017"];
const DEFAULT_WIDTH = 640;
const PAD = { top: 10, right: 12, bottom: 24, left: 52 };

function extent(values, { zero = true } = {}) {
  const finite = values.filter(isNum);
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (zero) lo = Math.min(0, lo);
  if (lo === hi) { hi = lo + (Math.abs(lo) || 1); }
  return [lo, hi];
}

function ticks(lo, hi, count = 4) {
  const step = niceStep((hi - lo) / count);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

function dataTable(caption, headers, rows) {
  return h("details", {},
    h("summary", {}, "Show as table"),
    h("div", { class: "vh-scroll" },
      h("table", { class: "vh-table" },
        h("caption", { class: "vh-sr" }, caption),
        h("thead", {}, h("tr", {}, headers.map((t, i) => h("th", { scope: "col", class: i ? "vh-num" : null }, t)))),
        h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c, i) => (i ? h("td", { class: "vh-num" }, c) : h("th", { scope: "row" }, c)))))))));
}

function legend(series) {
  if (series.length < 2 && !series.some((s) => s.band)) return null;
  return h("div", { class: "vh-legend", "aria-hidden": "true" },
    series.map((s, i) => h("span", {}, h("i", { style: `background:${s.color || PALETTE[i % PALETTE.length]}${s.dashed ? ";opacity:.5" : ""}` }), s.name)));
}

/**
 * The pixel width a chart will get in `container` (split into `columns` on a wide screen):
 * drawn at its real size, the axis text keeps its size instead of scaling with the picture.
 */
export function chartWidth(container, columns = 1) {
  const total = (container && container.clientWidth) || DEFAULT_WIDTH;
  if (columns > 1 && window.innerWidth > 760) return Math.max(200, Math.floor((total - 16 * (columns - 1)) / columns));
  return Math.max(200, total);
}

function frame(W, height, yTicks, y, format) {
  return svg("g", { class: "vh-grid" },
    yTicks.map((t) => svg("g", {},
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(t), y2: y(t) }),
      svg("text", { x: PAD.left - 6, y: y(t) + 4, "text-anchor": "end", class: "vh-axis", fill: "#616161", "font-size": 11 }, format(t)))));
}

function xLabels(W, labels, x, height, formatX) {
  const every = Math.max(1, Math.ceil(labels.length / Math.max(2, Math.floor(W / 90))));
  return svg("g", { class: "vh-axis" }, labels.map((label, i) => (i % every === 0 || i === labels.length - 1) && (labels.length - 1 - i >= every / 2 || i === labels.length - 1)
    ? svg("text", { x: x(i), y: height - 6, "text-anchor": "middle", fill: "#616161", "font-size": 11 }, formatX(label))
    : null));
}

/**
 * Lines over shared x labels.
 *   lineChart({title, labels: [..], series: [{name, values: [..], color, dashed, band: [[lo, hi]..]}],
 *              format: (v) => text, formatX: (label) => text, height, zero})
 * A series' null values leave a gap; `band` draws an interval behind the line.
 */
export function lineChart({ title, labels, series, format = String, formatX = String, height = 220, zero = true, width = DEFAULT_WIDTH }) {
  const W = width;
  const all = series.flatMap((s) => [...s.values, ...(s.band || []).flat()]);
  const [lo, hi] = extent(all, { zero });
  const yTicks = ticks(lo, hi);
  const top = Math.max(hi, yTicks[yTicks.length - 1]);
  const bottom = Math.min(lo, yTicks[0]);
  const n = Math.max(labels.length, 2);
  const x = (i) => PAD.left + (i * (W - PAD.left - PAD.right)) / (n - 1);
  const y = (v) => PAD.top + ((top - v) * (height - PAD.top - PAD.bottom)) / (top - bottom || 1);
  const paths = series.map((s, k) => {
    const color = s.color || PALETTE[k % PALETTE.length];
    const parts = [];
    let d = "";
    s.values.forEach((v, i) => {
      if (!isNum(v)) { if (d) parts.push(d); d = ""; return; }
      d += `${d ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    if (d) parts.push(d);
    let band = null;
    if (s.band) {
      const pts = s.band.map((b, i) => (b && isNum(b[0]) && isNum(b[1]) ? i : -1)).filter((i) => i >= 0);
      if (pts.length > 1) {
        const upper = pts.map((i) => `${x(i).toFixed(1)},${y(s.band[i][1]).toFixed(1)}`);
        const lower = pts.slice().reverse().map((i) => `${x(i).toFixed(1)},${y(s.band[i][0]).toFixed(1)}`);
        band = svg("path", { d: `M${upper.join("L")}L${lower.join("L")}Z`, fill: color, opacity: 0.15 });
      }
    }
    const dots = s.values.length <= 1 || s.dots
      ? s.values.map((v, i) => (isNum(v) ? svg("circle", { cx: x(i), cy: y(v), r: 3, fill: color }) : null))
      : null;
    return svg("g", {}, band, parts.map((p) => svg("path", {
      d: p, fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": s.dashed ? "5 4" : null,
      "stroke-linejoin": "round", "stroke-linecap": "round",
    })), dots);
  });
  const picture = svg("svg", { viewBox: `0 0 ${W} ${height}`, "aria-hidden": "true", focusable: "false", preserveAspectRatio: "xMidYMid meet" },
    frame(W, height, yTicks, y, format), xLabels(W, labels, x, height, formatX), paths);
  const headers = ["", ...series.flatMap((s) => (s.band ? [s.name, `${s.name} (interval)`] : [s.name]))];
  const rows = labels.map((label, i) => [formatX(label), ...series.flatMap((s) => {
    const cell = isNum(s.values[i]) ? format(s.values[i]) : DASH;
    if (!s.band) return [cell];
    const b = s.band[i];
    return [cell, b && isNum(b[0]) && isNum(b[1]) ? `${format(b[0])} to ${format(b[1])}` : DASH];
  })]);
  return h("figure", { class: "vh-chart" }, legend(series), picture, dataTable(title, headers, rows));
}

/**
 * Stacked bars: bar i stacks series[k].values[i].
 *   barChart({title, labels, series: [{name, values, color}], format, formatX, height})
 */
export function barChart({ title, labels, series, format = String, formatX = String, height = 220, width = DEFAULT_WIDTH }) {
  const W = width;
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (isNum(s.values[i]) ? s.values[i] : 0), 0));
  const [, hi] = extent(totals);
  const yTicks = ticks(0, hi);
  const top = Math.max(hi, yTicks[yTicks.length - 1]);
  const n = Math.max(labels.length, 1);
  const slot = (W - PAD.left - PAD.right) / n;
  const x = (i) => PAD.left + slot * (i + 0.5);
  const y = (v) => PAD.top + ((top - v) * (height - PAD.top - PAD.bottom)) / (top || 1);
  const bars = labels.map((_, i) => {
    let base = 0;
    return svg("g", {}, series.map((s, k) => {
      const v = isNum(s.values[i]) ? s.values[i] : 0;
      if (v <= 0) return null;
      const rect = svg("rect", {
        x: (x(i) - slot * 0.35).toFixed(1), width: (slot * 0.7).toFixed(1),
        y: y(base + v).toFixed(1), height: Math.max(0, y(base) - y(base + v)).toFixed(1),
        fill: s.color || PALETTE[k % PALETTE.length],
      });
      base += v;
      return rect;
    }));
  });
  const picture = svg("svg", { viewBox: `0 0 ${W} ${height}`, "aria-hidden": "true", focusable: "false" },
    frame(W, height, yTicks, y, format), xLabels(W, labels, x, height, formatX), bars);
  const rows = labels.map((label, i) => [formatX(label), ...series.map((s) => (isNum(s.values[i]) ? format(s.values[i]) : DASH))]);
  return h("figure", { class: "vh-chart" }, legend(series), picture, dataTable(title, ["", ...series.map((s) => s.name)], rows));
}

/** A tiny trend line for a tile (decorative: the tile says the change in words). */
export function sparkline(values, { color = PALETTE[0], width = 120, height = 28 } = {}) {
  const finite = values.filter(isNum);
  const el = svg("svg", { class: "vh-spark", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" });
  if (finite.length < 2) return el;
  const [lo, hi] = extent(finite, { zero: false });
  const x = (i) => (i * width) / (values.length - 1);
  const y = (v) => 2 + ((hi - v) * (height - 4)) / (hi - lo || 1);
  let d = "";
  values.forEach((v, i) => { if (isNum(v)) d += `${d ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`; });
  el.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": 1.5, "vector-effect": "non-scaling-stroke" }));
  return el;
}

/**
 * A heatmap as an HTML table (it is one): rows × columns of values in [0, 1] shaded by value.
 *   heatmap({title, rowLabels, colLabels, values: [[v|null]], format, rowNotes})
 */
export function heatmap({ title, rowLabels, colLabels, values, format = String, rowHeader = "", rowNotes = null }) {
  const shade = (v) => {
    if (!isNum(v)) return "background:#f7f7f7;color:#8a8a8a";
    const t = Math.max(0, Math.min(1, v));
    const light = 96 - 58 * t;
    return `background:hsl(153 55% ${light}%);color:${light < 60 ? "#fff" : "#303030"}`;
  };
  return h("figure", { class: "vh-chart" },
    h("div", { class: "vh-scroll" },
      h("table", { class: "vh-heat" },
        h("caption", { class: "vh-sr" }, title),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, rowHeader), rowNotes ? h("th", { scope: "col" }, rowNotes.title) : null,
          colLabels.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rowLabels.map((r, i) => h("tr", {},
          h("th", { scope: "row", style: "text-align:left" }, r),
          rowNotes ? h("td", {}, rowNotes.values[i]) : null,
          colLabels.map((_, j) => h("td", { style: shade(values[i][j]) }, isNum(values[i][j]) ? format(values[i][j]) : ""))))))));
}
