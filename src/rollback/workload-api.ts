/**
 * The rollback's calls for any workload kind through client-node's generic KubernetesObjectApi (it finds
 * the resource through discovery). Objects come back as plain JSON: client-node hands back typed objects
 * with Dates, while the gate's stamps are computed over the JSON the apiserver stores.
 */
import { KubernetesObjectApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeObject } from '../k8s/types.js';
import { statusOf } from '../kube/api-error.js';
import { apiVersionOf } from '../workload/kinds.js';
import type { WorkloadApi } from './rollback.js';

const NOT_FOUND = 404;

function plain(obj: unknown, kind: string, apiVersion: string): KubeObject {
  return { ...(JSON.parse(JSON.stringify(obj)) as KubeObject), kind, apiVersion };
}

/** The {@link WorkloadApi} of a kubeconfig's cluster, with its user's credentials. */
export function createWorkloadApi(kc: KubeConfig): WorkloadApi {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  return {
    async read(kind, namespace, name) {
      const apiVersion = apiVersionOf(kind);
      try {
        return plain(await objects.read({ apiVersion, kind: kind.kind, metadata: { name, namespace } }), kind.kind, apiVersion);
      } catch (err) {
        if (statusOf(err) === NOT_FOUND) return undefined;
        throw err;
      }
    },
    async replace(body, opts) {
      const out = await objects.replace(body as KubernetesObject, undefined, opts.dryRun ? 'All' : undefined, opts.fieldManager);
      return plain(out, String(body.kind), String(body.apiVersion));
    },
    async create(body, opts) {
      const out = await objects.create(body as KubernetesObject, undefined, opts.dryRun ? 'All' : undefined, opts.fieldManager);
      return plain(out, String(body.kind), String(body.apiVersion));
    },
  };
}
