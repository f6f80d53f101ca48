/**
 * `/tenants/:tenant`: a tenant's changes in a period — who, what (image before → after), when, commit,
 * approver, verdict — with BREAK-GLASS and UNVERIFIED rows marked by a class and by text (not colour
 * alone), a GET form to filter, sortable column headers, the violations the PolicyReports list now, and
 * the export links with their digests.
 */
import type { ChangeFilter, SortKey } from '../change-filter.js';
import { filterQuery, VERDICTS } from '../change-filter.js';
import type { ChangeRow, Violation } from '../data.js';
import { hrefOf, html, type SafeHtml } from '../html.js';
import type { UserIdentity } from '../reviews.js';
import { layout, shownTime } from './layout.js';

/** Everything the page shows. */
export interface TenantView {
  tenant: string;
  namespaces: readonly string[];
  filter: ChangeFilter;
  errors: readonly string[];
  rows: readonly ChangeRow[];
  /** Undefined: no PolicyReport API in the cluster. */
  violations: readonly Violation[] | undefined;
  /** The CSV export's digest: the same rows give the same bytes (the JSON also carries its generation time). */
  csvDigest: string;
  /** The row cap cut the period: `nextSince` starts the rest. */
  truncated?: boolean;
  nextSince?: string;
}

/** The text marker and row class of a verdict that needs a reviewer's eye. */
export function verdictMarker(verdict: string | undefined): { cls: string; text: string } | undefined {
  if (verdict === 'break-glass') return { cls: 'row-break-glass', text: 'BREAK-GLASS' };
  if (verdict === 'unverified') return { cls: 'row-unverified', text: 'UNVERIFIED' };
  return undefined;
}

/** A verdict cell: the marker in strong text, or the plain verdict. */
export function verdictCell(verdict: string | undefined): SafeHtml {
  const m = verdictMarker(verdict);
  return m ? html`<strong class="marker">${m.text}</strong>` : html`${verdict ?? '-'}`;
}

/** `container=image` lists before → after, the containers that changed first. */
function imagesCell(r: ChangeRow): SafeHtml {
  const before = new Map(r.imagesBefore.map((i) => [i.split('=')[0]!, i.slice(i.indexOf('=') + 1)]));
  const lines = r.imagesAfter.map((i) => {
    const name = i.split('=')[0]!;
    const image = i.slice(i.indexOf('=') + 1);
    const was = before.get(name);
    before.delete(name);
    return was === undefined ? html`<li>${name}: <span class="added">+ ${image}</span></li>` : was === image ? html`<li>${name}: ${image}</li>` : html`<li>${name}: ${was} → <strong>${image}</strong></li>`;
  });
  for (const [name, image] of before) lines.push(html`<li>${name}: <span class="removed">− ${image}</span> (removed)</li>`);
  // Image changes are in the list already; the rest (resources, containers added, …) in words.
  const other = r.changes.filter((c) => !c.startsWith('image '));
  return html`<ul class="images">${lines}</ul>${other.length ? html`<p class="changes">${other.join('; ')}</p>` : ''}`;
}

function workloadLink(r: ChangeRow): SafeHtml {
  return html`<a href="${hrefOf('workloads', r.namespace, r.kind.toLowerCase(), r.name)}">${r.namespace}/${r.kind.toLowerCase()}/${r.name}</a>`;
}

function changeRow(r: ChangeRow): SafeHtml {
  const m = verdictMarker(r.verdict);
  const reason = r.verdict === 'break-glass' && r.reason ? html`<br><span class="reason">${r.reason}</span>` : '';
  return html`<tr${m ? html` class="${m.cls}"` : ''}>
<td>${shownTime(r.time)}</td>
<td>${workloadLink(r)}${r.revision !== undefined ? html` <span class="muted">rev ${r.revision}</span>` : ''}</td>
<td>${r.user ?? '-'}${r.fieldManager ? html`<br><span class="muted">${r.fieldManager}</span>` : ''}</td>
<td>${imagesCell(r)}</td>
<td>${r.commit ? html`<code>${r.commit}</code>` : '-'}</td>
<td>${r.approver ?? '-'}</td>
<td>${verdictCell(r.verdict)}${reason}</td>
</tr>`;
}

const COLUMNS: { key?: SortKey; label: string }[] = [
  { key: 'time', label: 'When' },
  { key: 'workload', label: 'Workload' },
  { key: 'user', label: 'Who' },
  { label: 'What (image before → after)' },
  { key: 'commit', label: 'Commit' },
  { key: 'approver', label: 'Approver' },
  { key: 'verdict', label: 'Verdict' },
];

