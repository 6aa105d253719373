// The workspace shell: routes on location.pathname to a page module and gives it `ctx`.
//
//   /app                 → pages/overview.js
//   /app/<name>/<rest…>  → pages/<name>.js, ctx.rest = [rest…]
//
// A page is `export async function render(root, ctx)`. Pages fetch their data from
// /api/admin/* through ctx.api (session token from App Bridge) and write it as text only.
// The demo serves the same shell under /demo: paths are written as /app/… everywhere and
// mapped to the document's base here, so pages never need to know.
import { h, fill } from "./lib/dom.js";
import { loading, failed, empty } from "./lib/states.js";

const body = document.body;
const BASE = body.dataset.base || "/app";
const ASSETS = body.dataset.assets || ".";
const PAGES = new Set((body.dataset.pages || "").split(" ").filter(Boolean));
const root = document.getElementById("vh-root");
const page = document.getElementById("vh-page");

// ---- URLs --------------------------------------------------------------------------------

/** `/app/…` (what pages write) → the URL in this document's base (`/demo/…` in the demo). */
export function toLocation(path) {
  if (BASE === "/app" || !path.startsWith("/app")) return path;
  const rest = path.slice(4);
  if (rest === "" || rest.startsWith("/") || rest.startsWith("?") || rest.startsWith("#")) return BASE + rest;
  return path;
}

function route(pathname) {
  const inside = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = inside.split("/").filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || "overview";
  return { name, rest: parts.slice(1) };
}

function isWorkspacePath(href) {
  if (!href) return false;
  const url = new URL(href, location.href);
  if (url.origin !== location.origin) return false;
  return url.pathname === "/app" || url.pathname.startsWith("/app/") || url.pathname === BASE || url.pathname.startsWith(`${BASE}/`);
}

// ---- API ---------------------------------------------------------------------------------

async function sessionToken() {
  if (!window.shopify || typeof window.shopify.idToken !== "function") {
    throw new Error("App Bridge is not available: open the app from the Shopify admin");
  }
  return window.shopify.idToken();
}

/** JSON from our API with the session token; throws Error(.status, .body) on non-2xx. */
async function api(path, { method = "GET", body: payload } = {}) {
  const headers = { Authorization: `Bearer ${await sessionToken()}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store" };
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(payload);
  }
  const response = await fetch(path, init);
  const type = response.headers.get("content-type") || "";
  const parsed = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    const detail = parsed && parsed.error;
    const error = new Error((detail && detail.message) || `the server answered ${response.status}`);
    error.status = response.status;
    error.body = parsed;
    throw error;
  }
  return parsed;
}

/** A download (CSV, JSON) with the session token: returns the Response for .blob(). */
async function download(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${await sessionToken()}` }, cache: "no-store" });
  if (!response.ok) {
    const parsed = await response.json().catch(() => null);
    const error = new Error((parsed && parsed.error && parsed.error.message) || `the server answered ${response.status}`);
    error.status = response.status;
    error.body = parsed;
    throw error;
  }
  return response;
}

// ---- toasts ------------------------------------------------------------------------------

function toast(message, { error = false } = {}) {
  const bridge = window.shopify && window.shopify.toast;
  if (bridge && typeof bridge.show === "function") {
    bridge.show(message, { isError: error });
    return;
  }
  const box = document.getElementById("vh-toasts");
  const note = h("div", { class: error ? "vh-toast vh-toast-error" : "vh-toast" }, message);
  box.append(note);
  setTimeout(() => note.remove(), 5000);
}

// ---- navigation --------------------------------------------------------------------------

const LABELS = new Map();
for (const link of document.querySelectorAll("s-app-nav s-link")) {
  const { name } = route(new URL(link.getAttribute("href"), location.href).pathname.replace(/^\/app/, BASE));
  LABELS.set(name, link.textContent.trim());
}

let generation = 0;

function markCurrent(name) {
  for (const link of document.querySelectorAll(".vh-nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function setHeading(text) {
  page.setAttribute("heading", text);
  document.title = text ? `${text} · Valuehealth` : "Valuehealth";
}

function notAvailable(name) {
  empty(root, "This page is not available yet", `The ${LABELS.get(name) || name} page is coming in a later release.`,
    { label: "Go to the overview", href: toLocation("/app") });
}

async function render() {
  generation += 1;
  const mine = generation;
  const { name, rest } = route(location.pathname);
  markCurrent(name);
  setHeading(LABELS.get(name) || "");
  // A fresh element per render: a slow page that resolves late writes into a detached node.
  const target = h("div", { class: "vh-page-body" });
  fill(root, target);
  loading(target, 4);
  root.setAttribute("aria-busy", "true");
  let module = null;
  // Only modules the server has (data-pages): an unknown name is "not available", not a 404.
  if (PAGES.has(name)) {
    try {
      module = await import(`${ASSETS}/pages/${name}.js`);
    } catch (error) {
      if (mine !== generation) return;
      failed(target, error, () => render());
      return;
    }
  }
  if (mine !== generation) return;
  root.removeAttribute("aria-busy");
  if (!module || typeof module.render !== "function") {
    notAvailable(name);
    return;
  }
  const ctx = {
    api,
    download,
    toast,
    navigate,
    params: new URLSearchParams(location.search),
    rest,
    page: name,
    setHeading,
    href: toLocation,
    /** Replace the query string without a new history entry (filters, date ranges). */
    setParams(params) {
      const query = params.toString();
      history.replaceState(history.state, "", `${location.pathname}${query ? `?${query}` : ""}`);
      ctx.params = new URLSearchParams(query);
    },
    /** True while this page is still the one shown (guards late async writes). */
    current: () => mine === generation,
  };
  try {
    await module.render(target, ctx);
  } catch (error) {
    if (mine !== generation) return;
    console.error(error);
    failed(target, error, () => render());
  }
}

/** Client-side navigation: `/app/…` path (query allowed), a history entry, then render. */
function navigate(path) {
  const url = toLocation(path);
  if (url !== location.pathname + location.search + location.hash) history.pushState(null, "", url);
  if (!url.includes("#")) window.scrollTo(0, 0);
  return render();
}

// Links inside the workspace (our <a>, s-link, s-button with href) route here, not to the server.
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest && event.target.closest("a[href], s-link[href], s-button[href]");
  if (!link || link.closest("s-app-nav")) return;
  const href = link.getAttribute("href");
  if (link.getAttribute("target") || link.hasAttribute("download") || !isWorkspacePath(href)) return;
  event.preventDefault();
  const url = new URL(href, location.href);
  navigate(url.pathname + url.search + url.hash);
});
// App Bridge's menu (s-app-nav) announces a click as shopify:navigate on the link.
document.addEventListener("shopify:navigate", (event) => {
  const href = event.target && event.target.getAttribute && event.target.getAttribute("href");
  if (href) navigate(href);
});
window.addEventListener("popstate", () => render());

render();
