/**
 * What "become revision N" means for a live workload, and how to check that it happened. Pure.
 *
 * Server-side apply cannot do it: an apply removes only fields its own manager owned, so a container that
 * `kubectl patch` added (owned by `kubectl-patch`) survives an apply of a revision that lacks it, and
 * `kubectl set image`'s image stays owned by `kubectl-set`. A rollback is therefore a guarded update (PUT
 * with the resourceVersion it read): the apiserver replaces the object, every field the body lacks is
 * gone whoever owned it, and a concurrent writer makes it a 409 to re-read and redo, never a silent merge.
 * The pod template is replaced exactly; the rest of the spec takes the revision's values where the
 * revision sets them and keeps the live ones elsewhere (a chart without `replicas` leaves them to the
 * HorizontalPodAutoscaler, as `helm rollback` does).
 */
import { CHANGE_CAUSE, tracegateKeys } from '../admission/annotations.js';
import { isRecord, type KubeObject, type PodTemplate } from '../k8s/types.js';
import { templateChange } from '../recorder/template-change.js';
import { describeFieldChange } from '../recorder/workload-patch.js';
import { changeViewOf } from '../workload/pod-template.js';
import { workloadKind } from '../workload/kinds.js';

/** Metadata the apiserver or controllers keep on the object; a rollback leaves it as it is. */
const SERVER_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'ownerReferences', 'finalizers', 'generateName'] as const;

/** Annotations controllers write onto the workload itself (the Deployment controller's revision number). */
const CONTROLLER_ANNOTATION_PREFIXES = ['deployment.kubernetes.io/'];

/** What the restored object carries besides the revision: Helm's ownership and the rollback's provenance. */
export interface RestoreExtras {
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

function stringMap(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Every key the gate stamps or reads under `prefix`: a rollback sets its own, never carries a stale one. */
function isTracegateKey(key: string, prefix: string): boolean {
  return key.startsWith(prefix) || key === CHANGE_CAUSE;
}

function templateKeyPath(kind: string): readonly string[] {
  return workloadKind(kind)?.templatePath ?? ['spec', 'template'];
}

/** A copy of `obj` with the value at `path` (keys from the root) replaced by `value`. */
function withAt(obj: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined) return value as Record<string, unknown>;
  const child = isRecord(obj[head]) ? (obj[head] as Record<string, unknown>) : {};
  return { ...obj, [head]: rest.length === 0 ? value : withAt(child, rest, value) };
}

function valueAt(obj: unknown, path: readonly string[]): unknown {
  let node = obj;
  for (const key of path) node = isRecord(node) ? node[key] : undefined;
  return node;
}

/**
 * The body of the guarded update that makes `live` run exactly what `target` (the workload document of
 * the revision's manifest) runs: the revision's pod template verbatim; its other spec fields over the
 * live ones; its labels and annotations over the live ones, minus tracegate's stamps (the gate writes
 * fresh ones) and plus `extras`; the live object's identity and resourceVersion, so a concurrent change
 * makes the write fail instead of being overwritten unseen.
 */
export function restoreBody(live: KubeObject, target: KubeObject, prefix: string, extras: RestoreExtras): KubeObject {
  const kind = String(live.kind);
  const liveMeta = isRecord(live.metadata) ? live.metadata : {};
  const targetMeta = isRecord(target.metadata) ? target.metadata : {};
  const keep = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).filter(([k]) => !isTracegateKey(k, prefix)));
  const liveAnnotations = stringMap(liveMeta.annotations);
  const controllerAnnotations = Object.fromEntries(Object.entries(liveAnnotations).filter(([k]) => CONTROLLER_ANNOTATION_PREFIXES.some((p) => k.startsWith(p))));
  const metadata: Record<string, unknown> = { name: liveMeta.name, namespace: liveMeta.namespace };
  for (const key of SERVER_METADATA) if (liveMeta[key] !== undefined) metadata[key] = liveMeta[key];
  metadata.labels = { ...keep(stringMap(liveMeta.labels)), ...keep(stringMap(targetMeta.labels)), ...extras.labels };
  metadata.annotations = { ...keep(liveAnnotations), ...keep(stringMap(targetMeta.annotations)), ...controllerAnnotations, ...extras.annotations };

  const path = templateKeyPath(kind);
  const targetSpec = isRecord(target.spec) ? target.spec : {};
  let spec: Record<string, unknown> = { ...(isRecord(live.spec) ? live.spec : {}), ...targetSpec };
  // The template path starts at `spec`; Pods have none (a Pod's spec is immutable and never rolled back).
  if (path[0] === 'spec' && path.length > 1) spec = withAt(spec, path.slice(1), valueAt(target, path) ?? {});
  return { apiVersion: live.apiVersion, kind, metadata, spec } as KubeObject;
}

/**
 * The field changes that lead from `from`'s pod template to `to`'s (`remove spec.template.spec.containers[name=sidecar]`),
 * apiserver defaults and tracegate's own template annotations left out; empty when they run the same.
 * After a rollback, `templateDiff(revision, live)` empty means it landed.
 */
export function templateDiff(from: KubeObject, to: KubeObject, prefix: string): string[] {
  const kind = String(to.kind ?? from.kind);
  const view = (obj: KubeObject) => withoutStampAnnotations(changeViewOf({ ...obj, kind }), prefix);
  return templateChange(view(from), view(to)).changes.map((c) => describeFieldChange(kind, c));
}

function withoutStampAnnotations(template: PodTemplate | undefined, prefix: string): PodTemplate | undefined {
  const annotations = template?.metadata?.annotations;
  if (!template || !isRecord(annotations)) return template;
  const keys = Object.values(tracegateKeys(prefix)) as string[];
  const kept = Object.fromEntries(Object.entries(annotations).filter(([k]) => !keys.includes(k)));
  return { ...template, metadata: { ...template.metadata, annotations: kept } };
}
