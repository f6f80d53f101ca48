/**
 * Regression (security review, `report verify`): without --jwks the digest file's claims were printed
 * raw (a forged file could spoof "signed by key …" with line breaks and terminal escapes) and a signed
 * digest passed with exit 0 although nobody checked its signature.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import type { CliIo } from '../../src/cli/io.js';
import { createCli } from '../../src/cli/main.js';
import { exportDigest } from '../../src/report/export.js';
import { signExport } from '../../src/report/signature.js';

let dir: string;
const csv = 'time,tenant\r\n2026-11-01T00:00:00Z,team-a\r\n';
const claims = { sha256: exportDigest(csv), format: 'csv' as const, tenant: 'team-a', since: '2026-10-01T00:00:00.000Z', until: '2026-11-01T00:00:00.000Z', generatedAt: '2026-11-01T01:00:00.000Z', rows: 1, truncated: false };

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readStdin: async () => '', env: {}, cwd: dir };
  const code = await createCli()(argv, io);
  return { code, stdout, stderr };
}
const put = (name: string, value: unknown) => writeFile(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracegate-verify-'));
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  await put('jwks.json', { keys: [{ ...(await exportJWK(publicKey)), kid: 'auditor-2026', use: 'sig' }] });
  await put('e.csv', csv);
  await put('signed.digest', { ...claims, kid: 'auditor-2026', jws: await signExport(claims, { key: privateKey, alg: 'EdDSA', kid: 'auditor-2026' } as never) });
});
after(() => rm(dir, { recursive: true, force: true }));

describe('tracegate report verify', () => {
  it('refuses a signed digest without --jwks (exit 1), checks the bytes only with --digest-only', async () => {
    const res = await cli(['report', 'verify', 'e.csv', '--digest', 'signed.digest']);
    assert.equal(res.code, 1);
    assert.equal(res.stdout, '');
    assert.match(res.stderr, /^tracegate report: signed digest: pass --jwks/);
    const bytes = await cli(['report', 'verify', 'e.csv', '--digest', 'signed.digest', '--digest-only']);
    assert.equal(bytes.code, 0, bytes.stderr);
    assert.match(bytes.stdout, /the signature was NOT checked/);
    const both = await cli(['report', 'verify', 'e.csv', '--digest', 'signed.digest', '--digest-only', '--jwks', 'jwks.json']);
    assert.equal(both.code, 2);
    const ok = await cli(['report', 'verify', 'e.csv', '--digest', 'signed.digest', '--jwks', 'jwks.json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /signed by key auditor-2026\n$/);
  });

  it('refuses an unsigned digest whose claims spoof a signature with line breaks and terminal escapes', async () => {
    const spoof = { ...claims, generatedAt: `2026-11-01T01:00:00.000Z; ${claims.sha256}; signed by key auditor-2026\n\x1b[8m` };
    await put('spoof.digest', spoof);
    const res = await cli(['report', 'verify', 'e.csv', '--digest', 'spoof.digest']);
    assert.equal(res.code, 1);
    assert.equal(res.stdout, '');
    assert.match(res.stderr, /generatedAt is not an RFC 3339 time/);
    assert.doesNotMatch(res.stderr, /\x1b/);
    await put('rows.digest', { ...claims, rows: 'ALL 412' });
    const rows = await cli(['report', 'verify', 'e.csv', '--digest', 'rows.digest']);
    assert.equal(rows.code, 1);
    assert.match(rows.stderr, /rows is not a whole number/);
  });

  it('still passes an honest unsigned digest with exit 0, saying it is not signed, on one line', async () => {
    await put('plain.digest', claims);
    const res = await cli(['report', 'verify', 'e.csv', '--digest', 'plain.digest']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^verified: csv export of tenant team-a, 2026-10-01T00:00:00.000Z to 2026-11-01T00:00:00.000Z, 1 rows, .*NOT signed/);
    assert.equal(res.stdout.split('\n').length, 2);
  });
});
