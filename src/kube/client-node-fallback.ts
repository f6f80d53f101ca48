/**
 * The fallback for what the gate's own kubeconfig support does not do: credential plugins (`exec`),
 * auth providers and proxies (`proxy-url`). @kubernetes/client-node is imported here, lazily and only
 * for such a kubeconfig, because importing it costs the process tens of MB of resident memory.
 */
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeRequestSettings } from './connection.js';
import { readCredentialFile } from './credential-file.js';
import { addImpersonation } from './impersonation.js';
import type { ResolvedKubeconfig } from './kubeconfig.js';

/** Loads client-node's KubeConfig class; injectable so tests can see whether it was loaded. */
export type ClientNodeImporter = () => Promise<{ KubeConfig: new () => KubeConfig }>;

/** The real, lazy import. */
export const importClientNode: ClientNodeImporter = () => import('@kubernetes/client-node');

/** True when only client-node can serve this context (`secure`: the server is https, so credentials apply). */
export function needsClientNode(resolved: ResolvedKubeconfig, secure: boolean): boolean {
  const u = resolved.user.value;
  return resolved.cluster.value.proxyUrl !== undefined || (secure && (u.exec !== undefined || u.authProvider !== undefined));
}

function headerValues(headers: RequestOptions['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (headers === undefined || Array.isArray(headers)) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
    else if (Array.isArray(v)) out[k] = v.map(String);
  }
  return out;
}

/**
 * A settings source backed by client-node's `KubeConfig.applyToHTTPSOptions`, which runs the exec
 * plugin (caching its credential until it expires), asks the auth provider and builds proxy agents.
 * Over plain http no credentials are handed to it, as kubectl sends none there.
 */
export async function clientNodeSettings(
  resolved: ResolvedKubeconfig,
  secure: boolean,
  importer: ClientNodeImporter,
): Promise<() => Promise<KubeRequestSettings>> {
  const { KubeConfig: KubeConfigClass } = await importer();
  const kc = new KubeConfigClass();
  const c = resolved.cluster.value;
  const u = resolved.user.value;
  kc.loadFromClusterAndUser(
    {
      name: resolved.cluster.name,
      server: c.server.replace(/\/$/, ''),
      skipTLSVerify: c.insecureSkipTlsVerify,
      ...(c.certificateAuthorityData !== undefined ? { caData: c.certificateAuthorityData } : c.certificateAuthority !== undefined ? { caFile: c.certificateAuthority } : {}),
      ...(c.tlsServerName !== undefined ? { tlsServerName: c.tlsServerName } : {}),
      ...(c.proxyUrl !== undefined ? { proxyUrl: c.proxyUrl } : {}),
    },
    secure
      ? {
          name: resolved.user.name || 'anonymous',
          ...(u.clientCertificateData !== undefined ? { certData: u.clientCertificateData } : u.clientCertificate !== undefined ? { certFile: u.clientCertificate } : {}),
          ...(u.clientKeyData !== undefined ? { keyData: u.clientKeyData } : u.clientKey !== undefined ? { keyFile: u.clientKey } : {}),
          ...(u.token !== undefined && u.tokenFile === undefined ? { token: u.token } : {}),
          ...(u.username !== undefined ? { username: u.username, password: u.password ?? '' } : {}),
          ...(u.exec !== undefined ? { exec: u.exec } : {}),
          ...(u.authProvider !== undefined ? { authProvider: u.authProvider } : {}),
        }
      : { name: 'anonymous' },
  );
  const tokenWhere = `tokenFile of user ${JSON.stringify(resolved.user.name)} in ${resolved.user.file}`;
  return async () => {
    const opts: RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const headers = headerValues(opts.headers);
    if (typeof opts.auth === 'string') headers['Authorization'] = `Basic ${Buffer.from(opts.auth, 'utf8').toString('base64')}`;
    // client-node reads a token file once; re-read it per connect like everything else (plugins win over it).
    if (secure && u.tokenFile !== undefined && u.exec === undefined && u.authProvider === undefined) {
      headers['Authorization'] = `Bearer ${(await readCredentialFile(u.tokenFile, tokenWhere)).toString('utf8').trim()}`;
    }
    if (secure) addImpersonation(headers, u);
    const settings: KubeRequestSettings = {
      headers,
      tls: {
        rejectUnauthorized: opts.rejectUnauthorized ?? !c.insecureSkipTlsVerify,
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
        ...(opts.key !== undefined ? { key: opts.key } : {}),
        ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
      },
    };
    if (typeof opts.agent === 'object' && opts.agent !== null) settings.agent = opts.agent;
    return settings;
  };
}
