// Controls as Polaris web components when polaris.js has defined them, else as native HTML
// styled like them (the demo offline, the tests): the page works the same either way.
// Each returns an element; fields expose the value as `.value` through `read()`.
import { h, uid } from "./dom.js";

const polaris = (tag) => Boolean(window.customElements && customElements.get(tag));

/** button("Save", {onClick, variant: "primary"|"plain", tone: "critical", href, disabled, type}) */
export function button(text, { onClick, variant, tone, href, disabled, type = "button", label } = {}) {
  if (polaris("s-button")) {
    return h("s-button", { variant, tone, href, disabled: disabled || null, type, onclick: onClick, accessibilityLabel: label }, text);
  }
  if (href) {
    return h("a", { class: "vh-button", href, "data-variant": variant, "data-tone": tone, "aria-label": label }, text);
  }
  return h("button", { class: "vh-button", type, disabled: disabled || null, "data-variant": variant,
    "data-tone": tone, "aria-label": label, onclick: onClick }, text);
}

/** A link inside the workspace (routed by the shell) or to Shopify admin / docs. */
export function link(text, href, { target } = {}) {
  if (polaris("s-link")) return h("s-link", { href, target }, text);
  return h("a", { href, target, rel: target === "_blank" ? "noopener" : null }, text);
}

/**
 * A labelled input. opts: {label, name, value, type, help, min, max, step, maxlength,
 * placeholder, required, onChange}. Returns {el, input, read(), setError(text)}.
 */
export function textField(opts) {
  const id = uid("f");
  const help = opts.help ? h("span", { class: "vh-help", id: `${id}-help` }, opts.help) : null;
  const error = h("span", { class: "vh-field-error", id: `${id}-err`, role: "alert" });
  const tag = opts.type === "textarea" ? "textarea" : "input";
  const input = h(tag, {
    id, name: opts.name, type: tag === "input" ? opts.type || "text" : null, min: opts.min, max: opts.max,
    step: opts.step, maxlength: opts.maxlength, placeholder: opts.placeholder, required: opts.required || null,
    "aria-describedby": [help ? `${id}-help` : null, `${id}-err`].filter(Boolean).join(" "),
    rows: tag === "textarea" ? 3 : null,
  });
  input.value = opts.value ?? "";
  if (opts.onChange) input.addEventListener("change", () => opts.onChange(input.value));
  const el = h("div", { class: "vh-field" }, h("label", { for: id }, opts.label), input, help, error);
  return {
    el, input,
    read: () => input.value,
    setError(text) {
      error.textContent = text || "";
      if (text) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    },
  };
}

/** A labelled select. options: [[value, label], …]. Returns {el, input, read()}. */
export function select({ label, name, value, options, onChange, help }) {
  const id = uid("s");
  const input = h("select", { id, name }, options.map(([v, text]) => h("option", { value: v }, text)));
  input.value = value ?? (options[0] ? options[0][0] : "");
  if (onChange) input.addEventListener("change", () => onChange(input.value));
  const el = h("div", { class: "vh-field" }, h("label", { for: id }, label), input,
    help ? h("span", { class: "vh-help" }, help) : null);
  return { el, input, read: () => input.value };
}

/** A checkbox with its label. Returns {el, input, read()}. */
export function checkbox({ label, name, checked = false, onChange }) {
  const id = uid("c");
  const input = h("input", { id, name, type: "checkbox" });
  input.checked = Boolean(checked);
  if (onChange) input.addEventListener("change", () => onChange(input.checked));
  return { el: h("div", { class: "vh-check" }, input, h("label", { for: id }, label)), input, read: () => input.checked };
}

/** A badge: tone success | critical | warning | info | neutral. */
export function badge(text, tone) {
  return h("s-badge", { tone: tone === "neutral" ? null : tone }, text);
}

/** A card with a heading (s-section). */
export function section(heading, ...children) {
  return h("s-section", { heading }, ...children);
}

/**
 * A table: columns [{title, numeric}], rows: arrays of cells (strings or nodes). Scrolls
 * sideways inside its card on a phone rather than widening the page.
 */
export function table(columns, rows, { caption } = {}) {
  const num = (i) => (columns[i] && columns[i].numeric ? "numeric" : null);
  if (polaris("s-table")) {
    return h("s-table", {},
      h("s-table-header-row", {}, columns.map((c, i) => h("s-table-header", { format: num(i) }, c.title))),
      h("s-table-body", {}, rows.map((cells) => h("s-table-row", {},
        cells.map((cell, i) => h("s-table-cell", { format: num(i) }, cell))))));
  }
  return h("div", { class: "vh-scroll" },
    h("table", { class: "vh-table" },
      caption ? h("caption", { class: "vh-sr" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c, i) => h("th", { scope: "col", class: num(i) ? "vh-num" : null }, c.title)))),
      h("tbody", {}, rows.map((cells) => h("tr", {},
        cells.map((cell, i) => h("td", { class: num(i) ? "vh-num" : null }, cell)))))));
}
