// Building the page from data without ever turning data into markup: h() sets attributes and
// appends strings as Text nodes; no markup sink (inner/outer HTML) is used anywhere.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (name === "props") {
      Object.assign(node, value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, ...children);
  return node;
}

/** h("s-badge", {tone: "success"}, "text", otherNode): strings become Text nodes. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements (charts). */
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Append children (nested arrays flattened; null/undefined/false skipped). */
export function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Replace an element's content. */
export function fill(el, ...children) {
  clear(el);
  return append(el, ...children);
}

/** A unique id for label/for and aria-describedby pairs. */
let counter = 0;
export function uid(prefix = "vh") {
  counter += 1;
  return `${prefix}-${counter}`;
}
