/**
 * The recorder's decision for one workload, given its live state and its release history. Pure: the
 * controller reads, calls `planRecording`, and writes what the plan says. Comparing the live pod
 * template with the manifest of the release's current revision is what makes recording idempotent —
 * a state already recorded (by tracegate or by Helm itself) plans nothing, however often it is seen.
 */
import type { KubeObject, ManagedFieldsEntry, PodTemplate } from '../k8s/types.js';
import { isRecord } from '../k8s/types.js';
import { changeViewOf } from '../workload/pod-template.js';
import { describeTemplateChange } from '../workload/template-diff.js';
import { withoutTemplateDefaults } from '../workload/defaults.js';
import { splitManifest } from '../yaml/manifest-doc.js';
import { adoptionChart, adoptionManifest } from './adoption.js';
import { templateChange } from './template-change.js';
import { describeFieldChange, findWorkloadDoc, patchWorkload } from './workload-patch.js';
import { describeRevision, isProvenanceLabel, labelsRecordedFor, provenanceLabels, type RecordedProvenance } from './provenance.js';
import { deployedOf, isPending, latest, type HelmRelease } from './release.js';
import type { StoredRelease } from './storage.js';

/** The stored revision a live state already matches, and who wrote it. */
export interface MatchedRevision {
  version: number;
  by: 'helm' | 'tracegate';
}

export type Plan =
  | { action: 'none'; reason: string; repair?: StoredRelease[]; matched?: MatchedRevision }
  | { action: 'wait'; reason: string }
  /** Helm's rollback (its revision `revision`, "Rollback to `rollbackTo`") left a template no revision held: make it exactly the revision's. */
  | { action: 'restore'; reason: string; revision: number; rollbackTo: number; target: KubeObject; changes: string[] }
  | {
      action: 'record';
      release: HelmRelease;
      labels: Record<string, string>;
      /** Revisions to rewrite as superseded (every other `deployed` one). */
      supersede: StoredRelease[];
      provenance: RecordedProvenance;
      changes: string[];
      /** Template changes that could not be placed into the manifest (reported, not fatal). */
      skipped: string[];
    };

export interface PlanInput {
  workload: KubeObject;
  /** The gate's stamps on the workload, read (and their MAC checked) by the caller. */
  provenance: RecordedProvenance;
  release: { name: string; namespace: string; adopted: boolean };
  history: readonly StoredRelease[];
  prefix: string;
  now: Date;
  /** Finish Helm rollbacks that did not land exactly (the recorder can write workloads). */
  restoreRollbacks?: boolean;
}

/** Helm's own description of a rollback revision (`pkg/action/rollback.go`). */
const HELM_ROLLBACK = /^Rollback to (\d+)$/;

/** The newest managedFields writer of the object: who changed it last, as the apiserver saw it. */
export function lastWriter(obj: KubeObject): string | undefined {
  // Clients write managedFields too: tolerate any shape (a real apiserver resets invalid ones).
  const raw: unknown = obj.metadata?.managedFields;
  if (!Array.isArray(raw)) return undefined;
  let best: ManagedFieldsEntry | undefined;
  for (const e of raw as unknown[]) {
    if (!isRecord(e) || e.subresource || typeof e.manager !== 'string') continue;
    const entry = e as ManagedFieldsEntry;
    if (!best || String(entry.time ?? '') >= String(best.time ?? '')) best = entry;
  }
  return best?.manager;
}

/**
 * Whether the live template is still the one Helm's rollback revision superseded (the newest earlier
 * revision that did not fail): then nobody changed the template since, and Helm's rollback changed
 * none of it — its apply kept fields other managers own and left the template as it was (the gate's
 * stamps still name the write before the rollback, so "who wrote last" cannot tell).
 */
function untouchedSince(history: readonly StoredRelease[], version: number, kind: string, name: string, live: PodTemplate | undefined): boolean {
  const before = latest(history.map((h) => h.release).filter((r) => r.version < version && r.info.status !== 'failed'));
  const doc = before && findWorkloadDoc(splitManifest(before.manifest ?? ''), kind, name);
  return doc !== undefined && templateChange(templateOfDoc(doc.doc.toJS(), kind), live).changes.length === 0;
}

function templateOfDoc(doc: unknown, kind: string): PodTemplate | undefined {
  return changeViewOf(isRecord(doc) ? ({ ...doc, kind } as KubeObject) : undefined);
}

