/**
 * The provenance the gate stamped on a workload, read back by the recorder, and how it appears in a
 * Helm release: the revision's description (`helm history` DESCRIPTION) and custom release labels.
 */
import { CHANGE_CAUSE, tracegateKeys } from '../admission/annotations.js';
import { changeIdMatches, parseChangeId } from '../admission/change-id.js';
import type { KubeObject, PodTemplate } from '../k8s/types.js';
import { toLabelValue } from './codec.js';

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
  /** True when the gate's change id was issued for exactly this pod template. */
  verified: boolean;
}

/** Reads the gate's annotations from a live workload. */
export function readProvenance(obj: KubeObject, template: PodTemplate | undefined, prefix: string): RecordedProvenance {
  const k = tracegateKeys(prefix);
  const a = obj.metadata?.annotations ?? {};
  const get = (key: string) => (typeof a[key] === 'string' && a[key] !== '' ? a[key] : undefined);
  const out: RecordedProvenance = { verified: changeIdMatches(a[k.changeId], template) };
  const set = <K extends keyof RecordedProvenance>(key: K, v: RecordedProvenance[K] | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  // The gate stamps the commit new with this change ('' when none): older commits on the object belong to earlier changes.
  const stamped = typeof a[k.changeCommit] === 'string';
  const commit = stamped ? get(k.changeCommit) : get(k.commit);
  const changeId = parseChangeId(a[k.changeId])?.id;
  set('tenant', get(k.tenant));
  set('commit', commit);
  if (!stamped || commit) set('approver', get(k.approver));
  set('pipelineRun', get(k.pipelineRun));
  set('changedBy', get(k.changedBy));
  set('fieldManager', get(k.fieldManager));
  set('changeId', changeId);
  // Break-glass counts only for the change it waived provenance for, not every later one.
  const bg = get(k.breakGlassChange);
  const space = bg?.indexOf(' ') ?? -1;
  if (bg && changeId && space > 0 && bg.slice(0, space) === changeId) set('breakGlass', bg.slice(space + 1));
  set('changeCause', get(CHANGE_CAUSE));
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
    ? [p.commit && `commit ${p.commit}`, p.approver && `approved by ${p.approver}`, p.changeId && `change ${p.changeId}`].filter(Boolean).join(', ')
    : '';
  const flags = [
    !p.verified ? 'UNVERIFIED: changed without passing the tracegate gate' : '',
    p.verified && p.breakGlass ? `BREAK-GLASS: ${p.breakGlass}` : '',
  ].filter(Boolean);
  const text = `${flags.length ? `${flags.join('; ')}. ` : ''}${opts.adopted ? 'Adopted by tracegate: ' : ''}${what}${who ? ` ${who}` : ''}${why ? ` (${why})` : ''} ${opts.adopted ? '(recorded)' : VALUES_NOTE}`;
  return text.length <= MAX_DESCRIPTION_CHARS ? text : `${text.slice(0, MAX_DESCRIPTION_CHARS - 1)}…`;
}

/** Custom release labels carrying the provenance (label values sanitised; keys under the prefix). */
export function provenanceLabels(p: RecordedProvenance, prefix: string): Record<string, string> {
  const labels: Record<string, string> = { [`${prefix}recorded-by`]: 'tracegate', [`${prefix}verified`]: String(p.verified) };
  const put = (name: string, v: string | undefined) => {
    if (v) labels[`${prefix}${name}`] = toLabelValue(v);
  };
  if (p.verified) {
    put('tenant', p.tenant);
    put('commit', p.commit);
    put('approver', p.approver);
    put('changed-by', p.changedBy);
    put('field-manager', p.fieldManager);
    put('change-id', p.changeId);
    put('pipeline-run', p.pipelineRun);
    if (p.breakGlass) labels[`${prefix}break-glass`] = 'true';
  } else put('tenant', p.tenant);
  return labels;
}

/** Keys of {@link provenanceLabels}: replaced, never merged, when a new revision is recorded. */
export function isProvenanceLabel(key: string, prefix: string): boolean {
  return key.startsWith(prefix);
}
