/**
 * The one workload of a manifest an approval is about: chosen by kind and name when the manifest holds
 * several (a chart renders Services, ConfigMaps and more), with its namespace settled the way kubectl
 * settles it (the document's, else `-n`; both and different is an error). Pure.
 */
import { TracegateError } from '../errors.js';
import type { KubeObject } from '../k8s/types.js';
import { isWorkloadKind } from '../workload/pod-template.js';
import { workloadKindByName } from '../workload/kinds.js';

/** How the user narrowed the choice. */
export interface WorkloadChoice {
  kind?: string | undefined;
  name?: string | undefined;
  namespace?: string | undefined;
}

function label(o: KubeObject): string {
  return `${o.kind}/${o.metadata?.name ?? '?'}`;
}

/**
 * The chosen workload with `metadata.namespace` set. Throws USAGE naming the candidates when none or
 * several match, and when the namespace is unknown or contradicts `-n`.
 */
export function pickWorkload(objects: readonly KubeObject[], choice: WorkloadChoice, source: string): KubeObject {
  const kind = choice.kind === undefined ? undefined : workloadKindByName(choice.kind)?.kind;
  if (choice.kind !== undefined && kind === undefined) throw new TracegateError('USAGE', `--kind ${JSON.stringify(choice.kind)} is not a workload kind`);
  const workloads = objects.filter((o) => isWorkloadKind(o.kind));
  const matches = workloads.filter((o) => (kind === undefined || o.kind === kind) && (choice.name === undefined || o.metadata?.name === choice.name));
  if (matches.length === 0) {
    const have = workloads.length ? `it has ${workloads.map(label).join(', ')}` : 'it has no workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, ReplicationController)';
    throw new TracegateError('USAGE', `${source}: no ${kind ?? 'workload'}${choice.name ? ` named ${choice.name}` : ''} to approve: ${have}`);
  }
  if (matches.length > 1) throw new TracegateError('USAGE', `${source} has ${matches.map(label).join(', ')}: pick one with --kind and --name`);
  const obj = matches[0]!;
  if (typeof obj.metadata?.name !== 'string' || obj.metadata.name === '') throw new TracegateError('USAGE', `${source}: the ${obj.kind} has no metadata.name`);
  const own = obj.metadata.namespace;
  if (own !== undefined && choice.namespace !== undefined && own !== choice.namespace) {
    throw new TracegateError('USAGE', `${source}: the ${label(obj)} is in namespace ${own}, not ${choice.namespace} (-n)`);
  }
  const namespace = own ?? choice.namespace;
  if (namespace === undefined) throw new TracegateError('USAGE', `${source}: the ${label(obj)} names no namespace: pass -n NAMESPACE (the approval binds it)`);
  return { ...obj, metadata: { ...obj.metadata, namespace } };
}
