import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyChangeFilter, filterQuery, parseChangeFilter } from '../../src/ui/change-filter.js';
import type { ChangeRow } from '../../src/ui/data.js';
import { escapeHtml, hrefOf, html } from '../../src/ui/html.js';
import { lineDiff } from '../../src/ui/line-diff.js';
import { policiesPage } from '../../src/ui/pages/home.js';
import { tenantPage } from '../../src/ui/pages/tenant.js';
import { workloadPage } from '../../src/ui/pages/workload.js';
import { reportViolations } from '../../src/ui/kube-sources.js';

const HOSTILE = `"><script>alert(1)</script><img src=x onerror=alert(2)>'&\``;
const user = { username: 'alice', groups: ['team-a'] };

function row(over: Partial<ChangeRow> = {}): ChangeRow {
  return { time: '2026-10-05T10:00:00Z', namespace: 'team-a', kind: 'Deployment', name: 'web', status: 'deployed', verdict: 'verified', imagesBefore: ['web=reg/web:1'], imagesAfter: ['web=reg/web:2'], changes: ['image web: reg/web:1 → reg/web:2'], ...over };
}

/** The tags the pages themselves write: anything else would have come from the hostile text. */
const OUR_TAGS = new Set(['!doctype', 'html', 'head', 'meta', 'title', 'link', 'body', 'a', 'header', 'span', 'nav', 'form', 'strong', 'button', 'main', 'h1', 'h2', 'p', 'ul', 'li', 'code', 'table', 'caption', 'thead', 'tbody', 'tr', 'th', 'td', 'br', 'label', 'input', 'select', 'option', 'dl', 'dt', 'dd', 'section', 'b', 'pre']);

