/**
 * The recorder's decision for one workload, given its live state and its release history. Pure: the
 * controller reads, calls `planRecording`, and writes what the plan says. Comparing the live pod
 * template with the manifest of the release's current revision is what makes recording idempotent —
 * a state already recorded (by tracegate or by Helm itself) plans nothing, however often it is seen.
 */
import type { KubeObject, ManagedFieldsEntry, PodTemplate } from '../k8s/types.js';
import { isRecord } from '../k8s/types.js';
import { podTemplateOf } from '../workload/pod-template.js';
import { describeTemplateChange } from '../workload/template-diff.js';
import { adoptionManifest, findWorkloadDoc, patchWorkload, splitManifest, templateChange, withoutTemplateDefaults } from './manifest.js';
import { describeRevision, isProvenanceLabel, provenanceLabels, readProvenance, type RecordedProvenance } from './provenance.js';
import { deployedOf, isPending, latest, type HelmChart, type HelmRelease } from './release.js';
import type { StoredRelease } from './storage.js';

export type Plan =
  | { action: 'none'; reason: string; repair?: StoredRelease[] }
  | { action: 'wait'; reason: string }
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
  release: { name: string; namespace: string; adopted: boolean };
  history: readonly StoredRelease[];
  prefix: string;
  now: Date;
}

/** The newest managedFields writer of the object: who changed it last, as the apiserver saw it. */
export function lastWriter(obj: KubeObject): string | undefined {
  const entries = (obj.metadata?.managedFields ?? []).filter((e: ManagedFieldsEntry) => !e.subresource);
  let best: ManagedFieldsEntry | undefined;
  for (const e of entries) if (!best || (e.time ?? '') >= (best.time ?? '')) best = e;
  return best?.manager;
}

function templateOfDoc(doc: unknown, kind: string): PodTemplate | undefined {
  return podTemplateOf(isRecord(doc) ? ({ ...doc, kind } as KubeObject) : undefined);
}

/** A chart for an adopted workload: enough for `helm history/get/rollback`, marked as tracegate's. */
export function adoptionChart(obj: KubeObject, manifest: string): HelmChart {
  const name = obj.metadata?.name ?? 'workload';
  const image = podTemplateOf(obj)?.spec?.containers?.[0]?.image;
  const tag = typeof image === 'string' ? /:([\w][\w.-]*)$/.exec(image.split('@')[0]!)?.[1] : undefined;
  return {
    metadata: {
      name,
      version: '0.0.0',
      apiVersion: 'v2',
      description: `${obj.kind} ${obj.metadata?.namespace}/${name}, adopted by tracegate to record changes made outside Helm`,
      type: 'application',
      ...(tag ? { appVersion: tag } : {}),
      annotations: { 'tracegate.io/adopted': 'true' },
    },
    lock: null,
    templates: [{ name: `templates/${String(obj.kind).toLowerCase()}.yaml`, data: Buffer.from(manifest).toString('base64') }],
    values: {},
    schema: null,
    files: [],
  };
}

/** Decides what to record for the workload's current state. */
export function planRecording(input: PlanInput): Plan {
  const { workload, release, history, prefix, now } = input;
  const kind = String(workload.kind);
  const name = workload.metadata?.name ?? '';
  const live = podTemplateOf(workload);
  const newest = latest(history.map((h) => h.release));
  if (newest && isPending(newest.info.status)) {
    return { action: 'wait', reason: `revision ${newest.version} is ${newest.info.status}: Helm is mid-operation` };
  }
  const provenance = readProvenance(workload, live, prefix);
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
        chart: adoptionChart(workload, manifest),
        manifest,
        version: 1,
        namespace: release.namespace,
      },
      labels: provenanceLabels(provenance, prefix),
      supersede: [],
      provenance,
      changes,
      skipped: [],
    };
  }

  const baseStored = history.find((h) => h.release.version === base.version)!;
  const part = findWorkloadDoc(splitManifest(base.manifest ?? ''), kind, name);
  if (!part) return { action: 'none', reason: `release ${release.namespace}/${release.name} revision ${base.version} has no ${kind} ${name}` };
  const recorded = templateOfDoc(part.doc.toJS(), kind);
  const change = templateChange(recorded, live);
  const extraDeployed = deployed.filter((h) => h.release.version !== base.version);
  if (change.changes.length === 0) {
    return { action: 'none', reason: `revision ${base.version} already matches the live ${kind}`, ...(extraDeployed.length ? { repair: extraDeployed } : {}) };
  }
  const patched = patchWorkload(base.manifest ?? '', kind, name, change);
  const changes = describeTemplateChange(withoutTemplateDefaults(recorded) as PodTemplate, withoutTemplateDefaults(live) as PodTemplate);
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
    labels: { ...customLabels, ...provenanceLabels(provenance, prefix) },
    supersede: deployed,
    provenance,
    changes,
    skipped: patched.skipped,
  };
}
