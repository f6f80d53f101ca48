/**
 * A connection from kubeconfig files: read, parse, merge, resolve the current context, then build the
 * request settings natively (server, CA, TLS server name, insecure mode; token, token file, client
 * certificate, basic auth, impersonation), or through the lazy client-node fallback for exec plugins,
 * auth providers and proxies. Files named in the kubeconfig are read again on every connect, so
 * rotated tokens and certificates are picked up.
 */
import { TracegateError } from '../errors.js';
import { clientNodeSettings, importClientNode, needsClientNode, type ClientNodeImporter } from './client-node-fallback.js';
import type { KubeConnection, KubeRequestSettings, KubeTls } from './connection.js';
import { readCredentialFile } from './credential-file.js';
import { addImpersonation } from './impersonation.js';
import { mergeKubeconfigs, parseKubeconfig, resolveCurrentContext, type Kubeconfig, type ResolvedKubeconfig } from './kubeconfig.js';

export type { ClientNodeImporter } from './client-node-fallback.js';

/** Bytes of an inline `*-data` field, or of the file the path field names; `undefined` when neither is set. */
async function dataOrFile(data: string | undefined, file: string | undefined, what: string): Promise<Buffer | undefined> {
  // client-go's rule: inline data wins over the file.
  if (data !== undefined) return Buffer.from(data, 'base64');
  return file === undefined ? undefined : readCredentialFile(file, what);
}

/** Settings from the resolved context without client-node. Over plain http no credentials are sent, as kubectl does. */
async function nativeSettings(r: ResolvedKubeconfig, secure: boolean): Promise<KubeRequestSettings> {
  const c = r.cluster.value;
  const u = r.user.value;
  const inCluster = (field: string) => `${field} of cluster ${JSON.stringify(r.cluster.name)} in ${r.cluster.file}`;
  const inUser = (field: string) => `${field} of user ${JSON.stringify(r.user.name)} in ${r.user.file}`;
  const tls: KubeTls = { rejectUnauthorized: !c.insecureSkipTlsVerify };
  const headers: Record<string, string | string[]> = {};
  if (!secure) return { headers, tls };
  if (c.tlsServerName !== undefined) tls.servername = c.tlsServerName;
  if (!c.insecureSkipTlsVerify) {
    const ca = await dataOrFile(c.certificateAuthorityData, c.certificateAuthority, inCluster('certificate-authority'));
    if (ca !== undefined) tls.ca = ca;
  }
  const cert = await dataOrFile(u.clientCertificateData, u.clientCertificate, inUser('client-certificate'));
  const key = await dataOrFile(u.clientKeyData, u.clientKey, inUser('client-key'));
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  // As client-go: a token file, when set, wins over an inline token.
  const token = u.tokenFile !== undefined ? (await readCredentialFile(u.tokenFile, inUser('tokenFile'))).toString('utf8').trim() : u.token;
  if (token) headers['Authorization'] = `Bearer ${token}`;
  else if (u.username !== undefined) headers['Authorization'] = `Basic ${Buffer.from(`${u.username}:${u.password ?? ''}`, 'utf8').toString('base64')}`;
  addImpersonation(headers, u);
  return { headers, tls };
}

async function readKubeconfig(file: string): Promise<Kubeconfig> {
  const text = (await readCredentialFile(file, 'kubeconfig')).toString('utf8');
  const parsed = parseKubeconfig(text, file);
  if (!parsed.ok) throw new TracegateError('CONFIG_INVALID', `invalid kubeconfig ${parsed.error}`, { file });
  return parsed.value;
}

/**
 * A connection for the current context of `files` (merged in order). Native contexts are checked at once
 * by reading their files; plugin contexts run their plugin on the first connect, not here.
 */
export async function kubeconfigConnection(files: readonly string[], opts: { importClientNode?: ClientNodeImporter } = {}): Promise<KubeConnection> {
  const configs: Kubeconfig[] = [];
  for (const f of files) configs.push(await readKubeconfig(f));
  const resolved = resolveCurrentContext(mergeKubeconfigs(configs));
  if (!resolved.ok) throw new TracegateError('CONFIG_INVALID', `invalid kubeconfig ${resolved.error}`, { files: [...files] });
  const r = resolved.value;
  const server = new URL(r.cluster.value.server);
  const secure = server.protocol === 'https:';
  const fallback = needsClientNode(r, secure);
  const source = `kubeconfig ${files.join(', ')}, context ${JSON.stringify(r.context.name)}, ${server.origin}${fallback ? ' (through @kubernetes/client-node)' : ''}`;
  if (fallback) {
    const settings = await clientNodeSettings(r, secure, opts.importClientNode ?? importClientNode);
    return { server, source, settings };
  }
  const connection: KubeConnection = { server, source, settings: () => nativeSettings(r, secure) };
  await connection.settings();
  return connection;
}
