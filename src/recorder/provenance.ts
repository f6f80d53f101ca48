/**
 * The provenance the gate stamped on a workload, read back by the recorder, and how it appears in a
 * Helm release: the revision's description (`helm history` DESCRIPTION) and custom release labels.
 */
import { CHANGE_CAUSE, tracegateKeys } from '../admission/annotations.js';
import { parseChangeId, stampHash, stampsVerify } from '../admission/stamps.js';
import { isRecord, type KubeObject } from '../k8s/types.js';
import type { MacKeyring } from '../provenance/mac.js';
import { tokenDigest } from '../approval/verify-approval.js';
import { toLabelValue } from './codec.js';

/** Longest approval kept in a trail entry: 500 entries of 1 KB more stay well within an object's 1.5 MiB. */
const MAX_RECORDED_TOKEN_CHARS = 1024;

export interface RecordedProvenance {
  tenant?: string;
  commit?: string;
  approver?: string;
  pipelineRun?: string;
  changedBy?: string;
  fieldManager?: string;
  /** The id part of the gate's change id. */
  changeId?: string;
  breakGlass?: string;
  changeCause?: string;
  /**
   * The statements that proved commit and approver (`approval sha256:…`, `ci-token sha256:…`): the gate
   * verified a signed approval or CI token for exactly this change. Absent: the approver is as typed.
   */
  approval?: string;
  /** The verified approval's test-results link. */
  testResults?: string;
  /** The approval itself (a compact JWS) when the object still carries the one the gate verified: what `tracegate verify --revision` re-checks. */
  approvalToken?: string;
  /** True when the stamps' MAC checks: the gate wrote them for exactly this object and pod template. */
  verified: boolean;
}

/**
 * Reads the gate's stamps from a live workload. Without a keyring nothing verifies: the recorder then
 * records every change as unverified, and says so at start.
 */
