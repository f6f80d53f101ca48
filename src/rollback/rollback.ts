/**
 * `tracegate rollback`: makes a workload exactly what a recorded revision holds and records it the way
 * `helm rollback` does — a new revision "Rollback to N" written pending, the workload replaced (a
 * guarded update, see restore.ts; created again when it was deleted), read back and compared field for
 * field with the revision, then the new revision deployed and the previous one superseded. A refused
 * write or a read-back that differs leaves the revision failed and says which fields differ.
 */
import { CHANGE_CAUSE, tracegateKeys } from '../admission/annotations.js';
import { TracegateError } from '../errors.js';
import { isRecord, type KubeObject } from '../k8s/types.js';
import { statusOf } from '../kube/api-error.js';
import { withRetry, type RetryOptions } from '../kube/retry.js';
import type { MacKeyring } from '../provenance/mac.js';
import { isProvenanceLabel, provenanceLabels, readProvenance } from '../recorder/provenance.js';
import { foreignRelease, releaseOf, type ReleaseRef } from '../recorder/release-ref.js';
import { isPending, latest } from '../recorder/release.js';
import type { ReleaseStorage, StoredRelease } from '../recorder/storage.js';
import { allEntries } from '../recorder/trail.js';
import type { TrailStore } from '../recorder/trail-store.js';
import { findWorkloadDoc } from '../recorder/workload-patch.js';
import { apiVersionOf, type WorkloadKindInfo } from '../workload/kinds.js';
import { stringify } from 'yaml';
import { splitManifest } from '../yaml/manifest-doc.js';
import { restoreBody, templateDiff, type RestoreExtras } from './restore.js';
import { lastGoodRevision, requestedRevision, type Picked } from './select.js';

/** The field manager of every rollback write: `kubectl get -o yaml --show-managed-fields` names it. */
export const ROLLBACK_FIELD_MANAGER = 'tracegate-rollback';
const CONFLICT = 409;
/** A workload someone keeps writing to while we roll back: re-read and redo a few times, then give up loudly. */
const MAX_STALE_WRITES = 3;
/** Helm's history shows the description in one column; an API error can be long. */
const MAX_REASON_CHARS = 300;

/** The workload calls a rollback makes: one interface for every kind. */
export interface WorkloadApi {
  /** The live object; undefined when it does not exist. */
  read(kind: WorkloadKindInfo, namespace: string, name: string): Promise<KubeObject | undefined>;
  /** PUT: replaces the object if its resourceVersion is still the one in `body` (else 409). */
  replace(body: KubeObject, opts: { dryRun: boolean; fieldManager: string }): Promise<KubeObject>;
  create(body: KubeObject, opts: { dryRun: boolean; fieldManager: string }): Promise<KubeObject>;
}

export interface RollbackRequest {
  namespace: string;
  name: string;
  kind: WorkloadKindInfo;
  /** A revision number, or the newest earlier one that is verified and rolled out completely. */
  revision: number | 'last-good';
  /** Approver for the gate's provenance rule; defaults to the target revision's approver. */
  approver?: string;
  /** Commit to record; defaults to the target revision's commit. */
  commit?: string;
  /** Higher runs first when several rollbacks are queued. */
  priority: number;
  /** An outage rollback past the gate: the reason, and the requester's own user name (the apiserver checks it). */
  breakGlass?: { reason: string; user: string };
}

export interface RollbackDeps {
  workloads: WorkloadApi;
  storage: ReleaseStorage;
  trails: Pick<TrailStore, 'all' | 'head'>;
  prefix: string;
  adoptedName: (obj: KubeObject) => string;
  /** The key shared with the gate, to read the rollback's stamps as verified (the CLI has none). */
  keyring?: MacKeyring;
  retry: RetryOptions;
  now?: () => Date;
}

export interface RollbackResult {
  release: string;
  /** The release's newest revision before the rollback. */
  from: number;
  to: number;
  /** The revision the rollback wrote. */
  revision: number;
  passedOver: string[];
}

/** What `--dry-run` shows: the exact object, what would change, and the API server's (and webhooks') verdict. */
export interface RollbackPreview {
  release: string;
  from: number;
  to: number;
  passedOver: string[];
  /** The workload as the rollback would write it (YAML). */
  manifest: string;
  /** Fields of the pod template that would change, live → revision. */
  changes: string[];
  /** undefined: the dry-run write was admitted; else the refusal. */
  refused?: string;
}

/** Everything a rollback of one workload decides before writing. */
interface Located {
  live: KubeObject | undefined;
  ref: ReleaseRef;
  current: StoredRelease['release'];
  picked: Picked;
  target: KubeObject;
  extras: RestoreExtras;
}

function errorText(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // Not a Status: the text itself.
    }
    return body;
  }
  if (isRecord(body) && typeof body.message === 'string') return body.message;
  return (err as Error).message ?? String(err);
}

