/**
 * The gate's stamps made the way /mutate makes them (the same MAC, keys and fields), for tests that
 * need an object the gate admitted without running a gate.
 */
import { tracegateKeys } from '../../src/admission/annotations.js';
import { newChangeIdPart } from '../../src/admission/change-id.js';
import { signedChangeId, stampHash } from '../../src/admission/stamps.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { createMacKeyring, type MacKeyring } from '../../src/provenance/mac.js';

/** One fixed key: tests that sign and verify share it. */
export const TEST_KEYRING: MacKeyring = createMacKeyring([{ id: 'test', secret: Buffer.alloc(32, 7) }]);

/** Stamp values; absent ones are written empty (as /mutate does for a change without them). */
export interface TestStamps {
  tenant?: string;
  changedBy?: string;
  fieldManager?: string;
  commit?: string;
  approver?: string;
  pipelineRun?: string;
  usedCommits?: string;
  breakGlass?: string;
  /** The id part of the change id (default: a fresh one). */
  id?: string;
}

/**
 * Writes signed stamps onto `obj` (in place) as /mutate would for a change of its current template, bound
 * to its uid (or to none, as stamps made at CREATE are, with `atCreate`).
 */
export function stampAsGate(obj: KubeObject, s: TestStamps = {}, opts: { keyring?: MacKeyring; prefix?: string; atCreate?: boolean } = {}): KubeObject {
  const k = tracegateKeys(opts.prefix ?? 'tracegate.io/');
  const id = s.id ?? newChangeIdPart();
  const stamps: Record<string, string | undefined> = {
    [k.tenant]: s.tenant,
    [k.changedBy]: s.changedBy ?? 'alice',
    [k.fieldManager]: s.fieldManager,
    [k.changeCommit]: s.commit ?? '',
    [k.changeApprover]: s.approver ?? '',
    [k.changePipelineRun]: s.pipelineRun ?? '',
    [k.usedCommits]: s.usedCommits ?? s.commit ?? '',
    [k.breakGlassChange]: s.breakGlass ? `${id} ${s.breakGlass}` : undefined,
  };
  const changeId = signedChangeId(opts.keyring ?? TEST_KEYRING, k, {
    namespace: obj.metadata?.namespace ?? '',
    kind: String(obj.kind),
    name: obj.metadata?.name ?? '',
    uid: opts.atCreate ? '' : (obj.metadata?.uid ?? ''),
    stamps,
    id,
    hash: stampHash(obj),
  });
  obj.metadata ??= {};
  const a: Record<string, string> = { ...obj.metadata.annotations };
  for (const [key, v] of Object.entries(stamps)) if (v !== undefined) a[key] = v;
  a[k.changeId] = changeId;
  obj.metadata.annotations = a;
  return obj;
}