/** No tag or attribute the hostile text brought survives as markup. */
function assertInert(page: string): void {
  const tags = new Set([...page.matchAll(/<\/?([a-zA-Z0-9!]+)/g)].map((m) => m[1]!.toLowerCase()));
  assert.deepEqual([...tags].filter((t) => !OUR_TAGS.has(t)), []);
  // Every attribute is one the templates write; an `onerror=` could only sit inside escaped text.
  // Quoted values cannot end early (a `"` in them is escaped), so dropping them leaves only real attributes.
  for (const m of page.matchAll(/<[a-zA-Z][^>]*>/g)) assert.doesNotMatch(m[0].replace(/"[^"]*"/g, '""'), /\son\w+=/, m[0]);
  assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
}

describe('html escaping', () => {
  it('escapes every character that could open markup or leave an attribute', () => {
    assert.equal(escapeHtml(`<a href="x" title='y'>&\``), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&#96;');
  });

  it('escapes interpolated values but keeps nested html as markup', () => {
    const inner = html`<b>${HOSTILE}</b>`;
    const page = html`<p title="${HOSTILE}">${inner}${[HOSTILE, 1]}${undefined}${false}</p>`.text;
    assert.ok(page.startsWith('<p title="&quot;&gt;&lt;script&gt;'));
    assert.ok(page.includes('<b>&quot;&gt;'));
    assertInert(page);
  });

  it('percent-encodes path segments of links', () => {
    assert.equal(hrefOf('tenants', 'a/../b?c'), '/tenants/a%2F..%2Fb%3Fc');
  });

  it('renders hostile names, images, users, reasons and annotations inert on the tenant page', () => {
    const { filter } = parseChangeFilter(new URLSearchParams(`q=${encodeURIComponent(HOSTILE)}`), new Date('2026-10-20T00:00:00Z'));
    const rows = [row({ name: HOSTILE, user: HOSTILE, commit: HOSTILE, approver: HOSTILE, reason: HOSTILE, verdict: 'break-glass', imagesBefore: [`web=${HOSTILE}`], imagesAfter: [`${HOSTILE}=x`], changes: [HOSTILE] })];
    const page = tenantPage(user, { tenant: 'team-a', namespaces: ['team-a'], filter, errors: [HOSTILE], rows, violations: [{ namespace: 'team-a', policy: HOSTILE, rule: HOSTILE, result: 'fail', message: HOSTILE }], csvDigest: 'sha256:1' }).text;
    assertInert(page);
    // The search the user typed goes back into the form as an attribute value, escaped.
    assert.ok(page.includes('value="&quot;&gt;&lt;script&gt;'));
  });

  it('renders hostile trail rows and policy parameters inert', () => {
    const trail = workloadPage(user, { namespace: 'team-a', kind: 'Deployment', name: 'web' }, { exists: false, owner: HOSTILE, rows: [{ revision: 2, updated: HOSTILE, status: HOSTILE, description: HOSTILE, user: HOSTILE, images: [HOSTILE] }] }, true).text;
    assertInert(trail);
    const view = { digest: 'sha256:x', policies: [{ name: HOSTILE, version: '1', digest: 'd', source: HOSTILE, description: HOSTILE, rules: [{ id: HOSTILE, action: 'deny', check: 'images', parameters: { allowed: [HOSTILE], breakGlass: { groups: [HOSTILE] } } }] }] };
    assertInert(policiesPage(user, view as never).text);
  });
});

describe('tenant page markers', () => {
  it('marks break-glass and unverified rows by class and by text, not colour alone', () => {
    const { filter } = parseChangeFilter(new URLSearchParams(), new Date('2026-10-20T00:00:00Z'));
    const page = tenantPage(user, { tenant: 'team-a', namespaces: ['team-a'], filter, errors: [], rows: [row({ verdict: 'break-glass', reason: 'INC-1' }), row({ verdict: 'unverified' }), row()], violations: undefined, csvDigest: 'c', truncated: true, nextSince: '2026-10-10T00:00:00Z' }).text;
    assert.match(page, /<tr class="row-break-glass">[\s\S]*?<strong class="marker">BREAK-GLASS<\/strong><br><span class="reason">INC-1<\/span>/);
    assert.match(page, /<tr class="row-unverified">[\s\S]*?<strong class="marker">UNVERIFIED<\/strong>/);
    assert.equal(page.match(/<tr class="row-/g)?.length, 2);
    assert.match(page, /3 changes, 2 flagged/);
    assert.match(page, /continue from 2026-10-10T00:00:00Z/);
    assert.match(page, /the PolicyReport API \(wgpolicyk8s.io\) is not installed/);
    assert.match(page, /reg\/web:1 → <strong>reg\/web:2<\/strong>/);
  });
});

describe('change filter', () => {
  const now = new Date('2026-10-20T12:00:00Z');

  it('defaults to the last 30 days, newest first', () => {
    const { filter, errors } = parseChangeFilter(new URLSearchParams(), now);
    assert.deepEqual(errors, []);
    assert.equal(filter.until.toISOString(), now.toISOString());
    assert.equal(filter.since.toISOString(), '2026-09-20T12:00:00.000Z');
    assert.equal(filter.sort, 'time');
    assert.equal(filter.dir, 'desc');
  });

  it('takes whole days, refuses what it cannot read and says so', () => {
    const { filter, errors } = parseChangeFilter(new URLSearchParams('since=2026-10-01&until=2026-10-02&verdict=evil&sort=__proto__&dir=up'), now);
    assert.equal(filter.since.toISOString(), '2026-10-01T00:00:00.000Z');
    assert.equal(filter.until.toISOString(), '2026-10-02T23:59:59.999Z');
    assert.equal(filter.verdict, undefined);
    assert.equal(filter.sort, 'time');
    assert.equal(errors.length, 3);
    assert.equal(parseChangeFilter(new URLSearchParams('since=yesterday'), now).errors.length, 1);
  });

  it('filters by period, verdict, user and text, and sorts', () => {
    const rows = [
      row({ time: '2026-10-01T00:00:00Z', user: 'bob', name: 'api' }),
      row({ time: '2026-10-03T00:00:00Z', user: 'alice', verdict: 'break-glass', name: 'web' }),
      row({ time: '2026-10-02T00:00:00Z', user: 'alice', imagesAfter: ['web=reg/special:9'] }),
      row({ time: '2026-08-01T00:00:00Z', user: 'alice' }),
    ];
    const f = (q: string) => applyChangeFilter(rows, parseChangeFilter(new URLSearchParams(q), now).filter).map((r) => r.time.slice(0, 10));
    assert.deepEqual(f(''), ['2026-10-03', '2026-10-02', '2026-10-01']);
    assert.deepEqual(f('dir=asc'), ['2026-10-01', '2026-10-02', '2026-10-03']);
    assert.deepEqual(f('verdict=break-glass'), ['2026-10-03']);
    assert.deepEqual(f('user=alice'), ['2026-10-03', '2026-10-02']);
    assert.deepEqual(f('q=SPECIAL'), ['2026-10-02']);
    assert.deepEqual(f('sort=workload&dir=asc'), ['2026-10-01', '2026-10-02', '2026-10-03']);
    assert.deepEqual(f('since=2026-07-01'), ['2026-10-03', '2026-10-02', '2026-10-01', '2026-08-01']);
  });

  it('writes the period back as exact times, so an export repeats the page', () => {
    const { filter } = parseChangeFilter(new URLSearchParams('user=a b&verdict=unverified'), now);
    const again = parseChangeFilter(new URLSearchParams(filterQuery(filter)), new Date('2027-01-01T00:00:00Z')).filter;
    assert.deepEqual(again, filter);
  });
});

describe('line diff', () => {
  it('keeps common lines and marks removed and added ones', () => {
    const d = lineDiff('a\nb\nc\nd', 'a\nc\nx\nd');
    assert.deepEqual(d.map((l) => `${l.op}${l.text}`), [' a', '-b', ' c', '+x', ' d']);
  });

  it('gives up alignment, not correctness, on a huge middle', () => {
    const a = Array.from({ length: 3000 }, (_, i) => `a${i}`).join('\n');
    const b = Array.from({ length: 3000 }, (_, i) => `b${i}`).join('\n');
    const d = lineDiff(a, b);
    assert.equal(d.filter((l) => l.op === '-').length, 3000);
    assert.equal(d.filter((l) => l.op === '+').length, 3000);
  });
});

describe('PolicyReport results', () => {
  it('keeps fail, warn and error results with the object they are about', () => {
    const report = { scope: { kind: 'Deployment', name: 'web' }, results: [{ policy: 'p', rule: 'r', result: 'fail', severity: 'high', message: 'm' }, { policy: 'p', rule: 'ok', result: 'pass' }, { policy: 'q', rule: 's', result: 'warn', resources: [{ kind: 'StatefulSet', name: 'db' }] }, 'junk'] };
    assert.deepEqual(reportViolations('team-a', report), [
      { namespace: 'team-a', policy: 'p', rule: 'r', result: 'fail', severity: 'high', message: 'm', resource: 'Deployment/web' },
      { namespace: 'team-a', policy: 'q', rule: 's', result: 'warn', resource: 'StatefulSet/db' },
    ]);
    assert.deepEqual(reportViolations('x', null), []);
  });
});
