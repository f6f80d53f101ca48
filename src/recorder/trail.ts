/**
 * The change trail: tracegate's own durable, compact record of every change to one workload — who,
 * what, when, commit, approver, verdict, change id, images — kept in a `ChangeTrail` object
 * (tracegate.io/v1alpha1) in the workload's namespace. Helm's records are pruned by `--history-max`
 * (Helm's own upgrades prune them too) and deleted by `helm uninstall`; the trail is not, so a
 * compliance reviewer can still see last quarter's changes, a deleted workload's whole history, and the
 * changes of workloads another owner (Argo CD, Flux) manages, which are never adopted into Helm.
 * Only the recorder may write trails (RBAC): a tenant who can edit Helm's release Secrets in their own
 * namespace cannot rewrite this record. Pure.
 */
import { createHash } from 'node:crypto';
import { CONTAINER_LISTS, isRecord, type PodTemplate } from '../k8s/types.js';

export const TRAIL_GROUP = 'tracegate.io';
export const TRAIL_VERSION = 'v1alpha1';
export const TRAIL_KIND = 'ChangeTrail';
export const TRAIL_PLURAL = 'changetrails';

/**
 * Entries one trail object holds before its entries move to an archive object. An entry is ~0.5 KB of
 * JSON (1.5 KB at most with a recorded approval), so an object stays near 250 KB (750 KB at worst) —
 * below etcd's 1.5 MiB request limit, and one read of a workload's recent history stays cheap.
 */
export const MAX_ENTRIES_PER_OBJECT = 500;
/** Kubernetes object names are DNS subdomains of at most 253 characters. */
const MAX_NAME = 253;
/** Hex characters of the sha256 used to shorten names and to key a workload's trail objects in a label. */
const KEY_CHARS = 20;

/** What an entry records: a state of the pod template, or the workload's deletion. */
export type TrailEvent = 'change' | 'delete';

/** How far the entry's attribution can be trusted. */
export type Verdict = 'verified' | 'unverified' | 'break-glass';

/** One recorded change. Optional fields are absent when unknown; nothing here is a Secret or env value. */
export interface TrailEntry {
  seq: number;
  /** When the recorder recorded it (RFC 3339). */
  time: string;
  event: TrailEvent;
  /** The workload object's uid: a workload deleted and created again under its name is a new object. */
  uid: string;
  /** The pod template's hash (change entries). */
  template?: string;
  /** The Helm release revision that holds this state (or that the deletion marked), when there is one. */
  revision?: number;
  /** Who wrote that revision: Helm itself, or tracegate recording a change made outside Helm. */
  revisionBy?: 'helm' | 'tracegate';
  verdict: Verdict;
  /** The namespace's tenant when the change was made. */
  tenant?: string;
  user?: string;
  /** The field manager (kubectl-set, helm, …), or the last writer per managedFields when unverified. */
  tool?: string;
  commit?: string;
  approver?: string;
  pipelineRun?: string;
  changeId?: string;
  /** The break-glass reason of a break-glass change. */
  reason?: string;
  /**
   * The signed statements the gate verified for this change's commit and approver (`approval sha256:…`,
   * `ci-token sha256:…`, the digests of the tokens): absent when the approver is only as typed.
   */
  approval?: string;
  /** The verified approval's test-results link. */
  testResults?: string;
  /** The verified approval (compact JWS, at most 1 KB), for re-verification offline; never a CI token. */
  approvalToken?: string;
  /** `container=image` after the change (containers and init containers). */
  images?: string[];
  /** What changed, in words (`image web: a → b`). */
  changes?: string[];
  /** The first entry of this object: created, or already there when tracegate first saw it. */
  first?: boolean;
  /** How the rollout of this state ended, as `kubectl rollout status` judges it; absent while it runs. */
  rollout?: 'complete' | 'failed';
}

/** The trail object's spec. */
export interface TrailSpec {
  workload: { apiVersion: string; kind: string; name: string };
  /** Who else manages the workload (Argo CD, Flux, a controller), when not tracegate/Helm. */
  owner?: string;
  /** The Helm release the recorder writes this workload's revisions into. */
  release?: { name: string; namespace: string };
  /** Names of archive objects holding older entries, oldest first (head only). */
  archives?: string[];
  /** An archive: full and never written again. */
  sealed?: boolean;
  entries: TrailEntry[];
}

/** A trail object as read and written. */
export interface TrailObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string };
  spec: TrailSpec;
}

/** The workload a trail belongs to. */
export interface TrailRef {
  namespace: string;
  kind: string;
  name: string;
}

/** Label values identify a workload's trail objects; the names may have been shortened. */
export function trailKey(ref: TrailRef): string {
  return createHash('sha256').update(`${ref.namespace}/${ref.kind}/${ref.name}`).digest('hex').slice(0, KEY_CHARS);
}

function shortened(prefix: string, name: string, ref: TrailRef): string {
  const full = `${prefix}.${name}`;
  return full.length <= MAX_NAME ? full : `${full.slice(0, MAX_NAME - KEY_CHARS - 1)}.${trailKey(ref)}`;
}

/** `deployment.web`: the head object of a workload's trail. */
export function trailName(ref: TrailRef): string {
  return shortened(ref.kind.toLowerCase(), ref.name, ref);
}

/**
 * `deployment-archive.<key>.<n>`: an archive never collides with a head, whose name always starts with
 * a kind and a dot.
 */
export function archiveName(ref: TrailRef, index: number): string {
  return `${ref.kind.toLowerCase()}-archive.${trailKey(ref)}.${index}`;
}

