/**
 * `tracegate verify --revision N NAMESPACE/NAME`: re-verify offline, with the public keys, the approval
 * the gate recorded as verified for one revision — the statement's own signature, lifetime at the time
 * it was recorded, and binding to that revision's pod template — and that it is the very statement the
 * record names (its digest). The cluster is only read: the trail entry, and the revision's manifest.
 */
import { TracegateError } from '../errors.js';
import { isRecord, type KubeObject } from '../k8s/types.js';
import { tokenDigest } from '../approval/verify-approval.js';
import type { TrustedKeys } from '../approval/keys.js';
import { approvalExpectationOf } from '../approval/template-digest.js';
import { verifyApproval } from '../approval/verify-approval.js';
import type { ApprovalStatement } from '../approval/statement.js';
import { allEntries, type TrailEntry } from '../recorder/trail.js';
import { findWorkloadDoc } from '../recorder/workload-patch.js';
import { splitManifest } from '../yaml/manifest-doc.js';
import { readWorkloadRecord, type WorkloadRecord } from './history.js';
import type { CliIo } from './io.js';
import { formatRef, loadKubeConfig, type WorkloadRef } from './kube-client.js';

/** What `verify --revision` found and checked. */
export interface RevisionCheck {
  revision: number;
  entry: TrailEntry & { approval: string };
  statement: ApprovalStatement;
}

/** The change entry of revision N (the newest, should a revision have been re-entered). */
function entryOf(rec: WorkloadRecord, revision: number, ref: WorkloadRef): TrailEntry & { approval: string } {
  const entry = allEntries(rec.trail)
    .filter((e) => e.event === 'change' && e.revision === revision)
    .at(-1);
  if (!entry) throw new TracegateError('RELEASE_NOT_FOUND', `${formatRef(ref)} has no recorded change for revision ${revision}`);
  if (!entry.approval || entry.verdict === 'unverified') throw new TracegateError('APPROVAL_INVALID', `not verified: revision ${revision} was recorded without a verified approval (its approver is as typed)`);
  return entry as TrailEntry & { approval: string };
}

/** The workload as revision N's manifest holds it, else the live object while it is still that change. */
function objectOf(rec: WorkloadRecord, entry: TrailEntry, revision: number, ref: WorkloadRef): KubeObject {
  const stored = rec.history.find((h) => h.release.version === revision);
  const part = stored ? findWorkloadDoc(splitManifest(stored.release.manifest ?? ''), ref.kind.kind, ref.name) : undefined;
  const doc = part?.doc.toJS() as unknown;
  if (isRecord(doc)) return { ...(doc as KubeObject), metadata: { ...(doc as KubeObject).metadata, namespace: ref.namespace } };
  if (rec.live && rec.live.metadata?.uid === entry.uid && entry.template !== undefined) return rec.live;
  throw new TracegateError('RELEASE_NOT_FOUND', `revision ${revision} of ${formatRef(ref)} has no manifest left to check the approval against (pruned)`);
}

/**
 * Verifies the recorded approval of `revision` with `keys` (loaded for `tenant`, or `*`). `token`
 * overrides the recorded one (a reviewer's copy); `at` defaults to when the change was recorded.
 * Throws APPROVAL_INVALID with the one-line reason when it does not verify.
 */
export async function verifyRecordedRevision(opts: { ref: WorkloadRef; revision: number; keys: (tenant: string | undefined) => Promise<{ keys: TrustedKeys; tenant: string }>; token?: string; at?: number; kubeconfig?: string; prefix: string }, io: CliIo): Promise<RevisionCheck> {
  const rec = await readWorkloadRecord(loadKubeConfig(opts.kubeconfig, io), opts.ref, opts.prefix);
  const entry = entryOf(rec, opts.revision, opts.ref);
  const obj = objectOf(rec, entry, opts.revision, opts.ref);
  const token = opts.token ?? entry.approvalToken ?? obj.metadata?.annotations?.[`${opts.prefix}approval`];
  if (token === undefined) throw new TracegateError('APPROVAL_INVALID', `not verified: revision ${opts.revision} names ${entry.approval}, but no copy of the approval is left (give it as TOKEN_OR_FILE)`);
  const digest = tokenDigest(token);
  if (!entry.approval.includes(`approval ${digest}`)) throw new TracegateError('APPROVAL_INVALID', `not verified: this approval (${digest}) is not the one recorded for revision ${opts.revision} (${entry.approval})`);
  const { keys, tenant } = await opts.keys(entry.tenant);
  const at = opts.at ?? Date.parse(entry.time);
  const result = await verifyApproval(token, approvalExpectationOf(obj, tenant, opts.prefix), keys, at);
  if (!result.ok) throw new TracegateError('APPROVAL_INVALID', `not verified: ${result.reason}`);
  return { revision: opts.revision, entry, statement: result.statement };
}
