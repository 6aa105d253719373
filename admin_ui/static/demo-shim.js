// Stands in for App Bridge in the local demo (`valuehealth demo`), where no Shopify admin is
// around the page. The workspace's App Bridge call is shopify.idToken(); here it asks the
// demo server for a token signed like Shopify's, so /api/admin is verified exactly as in
// production. Served only by an app created with a demo shop. (Toasts fall back to the
// workspace's own; navigation is the workspace's router.)
"use strict";
(() => {
  let cached = null;
  let pending = null;
  async function fetchToken() {
    const started = Date.now();
    const response = await fetch("/demo/token", { cache: "no-store" });
    if (!response.ok) throw new Error(`the demo token endpoint answered ${response.status}`);
    const body = await response.json();
    // Renew 10 s early: the server checks expiry with no more leeway than that.
    cached = { token: body.token, until: started + (body.expires_in - 10) * 1000 };
    return body.token;
  }
  function idToken() {
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.token);
    // One request however many callers ask at once (a page loads its sections in parallel).
    if (!pending) pending = fetchToken().finally(() => { pending = null; });
    return pending;
  }
  window.shopify = Object.freeze({ idToken });
  // Asked now, while the page's modules load: the first API call need not wait for it.
  idToken().catch(() => {});
})();
