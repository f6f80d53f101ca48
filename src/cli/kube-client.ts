/**
 * What every cluster command shares: the kubeconfig (`--kubeconfig`, else $KUBECONFIG, ~/.kube/config
 * or in-cluster), and workload references as users type them (`team-a/web`, `team-a/statefulset/db`,
 * `sts/db` with `-n`).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { TracegateError } from '../errors.js';
import { quoteBounded } from '../policy/digest.js';
import { loadKubeconfig } from '../kube/load-kubeconfig.js';
import { workloadKindByName, type WorkloadKindInfo } from '../workload/kinds.js';
import type { CliIo } from './io.js';

/** The kubeconfig of a cluster command; problems are one-line KUBE_API errors, never a stack. */
export function loadKubeConfig(path: string | undefined, io: CliIo, context?: string): KubeConfig {
  const kc = loadKubeconfig({ ...(path ? { file: path } : {}), env: io.env, cwd: io.cwd });
  if (context !== undefined) {
    // As kubectl --context: a name the kubeconfig does not have is an error, never the current context.
    if (!kc.getContextObject(context)) throw new TracegateError('USAGE', `--context ${quoteBounded(context)}: the kubeconfig has no such context`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new TracegateError('KUBE_API', 'no cluster to talk to: the kubeconfig has no current context with a cluster (set one, or pass --kubeconfig)');
  return kc;
}

/** A workload as a command names it. */
export interface WorkloadRef {
  namespace: string;
  name: string;
  kind: WorkloadKindInfo;
}

// DNS labels (namespaces), DNS subdomains (object names), and kind names as kubectl accepts them.
const NAMESPACE = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const NAME = '[a-z0-9]([-a-z0-9.]*[a-z0-9])?';
const KIND = '[A-Za-z]+';

/**
 * `ns/name` (a Deployment), `ns/kind/name`, `kind/name` or `name` (in `defaultNamespace`); the kind may
 * be any spelling kubectl accepts (`statefulset`, `statefulsets`, `sts`). In `a/b`, `a` is a kind when
 * it names one, else a namespace — give `ns/kind/name` for a namespace that is called like a kind.
 */
export function parseWorkloadRef(ref: string, defaultNamespace = 'default'): WorkloadRef | undefined {
  const parts = ref.split('/');
  const deployment = workloadKindByName('deployment')!;
  const kindOf = (k: string) => (new RegExp(`^${KIND}$`).test(k) ? workloadKindByName(k) : undefined);
  const isNs = (s: string) => new RegExp(`^${NAMESPACE}$`).test(s);
  const isName = (s: string) => new RegExp(`^${NAME}$`).test(s) && s.length <= 253;
  if (parts.length === 1 && isName(parts[0]!)) return { namespace: defaultNamespace, kind: deployment, name: parts[0]! };
  if (parts.length === 2) {
    const [a, b] = parts as [string, string];
    if (!isName(b)) return undefined;
    const kind = kindOf(a);
    if (kind) return { namespace: defaultNamespace, kind, name: b };
    return isNs(a) ? { namespace: a, kind: deployment, name: b } : undefined;
  }
  if (parts.length === 3) {
    const [ns, k, name] = parts as [string, string, string];
    const kind = kindOf(k);
    return kind && isNs(ns) && isName(name) ? { namespace: ns, kind, name } : undefined;
  }
  return undefined;
}

/** `deployment/web`, as kubectl names it. */
export function formatRef(ref: WorkloadRef): string {
  return `${ref.kind.kind.toLowerCase()} ${ref.namespace}/${ref.name}`;
}