/** Labels every trail object of a workload carries; `trailKey` selects them all. */
export function trailLabels(ref: TrailRef, prefix: string, tenant?: string): Record<string, string> {
  const labels: Record<string, string> = { [`${prefix}trail-key`]: trailKey(ref), [`${prefix}workload-kind`]: ref.kind };
  // Label values are ≤ 63 characters of a restricted alphabet; a longer name is found through the key.
  if (/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(ref.name)) labels[`${prefix}workload-name`] = ref.name;
  if (tenant && /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(tenant)) labels[`${prefix}tenant`] = tenant;
  return labels;
}

/** `container=image` for every container and init container of a template, in order. */
export function imagesOf(template: PodTemplate | undefined): string[] {
  const out: string[] = [];
  const spec = template?.spec;
  if (!isRecord(spec)) return out;
  for (const list of CONTAINER_LISTS) {
    if (list === 'ephemeralContainers') continue;
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    for (const c of containers) if (isRecord(c) && typeof c.image === 'string') out.push(`${String(c.name ?? '?')}=${c.image}`);
  }
  return out;
}

/** The newest entry about object `uid`, if any. */
export function lastEntryOf(entries: readonly TrailEntry[], uid: string): TrailEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.uid === uid) return entries[i];
  return undefined;
}

/** The entry to append for `draft`, or undefined when the trail already says it (recording is idempotent). */
export function nextEntry(head: TrailSpec | undefined, draft: Omit<TrailEntry, 'seq' | 'first'>): TrailEntry | undefined {
  const entries = head?.entries ?? [];
  const last = lastEntryOf(entries, draft.uid);
  if (last && last.event === draft.event && (draft.event === 'delete' || last.template === draft.template)) {
    // The same state seen again; a Helm revision learnt since (recorded after a crash) is not worth a row.
    return undefined;
  }
  const seq = (entries.length ? entries[entries.length - 1]!.seq : (head?.archives?.length ?? 0) * MAX_ENTRIES_PER_OBJECT) + 1;
  return { seq, ...draft, ...(last === undefined && draft.event === 'change' ? { first: true } : {}) };
}

/** The outcome of appending: the new head, and the archive to create first when the head was full. */
export interface Appended {
  head: TrailObject;
  archive?: TrailObject;
}

/** Appends `entry` to the head (creating it when absent), moving a full head's entries to an archive. */
export function appendEntry(
  existing: TrailObject | undefined,
  entry: TrailEntry,
  opts: { ref: TrailRef; apiVersion: string; prefix: string; tenant?: string; owner?: string; release?: { name: string; namespace: string } },
): Appended {
  const { ref } = opts;
  const labels = trailLabels(ref, opts.prefix, opts.tenant);
  const base: TrailSpec = existing?.spec ?? { workload: { apiVersion: opts.apiVersion, kind: ref.kind, name: ref.name }, entries: [] };
  const spec: TrailSpec = { ...base, entries: [...base.entries, entry] };
  if (opts.owner) spec.owner = opts.owner;
  else delete spec.owner;
  if (opts.release) spec.release = opts.release;
  const head: TrailObject = {
    apiVersion: `${TRAIL_GROUP}/${TRAIL_VERSION}`,
    kind: TRAIL_KIND,
    metadata: { name: trailName(ref), namespace: ref.namespace, labels: { ...existing?.metadata.labels, ...labels }, ...(existing?.metadata.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}) },
    spec,
  };
  if (base.entries.length < MAX_ENTRIES_PER_OBJECT) return { head };
  const index = (base.archives?.length ?? 0) + 1;
  const name = archiveName(ref, index);
  const archive: TrailObject = {
    apiVersion: head.apiVersion,
    kind: TRAIL_KIND,
    metadata: { name, namespace: ref.namespace, labels },
    spec: { workload: base.workload, ...(base.release ? { release: base.release } : {}), sealed: true, entries: base.entries },
  };
  head.spec = { ...spec, archives: [...(base.archives ?? []), name], entries: [entry] };
  return { head, archive };
}

/**
 * The head with the rollout outcome set on the newest entry for this object and template, or undefined
 * when there is nothing to set (no such entry, a newer template since, or the outcome already set).
 */
export function withRollout(head: TrailObject | undefined, uid: string, template: string, rollout: 'complete' | 'failed'): TrailObject | undefined {
  if (!head) return undefined;
  const entries = head.spec.entries;
  const last = lastEntryOf(entries, uid);
  if (!last || last.event !== 'change' || last.template !== template || last.rollout !== undefined) return undefined;
  return { ...head, spec: { ...head.spec, entries: entries.map((e) => (e === last ? { ...e, rollout } : e)) } };
}

/** Every entry of a workload's trail objects (head and archives), in order. */
export function allEntries(objects: readonly TrailObject[]): TrailEntry[] {
  return objects.flatMap((o) => o.spec.entries ?? []).sort((a, b) => a.seq - b.seq);
}

/** What changed between two `container=image` lists, in words (for trail-only workloads). */
export function describeImageChanges(before: readonly string[] | undefined, after: readonly string[]): string[] {
  if (before === undefined) return after.length ? [`images ${after.join(', ')}`] : [];
  const split = (entries: readonly string[]) => new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const old = split(before);
  const now = split(after);
  const out: string[] = [];
  for (const [name, image] of now) {
    const was = old.get(name);
    if (was === undefined) out.push(`container ${name} added (${image})`);
    else if (was !== image) out.push(`image ${name}: ${was} → ${image}`);
  }
  for (const name of old.keys()) if (!now.has(name)) out.push(`container ${name} removed`);
  return out.length ? out : ['pod template changed'];
}
