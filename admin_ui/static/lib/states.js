// The three states every section has besides its content: loading (a skeleton of fixed size,
// so nothing jumps when the data arrives), empty (what to do next) and failed (with retry).
import { h, fill } from "./dom.js";

/** A skeleton of `rows` lines of fixed height in place of the content. */
export function loading(root, rows = 3) {
  const lines = [];
  for (let i = 0; i < rows; i += 1) {
    lines.push(h("div", { class: "vh-skeleton-line", style: `width:${[92, 78, 85, 64, 88][i % 5]}%` }));
  }
  root.setAttribute("aria-busy", "true");
  fill(root, h("div", { class: "vh-skeleton", role: "progressbar", "aria-label": "Loading" }, lines));
  return root;
}

function done(root) {
  root.removeAttribute("aria-busy");
  return root;
}

/**
 * Nothing to show yet, and what to do about it. `action` is {label, href} or {label, onClick}.
 */
export function empty(root, title, text, action = null) {
  let button = null;
  if (action) {
    button = action.href
      ? h("s-button", { href: action.href, variant: "primary" }, action.label)
      : h("s-button", { variant: "primary", onclick: action.onClick }, action.label);
  }
  fill(
    root,
    h("div", { class: "vh-empty" },
      h("s-heading", {}, title),
      text ? h("s-paragraph", {}, text) : null,
      button),
  );
  return done(root);
}

/** A failed load: what went wrong (the server's message when it sent one) and a retry button. */
export function failed(root, error, retry = null) {
  const message = (error && error.message) || String(error || "unknown error");
  fill(
    root,
    h("s-banner", { tone: "critical", heading: "This section could not be loaded" },
      h("s-paragraph", {}, message),
      retry ? h("s-button", { onclick: () => retry() }, "Try again") : null),
  );
  return done(root);
}

/** Mark a section as filled (for code that fills it itself). */
export function loaded(root) {
  return done(root);
}
