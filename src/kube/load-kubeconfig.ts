/**
 * Loading a kubeconfig into client-node the way kubectl does: `--kubeconfig FILE`, else every file of
 * $KUBECONFIG (path-list; missing files skipped; on conflicts the first file to set a value wins, as
 * kubectl's loading rules say), else ~/.kube/config, else the pod's ServiceAccount. client-node's own
 * loadFromDefault fails on a missing file and on a name two files both define. What else kubectl does
 * and client-node does not (tokenFile, plain http, impersonation, …) is in kubectl-compat.ts.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { TracegateError } from '../errors.js';
import { applyKubectlRules, loadInCluster, loadKubeconfigFile, SERVICE_ACCOUNT_DIR } from './kubectl-compat.js';

/** Where to look: an explicit file, the environment, the working directory (for relative paths). */
export interface KubeconfigSource {
  file?: string;
  env: Record<string, string | undefined>;
  cwd: string;
  /** The home directory (default: the OS's); tests point it at an empty directory. */
  home?: string;
  /** Where a pod's ServiceAccount token and CA are mounted (default: the kubelet's path); for tests. */
  serviceAccountDir?: string;
}

function firstWins<T extends { name: string }>(lists: readonly (readonly T[])[]): T[] {
  const seen = new Map<string, T>();
  for (const list of lists) for (const item of list) if (!seen.has(item.name)) seen.set(item.name, item);
  return [...seen.values()];
}

function loadFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    loadKubeconfigFile(kc, file);
  } catch (err) {
    throw new TracegateError('KUBE_API', `cannot load the kubeconfig ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  return kc;
}

/** Loads the kubeconfig (see the module comment); problems are one-line KUBE_API errors. */
export function loadKubeconfig(source: KubeconfigSource): KubeConfig {
  const kc = select(source);
  applyKubectlRules(kc);
  return kc;
}

function select(source: KubeconfigSource): KubeConfig {
  if (source.file) return loadFile(resolve(source.cwd, source.file));
  const listed = (source.env.KUBECONFIG ?? '').split(delimiter).filter(Boolean).map((f) => resolve(source.cwd, f));
  if (listed.length) {
    const files = listed.filter((f) => existsSync(f));
    if (files.length === 0) throw new TracegateError('KUBE_API', `none of the kubeconfig files in $KUBECONFIG exists: ${listed.join(delimiter)}`);
    const configs = files.map(loadFile);
    if (configs.length === 1) return configs[0]!;
    const merged = new KubeConfig();
    merged.loadFromOptions({
      clusters: firstWins(configs.map((c) => c.clusters)),
      users: firstWins(configs.map((c) => c.users)),
      contexts: firstWins(configs.map((c) => c.contexts)),
      currentContext: configs.find((c) => c.currentContext)?.currentContext ?? '',
    });
    return merged;
  }
  const home = join(source.home ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return loadFile(home);
  const kc = new KubeConfig();
  if (!loadInCluster(kc, source.env, source.serviceAccountDir ?? SERVICE_ACCOUNT_DIR)) {
    throw new TracegateError('KUBE_API', `no kubeconfig found (--kubeconfig, $KUBECONFIG, ${home}) and not running in a pod (KUBERNETES_SERVICE_HOST and _PORT unset)`);
  }
  return kc;
}