/** Creates the rollback operations. */
export function createRollback(deps: RollbackDeps) {
  const now = deps.now ?? (() => new Date());
  const api = <T>(fn: () => Promise<T>) => withRetry(fn, deps.retry);
  const p = deps.prefix;
  const keys = tracegateKeys(p);

  async function releaseRefOf(req: RollbackRequest, live: KubeObject | undefined): Promise<ReleaseRef> {
    if (live) return releaseOf(live, deps.adoptedName);
    // A deleted workload: its trail remembers the release its revisions went to.
    const head = await api(() => deps.trails.head({ namespace: req.namespace, kind: req.kind.kind, name: req.name }));
    const rel = head?.spec.release;
    if (!rel) throw new TracegateError('RELEASE_NOT_FOUND', `${req.kind.kind.toLowerCase()} ${req.namespace}/${req.name} does not exist and no release is recorded for it`);
    // Trails written before releases were held to the workload's namespace may name one elsewhere.
    if (rel.namespace !== req.namespace) throw foreignRelease({ kind: req.kind.kind, metadata: { namespace: req.namespace, name: req.name } }, `${rel.namespace}/${rel.name}`);
    return { ...rel, adopted: false };
  }

  async function locate(req: RollbackRequest): Promise<Located> {
    const live = await api(() => deps.workloads.read(req.kind, req.namespace, req.name));
    const ref = await releaseRefOf(req, live);
    const release = `${ref.namespace}/${ref.name}`;
    const history = await api(() => deps.storage.history(ref.namespace, ref.name));
    // A deleted workload's release was adopted when tracegate's adoption chart made it.
    if (!live) ref.adopted = history.some((h) => h.release.chart?.metadata?.annotations?.[`${p}adopted`] === 'true');
    const current = latest(history.map((h) => h.release));
    if (!current) throw new TracegateError('RELEASE_NOT_FOUND', `release ${release} has no revisions`);
    if (isPending(current.info.status)) throw new TracegateError('KUBE_API', `release ${release} revision ${current.version} is ${current.info.status}: another operation is in progress`);
    const picked =
      req.revision === 'last-good'
        ? lastGoodRevision(history, allEntries(await api(() => deps.trails.all({ namespace: req.namespace, kind: req.kind.kind, name: req.name }))), req.kind.kind, req.name)
        : requestedRevision(history, req.revision, release);
    const part = findWorkloadDoc(splitManifest(picked.target.release.manifest ?? ''), req.kind.kind, req.name);
    if (!part) throw new TracegateError('RELEASE_NOT_FOUND', `revision ${picked.target.release.version} of ${release} has no ${req.kind.kind} ${req.name}`);
    const target = { ...(part.doc.toJS() as KubeObject), kind: req.kind.kind, apiVersion: apiVersionOf(req.kind) };
    const version = picked.target.release.version;
    const commit = req.commit ?? picked.target.labels[`${p}commit`];
    const approver = req.approver ?? picked.target.labels[`${p}approver`];
    const extras: RestoreExtras = {
      labels: ref.adopted ? {} : { 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: {
        ...(ref.adopted ? {} : { 'meta.helm.sh/release-name': ref.name, 'meta.helm.sh/release-namespace': ref.namespace }),
        ...(commit ? { [keys.commit]: commit } : {}),
        ...(approver ? { [keys.approver]: approver } : {}),
        // A fresh value per use: the webhooks skip only a request that changes it (manifests/webhooks.yaml).
        ...(req.breakGlass ? { [keys.breakGlass]: req.breakGlass.reason, [keys.breakGlassBy]: `${req.breakGlass.user}/${now().toISOString()}` } : {}),
        [CHANGE_CAUSE]: `Rollback to ${version}`,
      },
    };
    return { live, ref, current, picked, target, extras };
  }

  /** The object to write: the live one made into the revision, or the revision created again. */
  function bodyOf(req: RollbackRequest, l: Pick<Located, 'target' | 'extras'>, live: KubeObject | undefined): KubeObject {
    if (live) return restoreBody({ ...live, kind: req.kind.kind, apiVersion: apiVersionOf(req.kind) }, l.target, p, l.extras);
    const empty: KubeObject = { apiVersion: apiVersionOf(req.kind), kind: req.kind.kind, metadata: { name: req.name, namespace: req.namespace } };
    return restoreBody(empty, l.target, p, l.extras);
  }

  function write(body: KubeObject, exists: boolean, dryRun: boolean): Promise<KubeObject> {
    const opts = { dryRun, fieldManager: ROLLBACK_FIELD_MANAGER };
    return api(() => (exists ? deps.workloads.replace(body, opts) : deps.workloads.create(body, opts)));
  }

  async function preview(req: RollbackRequest): Promise<RollbackPreview> {
    const l = await locate(req);
    const body = bodyOf(req, l, l.live);
    const out: RollbackPreview = {
      release: `${l.ref.namespace}/${l.ref.name}`,
      from: l.current.version,
      to: l.picked.target.release.version,
      passedOver: l.picked.passedOver,
      manifest: stringify(body),
      changes: l.live ? templateDiff(l.live, { ...l.target, kind: req.kind.kind }, p) : ['create the workload'],
    };
    try {
      await write(body, l.live !== undefined, true);
    } catch (err) {
      out.refused = errorText(err);
    }
    return out;
  }

  async function run(req: RollbackRequest): Promise<RollbackResult> {
    const l = await locate(req);
    const { ref, current, picked } = l;
    const version = picked.target.release.version;
    const pending = {
      ...picked.target.release,
      name: ref.name,
      namespace: current.namespace ?? ref.namespace,
      version: current.version + 1,
      info: {
        ...picked.target.release.info,
        first_deployed: current.info.first_deployed,
        last_deployed: now().toISOString(),
        status: 'pending-rollback',
        description: `Rollback to ${version}${req.breakGlass ? ` (BREAK-GLASS by ${req.breakGlass.user}: ${req.breakGlass.reason})` : ''}`,
      },
    };
    // The target's custom labels carry over as Helm's rollback does; its provenance labels do not: they
    // describe the change that made the target, not this rollback.
    const carried = Object.fromEntries(Object.entries(picked.target.labels).filter(([k]) => !isProvenanceLabel(k, p)));
    let labels: Record<string, string> = { ...carried, [`${p}rollback-of`]: String(version) };
    await api(() => deps.storage.create(pending, labels));
    const fail = async (reason: string) => {
      await api(() => deps.storage.update({ ...pending, info: { ...pending.info, status: 'failed', description: `Rollback "${ref.name}" failed: ${reason.slice(0, MAX_REASON_CHARS)}` } }, labels));
    };

    let live = l.live;
    for (let attempt = 1; ; attempt++) {
      try {
        await write(bodyOf(req, l, live), live !== undefined, false);
        break;
      } catch (err) {
        if (statusOf(err) === CONFLICT && attempt < MAX_STALE_WRITES) {
          live = await api(() => deps.workloads.read(req.kind, req.namespace, req.name));
          continue;
        }
        const message = errorText(err);
        await fail(message);
        throw new TracegateError('ROLLBACK_REFUSED', `rollback of ${req.namespace}/${req.name} to revision ${version} was refused: ${message}`, {}, { cause: err });
      }
    }

    // Read back: another mutating webhook or a writer racing us could still leave something else.
    const after = await api(() => deps.workloads.read(req.kind, req.namespace, req.name));
    const differ = after ? templateDiff(l.target, { ...after, kind: req.kind.kind }, p) : ['the workload is gone'];
    if (differ.length) {
      await fail(`live template differs from revision ${version}: ${differ.join(', ')}`);
      throw new TracegateError('ROLLBACK_MISMATCH', `rollback of ${req.namespace}/${req.name} to revision ${version} did not land: the live pod template differs in ${differ.join(', ')}`, { fields: differ });
    }
    // Who rolled back, approved by whom, as the gate stamped it on the object.
    const stamped = { ...after!, kind: req.kind.kind };
    labels = { ...labels, ...provenanceLabels(readProvenance(stamped, p, deps.keyring), p, pending.version, { unchecked: !deps.keyring }), [`${p}rollback-of`]: String(version) };
    const history = await api(() => deps.storage.history(ref.namespace, ref.name));
    for (const h of history.filter((x) => x.release.info.status === 'deployed' && x.release.version !== pending.version)) {
      await api(() => deps.storage.update({ ...h.release, info: { ...h.release.info, status: 'superseded' } }, h.labels));
    }
    await api(() => deps.storage.update({ ...pending, info: { ...pending.info, status: 'deployed' } }, labels));
    return { release: `${ref.namespace}/${ref.name}`, from: current.version, to: version, revision: pending.version, passedOver: picked.passedOver };
  }

  return { run, preview };
}

/** Runs rollbacks `parallel` at a time, highest priority first (stable for equal priorities). */
export async function runRollbacks<R>(
  requests: readonly RollbackRequest[],
  run: (r: RollbackRequest) => Promise<R>,
  parallel = 1,
): Promise<{ done: R[]; failed: { request: RollbackRequest; error: Error }[] }> {
  const order = requests.map((r, i) => ({ r, i })).sort((a, b) => b.r.priority - a.r.priority || a.i - b.i);
  const done: R[] = [];
  const failed: { request: RollbackRequest; error: Error }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < order.length) {
      const { r } = order[next++]!;
      try {
        done.push(await run(r));
      } catch (err) {
        failed.push({ request: r, error: err as Error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, order.length)) }, worker));
  return { done, failed };
}
