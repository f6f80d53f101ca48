/**
 * The `approval` phase of `npm run bench` (also `tsx bench/approval.ts` alone): the CPU cost of
 * verified provenance per review, in process: the template digest the gate computes for every review,
 * an approval verified cold (signature check: Ed25519 and ES256) and from the verification cache, and
 * a CI ID token (RS256) cold and cached. µs per operation, best of a few rounds (the least disturbed
 * by other processes); judges nothing. A vector that does not verify is an error (the run fails).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { createApprovalVerifier, createCiTokenVerifier } from '../src/approval/cache.js';
import { loadCiIssuers } from '../src/approval/ci-issuers.js';
import { loadTrustedKeys } from '../src/approval/keys.js';
import { approvalExpectationOf, approvalTemplateDigest } from '../src/approval/template-digest.js';
import { verifyApproval } from '../src/approval/verify-approval.js';
import { verifyCiToken } from '../src/approval/verify-ci-token.js';
import type { KubeObject } from '../src/k8s/types.js';

const fixtures = new URL('../test/fixtures/approval/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, fixtures), 'utf8');
// The vectors are valid for an hour from 2026-12-01T09:00:00Z (CI tokens: ten minutes).
const AT = Date.parse('2026-12-01T09:05:00Z');

/** How long to measure. */
export interface ApprovalBenchSettings {
  /** Operations per round. */
  ops: number;
  rounds: number;
}

/** Full runs: enough operations for stable microseconds in a few seconds. Quick: proves the path runs. */
export function approvalBenchSettings(quick: boolean): ApprovalBenchSettings {
  return quick ? { ops: 20, rounds: 1 } : { ops: 2000, rounds: 5 };
}

/** One measured operation. */
export interface ApprovalBenchRow {
  name: string;
  microsPerOp: number;
}

/** The phase's result. */
export interface ApprovalBenchResult extends ApprovalBenchSettings {
  rows: ApprovalBenchRow[];
}

async function perOp(s: ApprovalBenchSettings, fn: () => unknown): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < s.rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < s.ops; i++) await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / s.ops);
  }
  return best;
}

/** Measures the verification costs with the test vectors (test/fixtures/approval). Throws when a vector does not verify. */
export async function measureApproval(s: ApprovalBenchSettings): Promise<ApprovalBenchResult> {
  const object = parse(read('deployment.yaml')) as KubeObject;
  const keys = await loadTrustedKeys({ tenants: { 'team-a': JSON.parse(read('approval.jwks.json')) } });
  const expected = approvalExpectationOf(object, 'team-a');
  const issuers = await loadCiIssuers([{ issuer: 'https://token.actions.githubusercontent.com', audience: 'tracegate', jwks: JSON.parse(read('ci.jwks.json')), tenants: { 'team-a': ['org/team-a-*'] } }]);
  const ed = read('vectors/ed25519-template.jws').trim();
  const es = read('vectors/es256-images.jws').trim();
  const ci = read('vectors/ci-github-production.jwt').trim();
  const must = async (what: string, p: Promise<{ ok: boolean }>) => {
    const r = await p;
    if (!r.ok) throw new Error(`approval bench: the ${what} vector did not verify: ${(r as { reason?: string }).reason}`);
  };
  const approvals = createApprovalVerifier({ keys });
  const ciTokens = createCiTokenVerifier({ issuers });
  const rows: ApprovalBenchRow[] = [];
  const add = async (name: string, fn: () => unknown) => void rows.push({ name, microsPerOp: await perOp(s, fn) });
  await add('template digest (per review)', () => approvalTemplateDigest(object));
  await add('approval Ed25519, cold', () => must('Ed25519', verifyApproval(ed, expected, keys, AT)));
  await add('approval ES256, cold', () => must('ES256', verifyApproval(es, expected, keys, AT)));
  await add('approval, cached', () => must('cached Ed25519', approvals.verify(ed, expected, AT)));
  await add('CI token RS256, cold', () => must('CI token', verifyCiToken(ci, { tenant: 'team-a' }, issuers, AT)));
  await add('CI token, cached', () => must('cached CI token', ciTokens.verify(ci, { tenant: 'team-a' }, AT)));
  return { ...s, rows };
}

/** The phase's table. */
export function formatApproval(r: ApprovalBenchResult): string {
  const lines = r.rows.map((row) => `  ${row.name.padEnd(30)} ${row.microsPerOp.toFixed(1).padStart(8)} µs`);
  return `Approval verification in process (${r.ops} operations, best of ${r.rounds} round${r.rounds === 1 ? '' : 's'})\n${lines.join('\n')}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(formatApproval(await measureApproval(approvalBenchSettings(process.argv.includes('--quick')))));
}
