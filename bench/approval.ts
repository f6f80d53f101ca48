/**
 * The `approval` phase of `npm run bench` (also `tsx bench/approval.ts` alone): the CPU cost of
 * verified provenance per review, in process: the template digest the gate computes for every review,
 * an approval verified cold (signature check: Ed25519 and ES256) and from the verification cache, and
 * a CI ID token (RS256) cold and cached — and the same through the gate's handlers: one admission's
 * /mutate and /validate (the edge verifies before each), without an approval, with one verified cold,
 * and with one from the cache. µs per operation, best of a few rounds (the least disturbed by other
 * processes); judges nothing. A vector that does not verify is an error (the run fails).
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
import { tracegateKeys } from '../src/admission/annotations.js';
import { createApprovalEdge, withEvidence } from '../src/admission/approval-edge.js';
import { createMutator } from '../src/admission/mutate.js';
import type { AdmissionRequest } from '../src/admission/types.js';
import { createValidator, type Handled } from '../src/admission/validate.js';
import { policySchemaPath } from '../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../src/policy/load.js';
import { TEST_KEYRING } from '../test/support/stamps.js';
import { applyPatchAsApiserver } from '../test/support/json-patch.js';

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
  const review = await gateReview(keys, object, ed);
  await add('gate review, no approval', () => review.plain());
  await add('gate review, approval cold', () => review.cold());
  await add('gate review, approval cached', () => review.cached());
  return { ...s, rows };
}

/**
 * One admission through the gate's handlers — /mutate, then /validate of the mutated object, each with
 * the edge's verification first — under the bundled provenance policy requiring signed approvals. Cold:
 * a new verifier per review (its cache empty, as for a statement the gate has not seen); cached: one verifier.
 */
async function gateReview(keys: Awaited<ReturnType<typeof loadTrustedKeys>>, object: KubeObject, jws: string) {
  const P = 'tracegate.io/';
  const k = tracegateKeys(P);
  const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath), annotationPrefix: P });
  const doc = parse(readFileSync(new URL('../policies/provenance.yaml', import.meta.url), 'utf8')) as { spec: { rules: { provenance: Record<string, unknown> }[] } };
  doc.spec.rules[0]!.provenance.signedApproval = { require: 'signed' };
  const set = loader.toSet(loader.parse(JSON.stringify(doc), 'provenance.yaml'));
  const deps = { policies: () => set, tenantOf: () => 'team-a', keys: k, prefix: P, keyring: TEST_KEYRING };
  const mutate = createMutator(deps);
  const validate = createValidator(deps);
  // As the apiserver sends it: decoded into its types, so the manifest's empty env list is gone.
  const base = JSON.parse(JSON.stringify(object).replace(',"env":[]', '')) as KubeObject;
  const request = (annotations: Record<string, string>): AdmissionRequest => ({
    uid: 'bench',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: 'web',
    namespace: 'team-a',
    operation: 'CREATE',
    userInfo: { username: 'system:serviceaccount:ci:deployer', groups: [] },
    object: { ...base, metadata: { ...base.metadata, annotations } },
    oldObject: null,
    options: { fieldManager: 'helm' },
  });
  const plain = request({ 'tracegate.io/commit': '3f2a9c1', 'tracegate.io/approver': 'bob' });
  const signed = request({ 'tracegate.io/approval': jws });
  const edge = (approvals = createApprovalVerifier({ keys })) => createApprovalEdge({ keys: k, prefix: P, tenantOf: () => 'team-a', approvals, now: () => AT });
  const admit = async (r: AdmissionRequest, source: ReturnType<typeof edge>, expect: boolean) => {
    const m: Handled = await withEvidence(source, mutate)(r);
    const applied = m.response.patch ? applyPatchAsApiserver(r.object, m.response.patch) : { ok: true as const, value: r.object };
    if (!applied.ok) throw new Error('approval bench: the mutating patch does not apply');
    const v: Handled = await withEvidence(source, validate)({ ...r, object: applied.value as KubeObject });
    if (v.response.allowed !== expect) throw new Error(`approval bench: the review was ${v.response.allowed ? 'admitted' : `refused: ${v.response.status?.message}`}`);
  };
  const shared = edge();
  return {
    // Without a signed approval the signed policy refuses: the cost of judging, not of verifying.
    plain: () => admit(plain, shared, false),
    cold: () => admit(signed, edge(), true),
    cached: () => admit(signed, shared, true),
  };
}

/** The phase's table. */
export function formatApproval(r: ApprovalBenchResult): string {
  const lines = r.rows.map((row) => `  ${row.name.padEnd(30)} ${row.microsPerOp.toFixed(1).padStart(8)} µs`);
  return `Approval verification in process (${r.ops} operations, best of ${r.rounds} round${r.rounds === 1 ? '' : 's'})\n${lines.join('\n')}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(formatApproval(await measureApproval(approvalBenchSettings(process.argv.includes('--quick')))));
}
