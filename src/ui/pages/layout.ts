/** The page shell (skip link, navigation, who is logged in, logout) and the login and error pages. */
import { html, type SafeHtml } from '../html.js';
import type { UserIdentity } from '../reviews.js';

/** Where the one stylesheet is served. */
export const STYLESHEET_PATH = '/static/ui.css';

/** A time as the pages show it: RFC 3339 to the second, UTC. */
export function shownTime(iso: string | undefined): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** A whole page; `user` adds the navigation and the logout button. */
export function layout(title: string, body: SafeHtml, user?: UserIdentity): SafeHtml {
  const nav = user
    ? html`<nav aria-label="Main"><a href="/">Tenants</a> <a href="/policies">Policies</a></nav>
<form class="logout" method="post" action="/logout"><span class="who">Signed in as <strong>${user.username}</strong></span> <button type="submit">Log out</button></form>`
    : html``;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · tracegate</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><span class="brand">tracegate</span> ${nav}</header>
<main id="main">
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`;
}

/** The login form; `error` says why the last attempt failed. The token is never put back in the field. */
export function loginPage(error?: string): SafeHtml {
  const alert = error ? html`<p class="error" role="alert">${error}</p>` : html``;
  return layout(
    'Sign in',
    html`${alert}
<p>Sign in with a Kubernetes bearer token (for example <code>kubectl create token NAME</code> or your OIDC ID
token). The cluster checks it (TokenReview) and decides what you may see (SubjectAccessReview).</p>
<form method="post" action="/login" class="login">
<label for="token">Bearer token</label>
<input id="token" name="token" type="password" autocomplete="off" required spellcheck="false">
<button type="submit">Sign in</button>
</form>`,
  );
}

/** A plain error page (403, 404, 400, 500, 503). */
export function errorPage(title: string, message: string, user?: UserIdentity): SafeHtml {
  return layout(title, html`<p class="error" role="alert">${message}</p><p><a href="/">Back to your tenants</a></p>`, user);
}
