/**
 * Headers of every document the gateway serves itself (the shop page, its
 * script, the OpenAPI document, the /mesh page and its data): a strict CSP
 * (scripts only from this origin, no inline script, nothing framed, nothing
 * fetched elsewhere), no MIME sniffing, never framed (X-Frame-Options for
 * browsers without frame-ancestors), and no Referer sent from the pages.
 * Inline styles are allowed: both pages keep their CSS in a <style> element.
 * Forms may post only to this origin (the /mesh sign-in form).
 */
export const securityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};