function header(tenant: string, f: ChangeFilter): SafeHtml {
  return html`<tr>${COLUMNS.map((c) => {
    if (!c.key) return html`<th scope="col">${c.label}</th>`;
    const active = f.sort === c.key;
    const dir = active && f.dir === 'desc' ? 'asc' : 'desc';
    const aria = active ? html` aria-sort="${f.dir === 'asc' ? 'ascending' : 'descending'}"` : '';
    return html`<th scope="col"${aria}><a href="${hrefOf('tenants', tenant)}?${filterQuery(f, { sort: c.key, dir })}">${c.label}${active ? (f.dir === 'asc' ? ' ▲' : ' ▼') : ''}</a></th>`;
  })}</tr>`;
}

function filterForm(f: ChangeFilter): SafeHtml {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  return html`<form method="get" class="filters" aria-label="Filter changes">
<label>From <input type="date" name="since" value="${day(f.since)}"></label>
<label>To <input type="date" name="until" value="${day(f.until)}"></label>
<label>Verdict <select name="verdict"><option value="">any</option>${VERDICTS.map((v) => html`<option value="${v}"${f.verdict === v ? ' selected' : ''}>${v}</option>`)}</select></label>
<label>User <input type="text" name="user" value="${f.user ?? ''}"></label>
<label>Search <input type="search" name="q" value="${f.q ?? ''}"></label>
<input type="hidden" name="sort" value="${f.sort}"><input type="hidden" name="dir" value="${f.dir}">
<button type="submit">Apply</button>
</form>`;
}

function violationsSection(violations: readonly Violation[] | undefined): SafeHtml {
  if (violations === undefined) return html`<h2 id="violations">Violations now</h2><p>No reports: the PolicyReport API (wgpolicyk8s.io) is not installed.</p>`;
  if (violations.length === 0) return html`<h2 id="violations">Violations now</h2><p>No violations reported.</p>`;
  return html`<h2 id="violations">Violations now</h2>
<table class="violations"><thead><tr><th scope="col">Namespace</th><th scope="col">Object</th><th scope="col">Policy / rule</th><th scope="col">Result</th><th scope="col">Severity</th><th scope="col">Message</th></tr></thead>
<tbody>${violations.map((v) => html`<tr><td>${v.namespace}</td><td>${v.resource ?? '-'}</td><td>${v.policy} / ${v.rule}</td><td><strong>${v.result}</strong></td><td>${v.severity ?? '-'}</td><td>${v.message ?? ''}</td></tr>`)}</tbody></table>`;
}

/** The page. */
export function tenantPage(user: UserIdentity, v: TenantView): SafeHtml {
  const f = v.filter;
  const q = filterQuery(f);
  const base = hrefOf('tenants', v.tenant);
  const flagged = v.rows.filter((r) => verdictMarker(r.verdict)).length;
  const errors = v.errors.length ? html`<ul class="error" role="alert">${v.errors.map((e) => html`<li>${e}</li>`)}</ul>` : '';
  const table = v.rows.length
    ? html`<table class="changes"><caption>${v.rows.length} change${v.rows.length === 1 ? '' : 's'}, ${flagged} flagged</caption><thead>${header(v.tenant, f)}</thead><tbody>${v.rows.map(changeRow)}</tbody></table>`
    : html`<p>No changes in this period.</p>`;
  return layout(
    `Tenant ${v.tenant}`,
    html`<p>Namespaces: ${v.namespaces.join(', ')} · changes from ${shownTime(f.since.toISOString())} to ${shownTime(f.until.toISOString())}</p>
${errors}${filterForm(f)}
${v.truncated ? html`<p class="error" role="status">The period holds more changes than one view reads: the earliest are shown; narrow the period${v.nextSince ? html`, or continue from ${shownTime(v.nextSince)}` : ''}.</p>` : ''}
<h2>Changes</h2>
${table}
<h2>Export</h2>
<ul class="exports">
<li><a href="${base}/export.csv?${q}">CSV</a> <span class="digest">digest <code>${v.csvDigest}</code></span></li>
<li><a href="${base}/export.json?${q}">JSON</a> <span class="digest">(its digest is in the download's X-Tracegate-Digest header: the file records when it was made)</span></li>
</ul>
${violationsSection(v.violations)}`,
    user,
  );
}
