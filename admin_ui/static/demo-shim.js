// Stands in for App Bridge in the local demo (`valuehealth demo`), where no Shopify admin is
// around the page. The page makes one App Bridge call, shopify.idToken(); here it asks the
// demo server for a token signed like Shopify's, so /api/admin is verified exactly as in
// production. Served only by an app created with a demo shop.
"use strict";
(() => {
  let cached = null;
  async function idToken() {
    const now = Date.now();
    if (cached && cached.until > now) return cached.token;
    const response = await fetch("/demo/token", { cache: "no-store" });
    if (!response.ok) throw new Error(`the demo token endpoint answered ${response.status}`);
    const body = await response.json();
    // Renew 10 s early: the server checks expiry with no more leeway than that.
    cached = { token: body.token, until: now + (body.expires_in - 10) * 1000 };
    return body.token;
  }
  window.shopify = Object.freeze({ idToken });
})();