/** Decides what to record for the workload's current state. */
export function planRecording(input: PlanInput): Plan {
  const { workload, release, history, prefix, now } = input;
  const kind = String(workload.kind);
  const name = workload.metadata?.name ?? '';
  // What runs, without what the apiserver generates after admission (a Job's selector labels).
  const live = changeViewOf(workload);
  const newest = latest(history.map((h) => h.release));
  if (newest && isPending(newest.info.status)) {
    return { action: 'wait', reason: `revision ${newest.version} is ${newest.info.status}: Helm is mid-operation` };
  }
  const { provenance } = input;
  const writer = lastWriter(workload);
  const timestamp = now.toISOString();
  // Without a deployed revision (Helm leaves none after a failed rollback or upgrade), compare with the
  // newest revision that did not fail: a failed one's manifest may never have been applied, and
  // appending to it would record again a change that was recorded already.
  const releases = history.map((h) => h.release);
  const base = deployedOf(releases) ?? latest(releases.filter((r) => r.info.status !== 'failed')) ?? newest;
  const deployed = history.filter((h) => h.release.info.status === 'deployed');

  if (!base) {
    if (!release.adopted) return { action: 'none', reason: `no records of release ${release.namespace}/${release.name}: nothing to append to` };
    const manifest = adoptionManifest(workload, { chart: release.name, annotationPrefix: prefix });
    const changes = describeTemplateChange(undefined, withoutTemplateDefaults(live) as PodTemplate);
    return {
      action: 'record',
      release: {
        name: release.name,
        info: { first_deployed: timestamp, last_deployed: timestamp, description: describeRevision(provenance, changes, { adopted: true, ...(writer ? { lastWriter: writer } : {}) }), status: 'deployed' },
        chart: adoptionChart(workload, manifest, `${prefix}adopted`),
        manifest,
        version: 1,
        namespace: release.namespace,
      },
      labels: provenanceLabels(provenance, prefix, 1),
      supersede: [],
      provenance,
      changes,
      skipped: [],
    };
  }

  const baseStored = history.find((h) => h.release.version === base.version)!;
  const part = findWorkloadDoc(splitManifest(base.manifest ?? ''), kind, name, workload.metadata?.namespace ?? release.namespace);
  if (!part) return { action: 'none', reason: `release ${release.namespace}/${release.name} revision ${base.version} has no ${kind} ${name}` };
  const recorded = templateOfDoc(part.doc.toJS(), kind);
  const change = templateChange(recorded, live);
  const extraDeployed = deployed.filter((h) => h.release.version !== base.version);
  // A workload created again after its deletion (the release shows it uninstalled) is a revision of its
  // own even when it runs what it ran before.
  const recreated = base.info.status === 'uninstalled';
  if (change.changes.length === 0 && !recreated) {
    const matched: MatchedRevision = { version: base.version, by: labelsRecordedFor(baseStored.labels, base.version, prefix) ? 'tracegate' : 'helm' };
    return { action: 'none', reason: `revision ${base.version} already matches the live ${kind}`, matched, ...(extraDeployed.length ? { repair: extraDeployed } : {}) };
  }
  // Helm rolled back (its own revision, its own write) yet the template is not the revision's: finish it.
  // Whose write it was: the gate's verified stamp names the request's field manager exactly; without one,
  // managedFields' newest writer (second-precision times, so a guess when two writes share a second).
  const rollbackTo = HELM_ROLLBACK.exec(base.info.description ?? '')?.[1];
  const helmRollback = base.info.status === 'deployed' && rollbackTo !== undefined && !labelsRecordedFor(baseStored.labels, base.version, prefix);
  const helmWrote = provenance.verified ? provenance.fieldManager === 'helm' : writer === 'helm';
  if (input.restoreRollbacks && helmRollback && (helmWrote || untouchedSince(history, base.version, kind, name, live)) && !recreated) {
    const fields = change.changes.map((c) => describeFieldChange(kind, c));
    return {
      action: 'restore',
      reason: `helm's ${base.info.description} (revision ${base.version}) left ${fields.join(', ')}`,
      revision: base.version,
      target: { ...(part.doc.toJS() as KubeObject), kind },
      rollbackTo: Number(rollbackTo),
      changes: fields,
    };
  }
  const patched = patchWorkload(base.manifest ?? '', kind, name, change);
  const described = describeTemplateChange(withoutTemplateDefaults(recorded) as PodTemplate, withoutTemplateDefaults(live) as PodTemplate);
  const changes = recreated ? [`${kind} created again`, ...described] : described;
  const customLabels = Object.fromEntries(Object.entries(baseStored.labels).filter(([k]) => !isProvenanceLabel(k, prefix)));
  return {
    action: 'record',
    release: {
      ...base,
      name: release.name,
      namespace: base.namespace ?? release.namespace,
      version: (newest?.version ?? 0) + 1,
      info: {
        ...base.info,
        last_deployed: timestamp,
        description: describeRevision(provenance, changes, writer ? { lastWriter: writer } : {}),
        status: 'deployed',
      },
      manifest: patched.manifest,
    },
    labels: { ...customLabels, ...provenanceLabels(provenance, prefix, (newest?.version ?? 0) + 1) },
    supersede: deployed,
    provenance,
    changes,
    skipped: patched.skipped,
  };
}
