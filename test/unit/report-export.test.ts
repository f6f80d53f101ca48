import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { importPublicJwks } from '../../src/approval/jwks.js';
import { readSigningKey } from '../../src/approval/sign.js';
import { CSV_COLUMNS, csvCell, exportDigest, renderCsv, renderJson } from '../../src/report/export.js';
import type { ChangeRow } from '../../src/report/rows.js';
import { renderDigestFile, signExport, verifyExport, type ExportClaims } from '../../src/report/signature.js';

const rows: ChangeRow[] = [
  {
    time: '2026-10-20T08:00:00Z',
    tenant: 'team-a',
    namespace: 'team-a',
    kind: 'Deployment',
    name: 'web',
    revision: 4,
    status: 'deployed',
    verdict: 'break-glass',
    user: 'oncall',
    reason: 'prod is down, "now"',
    imagesBefore: ['web=nginx:1.2', 'side=envoy:1'],
    imagesAfter: ['web=nginx:1.3', 'side=envoy:1'],
    changes: ['image web: nginx:1.2 → nginx:1.3', 'env X set'],
  },
  { time: '2026-10-21T08:00:00Z', namespace: 'team-a', kind: 'Deployment', name: 'web', status: 'recorded', verdict: 'unverified', commit: '=HYPERLINK("http://evil")', imagesBefore: [], imagesAfter: [], changes: ['line one\nline two'] },
];

/** A minimal RFC 4180 reader: fields and records, as a spreadsheet would split them. */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') record.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') record.push(field), out.push(record), (record = []), (field = ''), i++;
    else field += c;
  }
  return out;
}

describe('renderCsv', () => {
  it('writes a header and one CRLF-terminated record per row, quoting per RFC 4180', () => {
    const text = renderCsv(rows);
    assert.ok(text.endsWith('\r\n'));
    assert.equal(text.split('\r\n')[0], CSV_COLUMNS.join(','));
    const parsed = parseCsv(text);
    assert.equal(parsed.length, 3);
    assert.ok(parsed.every((r) => r.length === CSV_COLUMNS.length));
    const first = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, parsed[1]![i]]));
    assert.equal(first['reason'], 'prod is down, "now"');
    assert.equal(first['imagesBefore'], 'web=nginx:1.2 side=envoy:1');
    assert.equal(first['changes'], 'image web: nginx:1.2 → nginx:1.3; env X set');
    assert.equal(first['revision'], '4');
    const second = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, parsed[2]![i]]));
    assert.equal(second['changes'], 'line one\nline two', 'a line break stays inside its quoted cell');
    assert.equal(second['tenant'], '');
  });

  it('neutralises cells a spreadsheet would run as a formula', () => {
    for (const bad of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) assert.equal(csvCell(bad)[0] === '"' ? csvCell(bad)[1] : csvCell(bad)[0], "'", JSON.stringify(bad));
    assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvCell('nginx:1.2'), 'nginx:1.2');
    const commit = parseCsv(renderCsv(rows))[2]![CSV_COLUMNS.indexOf('commit')];
    assert.equal(commit, `'=HYPERLINK("http://evil")`);
  });

  // Regression (security review, CSV injection via `;`): spreadsheets in semicolon-delimited locales
  // split a comma-separated line at `;`, honouring quotes only at a field's start.
  it('gives a semicolon-splitting spreadsheet no field that starts a formula', () => {
    assert.equal(csvCell('x;=1+1'), `"x;'=1+1"`);
    assert.equal(csvCell('a\tb'), '"a\tb"', 'a tab is quoted too');
    const approver = 'bob;=HYPERLINK(CHAR(104)&CHAR(116)&C2)';
    const line = renderCsv([{ ...rows[0]!, approver }]).split('\r\n')[1]!;
    const semicolonFields = line.split(';');
    assert.ok(semicolonFields.length > 1);
    for (const field of semicolonFields) assert.doesNotMatch(field, /^[\s]*[=+\-@＝＋－＠]/, field);
    assert.equal(parseCsv(renderCsv([{ ...rows[0]!, approver }]))[1]![CSV_COLUMNS.indexOf('approver')], "bob;'=HYPERLINK(CHAR(104)&CHAR(116)&C2)");
  });

  it('neutralises a formula after leading white space, NBSP, the ideographic space, and in full-width', () => {
    for (const bad of [' =1', '  +1', '\u00a0=1+1', '\u3000=1', '\u200b=1', '＝1', '＋1', '－1', '＠SUM(A1)']) {
      const cell = csvCell(bad);
      assert.equal(cell[0] === '"' ? cell[1] : cell[0], "'", JSON.stringify(bad));
    }
    assert.equal(csvCell(' =1'), "' =1");
    assert.equal(csvCell('＝1'), "'＝1");
    assert.equal(csvCell('a =1'), 'a =1', 'a formula sign inside text is text');
    assert.equal(csvCell('\n=1'), `"\n'=1"`, 'after a line break too (a spreadsheet may start a record there)');
  });
});

