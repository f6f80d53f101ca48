/** The start page (the tenants the user may review) and the enforced policies with every rule's parameters. */
import { parameterText, type PolicySetView } from '../../policy/describe.js';
import { hrefOf, html, type SafeHtml } from '../html.js';
import type { UserIdentity } from '../reviews.js';
import { layout, shownTime } from './layout.js';

/** A tenant the user may review, with the namespaces they may read. */
export interface VisibleTenant {
  name: string;
  namespaces: readonly string[];
}

/** `/`: the tenants, or a note that there is nothing to review. */
export function homePage(user: UserIdentity, tenants: readonly VisibleTenant[]): SafeHtml {
  const body = tenants.length
    ? html`<ul class="tenants">${tenants.map(
        (t) => html`<li><a href="${hrefOf('tenants', t.name)}">${t.name}</a> <span class="muted">(${t.namespaces.join(', ')})</span></li>`,
      )}</ul>`
    : html`<p>There is no tenant whose changes you may read. Ask for <code>list changetrails.tracegate.io</code> in a tenant's namespaces.</p>`;
  return layout('Tenants', html`<p>Tenants whose changes you may review:</p>${body}<p><a href="/policies">The enforced policies</a></p>`, user);
}

function ruleRows(rules: PolicySetView['policies'][number]['rules']): SafeHtml {
  return html`${rules.map(
    (r) => html`<tr>
<th scope="row">${r.id}</th><td>${r.action}</td><td>${r.check}</td>
<td>${r.description ?? ''}<dl class="params">${Object.entries(r.parameters).map(([k, v]) => html`<dt>${k}</dt><dd>${parameterText(v)}</dd>`)}</dl></td>
</tr>`,
  )}`;
}

/** `/policies`: the set in force, each policy with its version and digest, each rule with its parameters. */
export function policiesPage(user: UserIdentity, view: PolicySetView): SafeHtml {
  const refused = view.refused?.length
    ? html`<h2>Refused policy objects</h2><ul>${view.refused.map((o) => html`<li><strong>${o.name}</strong>: ${o.reason} — ${o.message}</li>`)}</ul>`
    : html``;
  const policies = view.policies.map(
    (p) => html`<section class="policy">
<h2>${p.name} <span class="muted">version ${p.version}</span></h2>
<p>Digest <code>${p.digest}</code> · from <code>${p.source}</code>${p.generation !== undefined ? html` (generation ${p.generation})` : ''}</p>
${p.description ? html`<p>${p.description}</p>` : ''}
<table>
<caption class="sr-only">Rules of ${p.name}</caption>
<thead><tr><th scope="col">Rule</th><th scope="col">Action</th><th scope="col">Check</th><th scope="col">Parameters</th></tr></thead>
<tbody>${ruleRows(p.rules)}</tbody>
</table>
</section>`,
  );
  return layout(
    'Enforced policies',
    html`<p>Policy set <code>${view.digest}</code>${view.source ? html` · source ${view.source}` : ''} · loaded ${view.loadedAt ? shownTime(view.loadedAt) : 'at start'}</p>
${view.policies.length ? policies : html`<p>No policies are enforced: every change is admitted unjudged.</p>`}
${refused}`,
    user,
  );
}
