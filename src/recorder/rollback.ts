/**
 * `tracegate rollback`: restores a recorded revision of a workload the way `helm rollback` does — a new
 * revision "Rollback to N" is written pending, the revision's workload is applied (server-side apply,
 * field manager `tracegate-rollback`, carrying provenance so the gate admits it), then the new revision
 * becomes deployed and the previous one superseded; a failed apply leaves the revision failed.
 */
import { PatchStrategy, setHeaderOptions, type AppsV1Api } from '@kubernetes/client-node';
import { CHANGE_CAUSE } from '../admission/annotations.js';
import { TracegateError } from '../errors.js';
import { isRecord, type KubeObject } from '../k8s/types.js';
import { withRetry, type RetryOptions } from '../kube/retry.js';
import { podTemplateOf } from '../workload/pod-template.js';
import { releaseOf } from './controller.js';
import { findWorkloadDoc, splitManifest } from './manifest.js';
import { isProvenanceLabel, provenanceLabels, readProvenance } from './provenance.js';
import { latest } from './release.js';
import type { ReleaseStorage } from './storage.js';

export const ROLLBACK_FIELD_MANAGER = 'tracegate-rollback';

export interface RollbackRequest {
  namespace: string;
  name: string;
  revision: number;
  /** Approver for the gate's provenance rule; defaults to the target revision's approver. */
  approver?: string;
  /** Commit to record; defaults to the target revision's commit. */
  commit?: string;
  /** Higher runs first when several rollbacks are queued. */
  priority: number;
}

export interface RollbackDeps {
  apps: Pick<AppsV1Api, 'readNamespacedDeployment' | 'patchNamespacedDeployment'>;
  storage: ReleaseStorage;
  prefix: string;
  adoptedName: (obj: KubeObject) => string;
  retry: RetryOptions;
  now?: () => Date;
}

export interface RollbackResult {
  release: string;
  from: number;
  to: number;
  revision: number;
}

/** The workload a revision's manifest holds, with what the apply must carry. Pure. */
export function rollbackObject(manifest: string, kind: string, name: string, namespace: string, extra: { labels: Record<string, string>; annotations: Record<string, string> }): KubeObject {
  const part = findWorkloadDoc(splitManifest(manifest), kind, name);
  if (!part) throw new TracegateError('RELEASE_NOT_FOUND', `the revision's manifest has no ${kind} ${name}`);
  const obj = part.doc.toJS() as KubeObject;
  const metadata = isRecord(obj.metadata) ? obj.metadata : {};
  obj.metadata = {
    ...metadata,
    name,
    namespace,
    labels: { ...(metadata.labels ?? {}), ...extra.labels },
    annotations: { ...(metadata.annotations ?? {}), ...extra.annotations },
  };
  return obj;
}

/** Runs rollbacks one at a time, highest priority first (stable for equal priorities). */
export async function runRollbacks(requests: readonly RollbackRequest[], run: (r: RollbackRequest) => Promise<RollbackResult>): Promise<{ done: RollbackResult[]; failed: { request: RollbackRequest; error: Error }[] }> {
  const order = requests.map((r, i) => ({ r, i })).sort((a, b) => b.r.priority - a.r.priority || a.i - b.i);
  const done: RollbackResult[] = [];
  const failed: { request: RollbackRequest; error: Error }[] = [];
  for (const { r } of order) {
    try {
      done.push(await run(r));
    } catch (err) {
      failed.push({ request: r, error: err as Error });
    }
  }
  return { done, failed };
}

