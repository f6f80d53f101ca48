/**
 * The pod's own ServiceAccount, as client-go's InClusterConfig: https://KUBERNETES_SERVICE_HOST:PORT,
 * the mounted CA, and the mounted token read again on every connect, because bound tokens are rotated
 * by the kubelet (hourly) and the old one stops working.
 */
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { TracegateError } from '../errors.js';
import type { KubeConnection, KubeRequestSettings } from './connection.js';
import { readCredentialFile } from './credential-file.js';

/** Where the kubelet mounts the ServiceAccount token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The API server's URL from the Service environment variables (an IPv6 host in brackets); `undefined` when unset or unusable. */
export function inClusterServer(env: Readonly<Record<string, string | undefined>>): URL | undefined {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port) return undefined;
  const url = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return URL.canParse(url) ? new URL(url) : undefined;
}

/**
 * The in-cluster connection, or `undefined` when not in a pod (the Service variables are unset).
 * In a pod a missing token or CA is an error naming the file, as the gate cannot work without them.
 */
export async function inClusterConnection(deps: {
  env: Readonly<Record<string, string | undefined>>;
  serviceAccountDir: string;
}): Promise<KubeConnection | undefined> {
  const host = deps.env['KUBERNETES_SERVICE_HOST'];
  if (!host) return undefined;
  const server = inClusterServer(deps.env);
  if (server === undefined) {
    throw new TracegateError('CONFIG_INVALID', 'KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not, or the two do not make a URL');
  }
  const tokenFile = join(deps.serviceAccountDir, 'token');
  const caFile = join(deps.serviceAccountDir, 'ca.crt');
  const connection: KubeConnection = {
    server,
    source: `in-cluster ServiceAccount (${deps.serviceAccountDir}), ${server.origin}`,
    async settings(): Promise<KubeRequestSettings> {
      const [token, ca] = await Promise.all([
        readCredentialFile(tokenFile, 'in-cluster ServiceAccount token'),
        readCredentialFile(caFile, 'in-cluster ServiceAccount CA'),
      ]);
      const headers: Record<string, string> = {};
      const bearer = token.toString('utf8').trim();
      if (bearer !== '') headers['Authorization'] = `Bearer ${bearer}`;
      return { headers, tls: { ca, rejectUnauthorized: true } };
    },
  };
  await connection.settings();
  return connection;
}
