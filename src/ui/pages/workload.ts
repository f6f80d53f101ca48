/**
 * One workload's trail — the rows `tracegate history` prints (src/recorder/history.ts) — each Helm
 * revision linking to its exact manifest and the diff against the revision before it; and those two
 * pages.
 */
import type { HistoryRow } from '../../recorder/history.js';
import type { WorkloadKey, WorkloadTrail } from '../data.js';
import { hrefOf, html, type SafeHtml } from '../html.js';
import type { DiffLine } from '../line-diff.js';
import type { UserIdentity } from '../reviews.js';
import { layout, shownTime } from './layout.js';
import { verdictCell, verdictMarker } from './tenant.js';

/** `/workloads/ns/kind/name`, the base of a workload's pages. */
export function workloadHref(key: WorkloadKey): string {
  return hrefOf('workloads', key.namespace, key.kind.toLowerCase(), key.name);
}

function title(key: WorkloadKey): string {
  return `${key.kind.toLowerCase()} ${key.namespace}/${key.name}`;
}

function revisionCell(key: WorkloadKey, r: HistoryRow, manifests: boolean): SafeHtml {
  if (r.revision === undefined) return html`-`;
  // A pruned revision's record is gone: nothing to link to.
  if (!manifests || r.status === 'pruned') return html`${r.revision}`;
  const base = `${workloadHref(key)}/revisions/${r.revision}`;
  return html`${r.revision} <a href="${base}/manifest">manifest</a> <a href="${base}/diff">diff</a>`;
}

function row(key: WorkloadKey, r: HistoryRow, manifests: boolean): SafeHtml {
  const m = verdictMarker(r.verdict);
  return html`<tr${m ? html` class="${m.cls}"` : ''}>
<td>${revisionCell(key, r, manifests)}</td><td>${shownTime(r.updated)}</td><td>${r.status}${r.rollout ? html`<br><span class="muted">rollout ${r.rollout}</span>` : ''}</td>
<td>${verdictCell(r.verdict)}</td><td>${r.tenant ?? '-'}</td><td>${r.commit ? html`<code>${r.commit}</code>` : '-'}</td><td>${r.approver ?? '-'}</td>
<td>${r.user ?? '-'}</td><td>${r.fieldManager ?? '-'}</td><td>${r.description}${r.images?.length ? html`<ul class="images">${r.images.map((i) => html`<li>${i}</li>`)}</ul>` : ''}</td>
</tr>`;
}

/** The trail page; `manifests` says whether the user may open manifests (get secrets). */
export function workloadPage(user: UserIdentity, key: WorkloadKey, trail: WorkloadTrail, manifests: boolean): SafeHtml {
  const notes: SafeHtml[] = [];
  if (!trail.exists) notes.push(html`<p><strong>Deleted</strong>: the trail outlives the workload.</p>`);
  if (trail.owner) notes.push(html`<p>Managed by ${trail.owner}: recorded in tracegate's trail only, never adopted into a Helm release.</p>`);
  if (trail.release) notes.push(html`<p>Helm release <code>${trail.release.namespace}/${trail.release.name}</code>${trail.release.adopted ? ' (adopted by tracegate)' : ''}</p>`);
  if (!manifests) notes.push(html`<p class="muted">Manifests and diffs need <code>get secrets</code> in ${key.namespace} (the Helm release records).</p>`);
  const table = trail.rows.length
    ? html`<table class="history"><thead><tr><th scope="col">Revision</th><th scope="col">Updated</th><th scope="col">Status</th><th scope="col">Verdict</th><th scope="col">Tenant</th><th scope="col">Commit</th><th scope="col">Approver</th><th scope="col">User</th><th scope="col">Manager</th><th scope="col">Description</th></tr></thead>
<tbody>${trail.rows.map((r) => row(key, r, manifests))}</tbody></table>`
    : html`<p>No recorded history yet.</p>`;
  return layout(title(key), html`${notes}${table}`, user);
}

/** The exact manifest of one revision, as Helm stored it. */
export function manifestPage(user: UserIdentity, key: WorkloadKey, revision: number, manifest: string): SafeHtml {
  return layout(
    `${title(key)} · revision ${revision}`,
    html`<p><a href="${workloadHref(key)}">Back to the trail</a> · <a href="${workloadHref(key)}/revisions/${revision}/diff">diff against the previous revision</a></p>
<pre class="manifest" tabindex="0" aria-label="Manifest of revision ${revision}">${manifest}</pre>`,
    user,
  );
}

/** A revision's diff against the one before; every line carries its `+`/`-` in text, not only colour. */
export function diffPage(user: UserIdentity, key: WorkloadKey, revision: number, previous: number | undefined, lines: readonly DiffLine[]): SafeHtml {
  const cls = { ' ': 'same', '-': 'del', '+': 'add' } as const;
  const body =
    previous === undefined
      ? html`<p>Revision ${revision} is the first one recorded: there is nothing to compare it with.</p>`
      : html`<p>Revision ${previous} → ${revision}: ${lines.filter((l) => l.op === '-').length} lines removed, ${lines.filter((l) => l.op === '+').length} added.</p>
<pre class="diff" tabindex="0" aria-label="Diff">${lines.map((l) => html`<span class="${cls[l.op]}">${l.op} ${l.text}\n</span>`)}</pre>`;
  return layout(`${title(key)} · diff of revision ${revision}`, html`<p><a href="${workloadHref(key)}">Back to the trail</a> · <a href="${workloadHref(key)}/revisions/${revision}/manifest">manifest</a></p>${body}`, user);
}