/** Creates the rollback operation. */
export function createRollback(deps: RollbackDeps) {
  const now = deps.now ?? (() => new Date());
  const api = <T>(fn: () => Promise<T>) => withRetry(fn, deps.retry);

  return async function rollback(req: RollbackRequest): Promise<RollbackResult> {
    const live = (await api(() => deps.apps.readNamespacedDeployment({ name: req.name, namespace: req.namespace }))) as unknown as KubeObject;
    live.kind ??= 'Deployment';
    const ref = releaseOf(live, deps.adoptedName);
    const history = await api(() => deps.storage.history(ref.namespace, ref.name));
    const target = history.find((h) => h.release.version === req.revision);
    if (!target) {
      const known = history.map((h) => h.release.version).join(', ') || 'none';
      throw new TracegateError('RELEASE_NOT_FOUND', `release ${ref.namespace}/${ref.name} has no revision ${req.revision} (revisions: ${known})`);
    }
    const current = latest(history.map((h) => h.release))!;
    if (current.info.status?.startsWith('pending-')) {
      throw new TracegateError('KUBE_API', `release ${ref.namespace}/${ref.name} revision ${current.version} is ${current.info.status}: another operation is in progress`);
    }
    const p = deps.prefix;
    const commit = req.commit ?? target.labels[`${p}commit`];
    const approver = req.approver ?? target.labels[`${p}approver`];
    const helmOwned: Record<string, string> = ref.adopted ? {} : { 'meta.helm.sh/release-name': ref.name, 'meta.helm.sh/release-namespace': ref.namespace };
    const body = rollbackObject(target.release.manifest ?? '', 'Deployment', req.name, req.namespace, {
      labels: ref.adopted ? {} : { 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: {
        ...helmOwned,
        ...(commit ? { [`${p}commit`]: commit } : {}),
        ...(approver ? { [`${p}approver`]: approver } : {}),
        [CHANGE_CAUSE]: `Rollback to ${req.revision}`,
      },
    });

    const stamp = now().toISOString();
    const pending = {
      ...target.release,
      name: ref.name,
      namespace: current.namespace ?? ref.namespace,
      version: current.version + 1,
      info: { ...target.release.info, first_deployed: current.info.first_deployed, last_deployed: stamp, status: 'pending-rollback', description: `Rollback to ${req.revision}` },
    };
    // The target's custom labels carry over as Helm's rollback does; its provenance labels do not: they
    // describe the change that made the target, not this rollback.
    const carried = Object.fromEntries(Object.entries(target.labels).filter(([k]) => !isProvenanceLabel(k, p)));
    let labels: Record<string, string> = { ...carried, [`${p}rollback-of`]: String(req.revision) };
    await api(() => deps.storage.create(pending, labels));
    let applied: unknown;
    try {
      applied = await api(() =>
        deps.apps.patchNamespacedDeployment(
          { name: req.name, namespace: req.namespace, body, fieldManager: ROLLBACK_FIELD_MANAGER, force: true },
          setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
        ),
      );
    } catch (err) {
      const message = String((err as { body?: unknown }).body ?? (err as Error).message);
      await api(() => deps.storage.update({ ...pending, info: { ...pending.info, status: 'failed', description: `Rollback "${ref.name}" failed: ${message.slice(0, 300)}` } }, labels));
      throw new TracegateError('KUBE_API', `rollback of ${req.namespace}/${req.name} to revision ${req.revision} was refused: ${message}`, {}, { cause: err });
    }
    // Who rolled back, approved by whom, as the gate stamped it on the applied Deployment (as plain
    // JSON, the form the gate hashed: client-node hands back typed objects with Dates).
    const stamped = { kind: 'Deployment', ...(JSON.parse(JSON.stringify(applied)) as KubeObject) };
    labels = { ...labels, ...provenanceLabels(readProvenance(stamped, podTemplateOf(stamped), p), p), [`${p}rollback-of`]: String(req.revision) };
    for (const h of history.filter((x) => x.release.info.status === 'deployed')) {
      await api(() => deps.storage.update({ ...h.release, info: { ...h.release.info, status: 'superseded' } }, h.labels));
    }
    await api(() => deps.storage.update({ ...pending, info: { ...pending.info, status: 'deployed' } }, labels));
    return { release: `${ref.namespace}/${ref.name}`, from: current.version, to: req.revision, revision: pending.version };
  };
}