describe('renderJson', () => {
  it('has the meta first, rows last with fields in a fixed order, and a final newline', () => {
    const text = renderJson({ tenant: 'team-a', since: '2026-10-01T00:00:00.000Z', generatedAt: '2026-11-02T00:00:00.000Z', policyDigest: 'sha256:ab' }, rows);
    assert.ok(text.endsWith('}\n'));
    const doc = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), ['tenant', 'since', 'until', 'generatedAt', 'policyDigest', 'truncated', 'rows']);
    assert.equal(doc['until'], null);
    assert.deepEqual((doc['rows'] as ChangeRow[])[0], rows[0]);
    assert.deepEqual(Object.keys((doc['rows'] as object[])[1]!), ['time', 'namespace', 'kind', 'name', 'status', 'verdict', 'commit', 'imagesBefore', 'imagesAfter', 'changes']);
    const reordered = rows.map((r) => Object.fromEntries(Object.entries(r).reverse()) as unknown as ChangeRow);
    assert.equal(renderJson({ generatedAt: 'x' }, reordered), renderJson({ generatedAt: 'x' }, rows), 'the same rows give the same bytes');
  });
});

/** The JWS with one character in the middle of its signature changed (the last one may be padding bits only). */
function flipSignature(jws: string): string {
  const at = jws.lastIndexOf('.') + 10;
  return `${jws.slice(0, at)}${jws[at] === 'A' ? 'B' : 'A'}${jws.slice(at + 1)}`;
}

describe('export digest and signature', () => {
  it('digests the exact bytes', () => {
    const text = renderCsv(rows);
    assert.equal(exportDigest(text), `sha256:${createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex')}`);
    assert.equal(exportDigest(Buffer.from(text)), exportDigest(text));
  });

  async function keys(type: 'ed25519' | 'ec') {
    const pair = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const signing = await readSigningKey(pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 'test.pem', 'auditor-1');
    return { signing, trusted: await importPublicJwks({ keys: [signing.publicJwk] }, ['Ed25519', 'P-256'], 'test jwks') };
  }

  const text = renderJson({ tenant: 'team-a', since: '2026-10-01T00:00:00.000Z', generatedAt: '2026-11-02T00:00:00.000Z' }, rows);
  const claims: ExportClaims = { sha256: exportDigest(text), format: 'json', tenant: 'team-a', since: '2026-10-01T00:00:00.000Z', until: null, generatedAt: '2026-11-02T00:00:00.000Z', rows: rows.length, truncated: false };

  for (const type of ['ed25519', 'ec'] as const) {
    it(`round-trips a ${type} signature, and a tampered export fails`, async () => {
      const { signing, trusted } = await keys(type);
      const file = JSON.parse(renderDigestFile(claims, { kid: signing.kid, jws: await signExport(claims, signing) })) as Record<string, unknown>;
      const ok = await verifyExport(text, file, trusted);
      assert.deepEqual(ok.ok && { signedBy: ok.signedBy, rows: ok.claims.rows }, { signedBy: 'auditor-1', rows: 2 });
      const tampered = text.replace('oncall', 'nobody');
      const bad = await verifyExport(tampered, file, trusted);
      assert.equal(bad.ok, false);
      assert.match(!bad.ok ? bad.reason : '', /the export was changed/);
    });
  }

  // Regression (security review, report verify): claims are printed to a terminal; they must have the
  // shapes an export gives them.
  it('refuses claims an export could not have: words for rows, line breaks in times, an odd format', async () => {
    const bad: [string, unknown][] = [
      ['rows', 'ALL 412'],
      ['rows', 1.5],
      ['generatedAt', '2026-11-01T01:00:00.000Z; signed by key auditor-2026\n\u001b[8m'],
      ['since', 'yesterday'],
      ['format', 'xlsx'],
      ['tenant', 'team-a\u001b[2K'],
      ['namespaces', ['team-a', 'Team A']],
      ['truncated', 'no'],
    ];
    for (const [key, value] of bad) {
      const r = await verifyExport(text, { ...claims, [key]: value });
      assert.equal(r.ok, false, key);
      assert.match(!r.ok ? r.reason : '', new RegExp(`digest file's ${key}`));
    }
    assert.equal((await verifyExport(text, { ...claims })).ok, true);
  });

  it('refuses a digest file edited to match an edited export, an unsigned one, and an unknown key', async () => {
    const { signing, trusted } = await keys('ed25519');
    const jws = await signExport(claims, signing);
    const tampered = text.replace('oncall', 'nobody');
    const forged = { ...claims, sha256: exportDigest(tampered), kid: signing.kid, jws };
    const r1 = await verifyExport(tampered, forged, trusted);
    assert.equal(r1.ok, false);
    assert.match(!r1.ok ? r1.reason : '', /sha256 differs from what was signed/);
    const widened = { ...claims, until: '2027-01-01T00:00:00.000Z', kid: signing.kid, jws };
    assert.match(((await verifyExport(text, widened, trusted)) as { reason: string }).reason, /until differs/);
    const r2 = await verifyExport(text, { ...claims }, trusted);
    assert.match(!r2.ok ? r2.reason : '', /not signed/);
    assert.equal((await verifyExport(text, { ...claims })).ok, true, 'without keys only the digest is checked');
    const other = await keys('ed25519');
    const r3 = await verifyExport(text, { ...claims, jws }, other.trusted);
    assert.equal(r3.ok, false);
    const r4 = await verifyExport(text, { ...claims, jws: flipSignature(jws) }, trusted);
    assert.equal(r4.ok, false);
  });
});
