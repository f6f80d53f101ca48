/**
 * How the gate reaches the API server without @kubernetes/client-node in its process: a base URL and,
 * on every (re)connect, fresh credentials and TLS material (ServiceAccount tokens are rotated by the
 * kubelet). `loadKubeConnection` picks the source as client-node's `loadFromDefault` did: `--kubeconfig`,
 * else $KUBECONFIG, else ~/.kube/config, else the pod's ServiceAccount. Users with a credential plugin or
 * auth provider and clusters behind a proxy load client-node lazily, for those connections only.
 */
import type { Agent } from 'node:http';
import type { RequestOptions } from 'node:https';
import { access } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { TracegateError } from '../errors.js';
import { inClusterConnection, SERVICE_ACCOUNT_DIR } from './in-cluster.js';
import { kubeconfigConnection, type ClientNodeImporter } from './kubeconfig-connection.js';

/** TLS options for `https.request`; `ca` absent means the system roots. */
export type KubeTls = Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'servername'> & { rejectUnauthorized: boolean };

/** What one request needs beyond the URL. */
export interface KubeRequestSettings {
  /** Authorization and impersonation headers (a list for a repeated header). Secret: never log them. */
  headers: Record<string, string | string[]>;
  tls: KubeTls;
  /** Set only by the client-node fallback (it builds proxy agents). */
  agent?: Agent;
}

/** A way to the API server. */
export interface KubeConnection {
  /** The API server's base URL; it may carry a path prefix. Not for logs: a path may hold a secret. */
  readonly server: URL;
  /** Where the settings came from, safe to log (files and the server's origin, no credentials). */
  readonly source: string;
  /** Reads credentials and TLS files anew; throws CONFIG_INVALID naming the file and field that failed. */
  settings(): Promise<KubeRequestSettings>;
}

/** Inputs of {@link loadKubeConnection}; everything that touches the machine is injectable for tests. */
export interface KubeConnectionDeps {
  /** `--kubeconfig`: this file only, as kubectl's flag (relative to `cwd`). */
  kubeconfig?: string;
  /** Reads KUBECONFIG, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. */
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** The home whose `.kube/config` is the default file; unset: no default file. */
  homeDir?: string;
  /** Where a pod's ServiceAccount token and CA are mounted (default {@link SERVICE_ACCOUNT_DIR}). */
  serviceAccountDir?: string;
  /** Loads client-node for the fallback (default: `import('@kubernetes/client-node')`). */
  importClientNode?: ClientNodeImporter;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/**
 * The connection the gate should use. KUBECONFIG may list several files (`:`-separated, `;` on
 * Windows): files that do not exist are skipped and the rest merged as kubectl does (the first file to
 * set the current context or define a name wins). Validates what it can at once (files readable,
 * context complete), so a bad configuration is a startup error naming the file and the field.
 */
export async function loadKubeConnection(deps: KubeConnectionDeps): Promise<KubeConnection> {
  const opts = deps.importClientNode ? { importClientNode: deps.importClientNode } : {};
  if (deps.kubeconfig !== undefined) return kubeconfigConnection([resolve(deps.cwd, deps.kubeconfig)], opts);
  const listed = (deps.env['KUBECONFIG'] ?? '').split(delimiter).filter((f) => f !== '');
  if (listed.length > 0) {
    const files = listed.map((f) => resolve(deps.cwd, f));
    const present: string[] = [];
    for (const f of files) if (await exists(f)) present.push(f);
    if (present.length === 0) throw new TracegateError('CONFIG_INVALID', `none of the files in KUBECONFIG exists: ${files.join(', ')}`, { files });
    return kubeconfigConnection(present, opts);
  }
  if (deps.homeDir !== undefined) {
    const file = join(deps.homeDir, '.kube', 'config');
    if (await exists(file)) return kubeconfigConnection([file], opts);
  }
  const inCluster = await inClusterConnection({ env: deps.env, serviceAccountDir: deps.serviceAccountDir ?? SERVICE_ACCOUNT_DIR });
  if (inCluster !== undefined) return inCluster;
  throw new TracegateError(
    'CONFIG_INVALID',
    'no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod (KUBERNETES_SERVICE_HOST and a ServiceAccount token)',
  );
}
