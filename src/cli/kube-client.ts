/** The kubeconfig every cluster command uses: `--kubeconfig`, else $KUBECONFIG, ~/.kube/config or in-cluster. */
import { resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { CliIo } from './io.js';

export function loadKubeConfig(path: string | undefined, io: CliIo): KubeConfig {
  const kc = new KubeConfig();
  const file = path ?? io.env.KUBECONFIG;
  if (file) kc.loadFromFile(resolve(io.cwd, file));
  else kc.loadFromDefault();
  return kc;
}

/** `ns/name` → parts; a bare name uses the default namespace. */
export function parseWorkloadRef(ref: string, defaultNamespace = 'default'): { namespace: string; name: string } | undefined {
  const m = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?((?:deployment|deploy|deployments)\/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(ref);
  if (!m) return undefined;
  return { namespace: m[1] ?? defaultNamespace, name: m[4]! };
}