export function readProvenance(obj: KubeObject, prefix: string, keyring: MacKeyring | undefined): RecordedProvenance {
  const k = tracegateKeys(prefix);
  const a = obj.metadata?.annotations ?? {};
  const get = (key: string) => (typeof a[key] === 'string' && a[key] !== '' ? a[key] : undefined);
  const out: RecordedProvenance = { verified: stampsVerify(keyring, k, obj, stampHash(obj)) };
  const set = <K extends keyof RecordedProvenance>(key: K, v: RecordedProvenance[K] | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  // The commit, approver and pipeline run this change was admitted with; the keys users write are input
  // that may already carry the next change's values.
  const changeId = parseChangeId(a[k.changeId])?.id;
  set('tenant', get(k.tenant));
  set('commit', get(k.changeCommit));
  set('approver', get(k.changeApprover));
  set('pipelineRun', get(k.changePipelineRun));
  set('changedBy', get(k.changedBy));
  set('fieldManager', get(k.fieldManager));
  set('changeId', changeId);
  // Break-glass counts only for the change it waived provenance for, not every later one.
  const bg = get(k.breakGlassChange);
  const space = bg?.indexOf(' ') ?? -1;
  if (bg && changeId && space > 0 && bg.slice(0, space) === changeId) set('breakGlass', bg.slice(space + 1));
  set('changeCause', get(CHANGE_CAUSE));
  set('approval', get(k.changeVerified));
  set('testResults', get(k.changeTestResults));
  // Kept only when it is the very statement the stamps name, and small: an approval is ~0.7 KB, and
  // the trail must stay far below etcd's object limit. A CI token is a credential: only its digest is kept.
  const token = get(k.approval);
  if (out.approval && token && token.length <= MAX_RECORDED_TOKEN_CHARS && out.approval.includes(`approval ${tokenDigest(token)}`)) out.approvalToken = token;
  return out;
}

/**
 * The release's values (`config`) are carried over unchanged, so the next `helm upgrade` without value
 * flags renders the chart's own values and reverts an out-of-band change: the description says so.
 */
const VALUES_NOTE = '(recorded; chart values unchanged)';

/** `helm history` shows the description in one column: long enough for the story, short enough to read. */
const MAX_DESCRIPTION_CHARS = 400;

/** The revision description: what changed, by whom, with which tool and provenance; bypasses flagged first. */
export function describeRevision(p: RecordedProvenance, changes: readonly string[], opts: { adopted?: boolean; lastWriter?: string } = {}): string {
  const what = changes.length ? changes.join('; ') : 'pod template changed';
  // An unverified change's annotations belong to an earlier change: name only what managedFields show.
  const who = p.verified
    ? [p.changedBy && `by ${p.changedBy}`, p.fieldManager && `via ${p.fieldManager}`].filter(Boolean).join(' ')
    : opts.lastWriter
      ? `via ${opts.lastWriter} (per managedFields)`
      : '';
  const why = p.verified
    ? [p.commit && `commit ${p.commit}`, p.approver && `approved by ${p.approver}${p.approval ? ' (signed approval verified)' : ''}`, p.changeId && `change ${p.changeId}`].filter(Boolean).join(', ')
    : '';
  const flags = [
    !p.verified ? 'UNVERIFIED: changed without passing the tracegate gate' : '',
    p.verified && p.breakGlass ? `BREAK-GLASS: ${p.breakGlass}` : '',
  ].filter(Boolean);
  const text = `${flags.length ? `${flags.join('; ')}. ` : ''}${opts.adopted ? 'Adopted by tracegate: ' : ''}${what}${who ? ` ${who}` : ''}${why ? ` (${why})` : ''} ${opts.adopted ? '(recorded)' : VALUES_NOTE}`;
  return text.length <= MAX_DESCRIPTION_CHARS ? text : `${text.slice(0, MAX_DESCRIPTION_CHARS - 1)}…`;
}

/**
 * Custom release labels carrying the provenance (label values sanitised; keys under the prefix).
 * `recorded-revision` names the revision they were written for: Helm copies a release's custom labels
 * into its next revision, so labels on a revision with another number are Helm's copy, not tracegate's.
 */
export function provenanceLabels(p: RecordedProvenance, prefix: string, revision: number, opts: { unchecked?: boolean } = {}): Record<string, string> {
  const labels: Record<string, string> = {
    [`${prefix}recorded-by`]: 'tracegate',
    [`${prefix}recorded-revision`]: String(revision),
  };
  // A writer without the key (`tracegate rollback` as its user) labels what the stamps claim and leaves
  // the verdict to the recorder's trail entry, which checks the MAC.
  if (!opts.unchecked) labels[`${prefix}verified`] = String(p.verified);
  const put = (name: string, v: string | undefined) => {
    if (v) labels[`${prefix}${name}`] = toLabelValue(v);
  };
  if (p.verified || opts.unchecked) {
    put('tenant', p.tenant);
    put('commit', p.commit);
    put('approver', p.approver);
    put('changed-by', p.changedBy);
    put('field-manager', p.fieldManager);
    put('change-id', p.changeId);
    put('pipeline-run', p.pipelineRun);
    if (p.breakGlass) labels[`${prefix}break-glass`] = 'true';
    // Whether the approver was proved by a signed statement, and which (a label value holds 63
    // characters: the digest's first 32 hex, 128 bits, names it; the trail keeps it whole).
    // Only over stamps whose MAC checked: a writer without the key cannot tell a verified approval from a typed stamp.
    if (!opts.unchecked) {
      labels[`${prefix}approval`] = p.approval ? 'verified' : 'unverified';
      const digest = p.approval ? /sha256:([0-9a-f]{32})/.exec(p.approval)?.[1] : undefined;
      if (digest) labels[`${prefix}approval-sha256`] = digest;
    }
  } else put('tenant', p.tenant);
  return labels;
}

/** Keys of {@link provenanceLabels}: replaced, never merged, when a new revision is recorded. */
export function isProvenanceLabel(key: string, prefix: string): boolean {
  return key.startsWith(prefix);
}

/**
 * True when tracegate wrote this revision's labels for this revision, not Helm copying an earlier
 * revision's (records written before `recorded-revision` existed count as tracegate's).
 */
export function labelsRecordedFor(labels: Readonly<Record<string, string>>, version: number, prefix: string): boolean {
  if (labels[`${prefix}recorded-by`] !== 'tracegate') return false;
  const revision = labels[`${prefix}recorded-revision`];
  return revision === undefined || revision === String(version);
}

/** How long after the time in `break-glass-by` the write that set it may land (clock skew and retries). */
const BREAK_GLASS_WINDOW_MS = 5 * 60_000;

/**
 * A change made past the gate by break-glass (manifests/break-glass.yaml): the object carries
 * `break-glass-by: <user>/<time>` — which the apiserver's ValidatingAdmissionPolicy lets only that user,
 * a member of the break-glass group, set — and its newest write landed within minutes after that time,
 * so the annotation came with this change rather than being left from an earlier one. Undefined
 * otherwise (the change is then simply UNVERIFIED).
 */
export function breakGlassPastGate(obj: KubeObject, prefix: string): { user: string; reason: string; at: string } | undefined {
  const k = tracegateKeys(prefix);
  const a = obj.metadata?.annotations ?? {};
  const by = a[k.breakGlassBy];
  const slash = typeof by === 'string' ? by.lastIndexOf('/') : -1;
  if (!by || slash <= 0) return undefined;
  const at = by.slice(slash + 1);
  const set = Date.parse(at);
  if (Number.isNaN(set)) return undefined;
  // The newest main-resource write must be the one that set the annotation: its manager owns the key
  // (fieldsV1), and it landed within minutes after the annotation's time. Any shape is tolerated.
  const raw: unknown = obj.metadata?.managedFields;
  let newest: { time: number; fields: unknown } | undefined;
  for (const e of Array.isArray(raw) ? (raw as unknown[]) : []) {
    if (!isRecord(e) || e.subresource || typeof e.time !== 'string') continue;
    const time = Date.parse(e.time);
    if (!Number.isNaN(time) && (!newest || time >= newest.time)) newest = { time, fields: e.fieldsV1 };
  }
  if (!newest || !ownsAnnotation(newest.fields, k.breakGlassBy)) return undefined;
  // managedFields times have second precision: the write may show up to a second before the annotation's time.
  if (!(newest.time >= set - 1000 && newest.time - set <= BREAK_GLASS_WINDOW_MS)) return undefined;
  return { user: by.slice(0, slash), reason: a[k.breakGlass] || 'no reason given', at };
}

/** Whether a managedFields `fieldsV1` set holds `metadata.annotations[key]`. */
function ownsAnnotation(fields: unknown, key: string): boolean {
  const meta = isRecord(fields) ? fields['f:metadata'] : undefined;
  const annotations = isRecord(meta) ? meta['f:annotations'] : undefined;
  return isRecord(annotations) && Object.hasOwn(annotations, `f:${key}`);
}
