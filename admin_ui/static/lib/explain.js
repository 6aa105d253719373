// "What is this number?": each metric's one-line definition on hover or keyboard focus, and a
// link to how we compute it. The definitions come with the shell document (one home:
// plugin/scoring/definitions.py, which also renders docs/metrics.md).
import { h, uid } from "./dom.js";

let definitions = null;
function load() {
  if (definitions === null) {
    const node = document.getElementById("vh-definitions");
    try { definitions = node ? JSON.parse(node.textContent) : {}; } catch (_) { definitions = {}; }
  }
  return definitions;
}

export function definition(key) {
  return load()[key] || null;
}

/** A small "?" button; its tip (definition + "How we compute this") shows on hover/focus. */
export function explain(key) {
  const def = definition(key);
  if (!def) return null;
  const id = uid("def");
  const base = document.body.dataset.base || "/app";
  return h("span", { class: "vh-def" },
    h("button", { type: "button", class: "vh-def-button", "aria-describedby": id, "aria-label": `What is ${def.label}?` }),
    h("span", { class: "vh-def-tip", role: "tooltip", id },
      def.short, " ",
      h("a", { href: `${base}/metrics#${key}` }, "How we compute this")));
}

/** A label followed by its explanation. */
export function labelled(text, key) {
  return [text, explain(key)];
}
