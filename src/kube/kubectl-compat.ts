/**
 * What kubectl (client-go's clientcmd) does with a kubeconfig that @kubernetes/client-node 1.4's
 * KubeConfig does not, applied by loadKubeconfig so that the gate, the recorder and every command
 * behave as kubectl:
 *
 * - `tokenFile` (kubectl's field; client-node reads only a `token-file`, once, untrimmed) is read again
 *   on every request and trimmed, so rotated tokens are picked up; it wins over an inline `token`.
 * - An exec `command` that is a relative path with a slash resolves against the kubeconfig's directory.
 * - `as-groups`, `as-uid` and `as-user-extra` are refused: client-node sends only `Impersonate-User`,
 *   and acting as the user without the groups would be acting as someone else.
 * - A plain `http://` server gets no credentials (clientcmd `DirectClientConfig.ClientConfig`: "only
 *   try to read the auth information if we are secure"); client-node would refuse the cluster unless
 *   `insecure-skip-tls-verify` is set, and then send the token in the clear.
 * - In a pod, the ServiceAccount as client-go's `rest.InClusterConfig`: always https, from injected
 *   environment and directory; the token re-read on every request (the kubelet rotates it).
 * - Files the current context names are checked at load, so a typo is an error naming the file.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Cluster, KubeConfig, User } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { TracegateError } from '../errors.js';
import { isRecord } from '../k8s/types.js';

/** Where the kubelet mounts the ServiceAccount token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Our auth-provider name for a token file: client-node's own `tokenFile` provider keeps the newline. */
const TOKEN_FILE_PROVIDER = 'tracegate-token-file';
/** kubectl's impersonation fields that client-node cannot send. */
const UNSENDABLE = ['as-groups', 'as-uid', 'as-user-extra'] as const;
/** Marks a user whose kubeconfig entry has UNSENDABLE fields; the mark travels with the object through merges. */
const UNSENDABLE_MARK = Symbol('kubectl fields client-node cannot send');
type MarkedUser = User & { [UNSENDABLE_MARK]?: string[] };

function tokenFileUser(user: User, path: string): User {
  // The inline token would win in client-node; in client-go the file does.
  const { token: _inline, ...rest } = user;
  return { ...rest, authProvider: { name: TOKEN_FILE_PROVIDER, config: { path } } };
}

/** A field kubectl would act on: not absent, null or empty. */
function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  return !isRecord(v) || Object.keys(v).length > 0;
}

/** The raw `user` mapping of every users[] entry, by name (first wins); empty when the text does not parse. */
function rawUsers(text: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: false });
  } catch {
    return out;
  }
  const users = isRecord(doc) && Array.isArray(doc['users']) ? doc['users'] : [];
  for (const e of users) {
    if (isRecord(e) && typeof e['name'] === 'string' && isRecord(e['user']) && !out.has(e['name'])) out.set(e['name'], e['user']);
  }
  return out;
}

/** Loads one kubeconfig file into `kc` as client-node's `loadFromFile` does, plus kubectl's user fields. */
export function loadKubeconfigFile(kc: KubeConfig, file: string): void {
  const text = readFileSync(file, 'utf8');
  kc.loadFromString(text);
  const dir = dirname(file);
  kc.makePathsAbsolute(dir);
  const raw = rawUsers(text);
  const users = kc.getUsers().map((u): MarkedUser => {
    const fields = raw.get(u.name) ?? {};
    let out: MarkedUser = u;
    const tokenFile = fields['tokenFile'];
    if (typeof tokenFile === 'string' && tokenFile !== '' && !u.exec && !u.authProvider) out = tokenFileUser(out, resolve(dir, tokenFile));
    const command: unknown = isRecord(u.exec) ? u.exec['command'] : undefined;
    if (typeof command === 'string' && command.includes('/') && !isAbsolute(command)) out = { ...out, exec: { ...u.exec, command: resolve(dir, command) } };
    const unsendable = UNSENDABLE.filter((k) => isSet(fields[k]));
    if (unsendable.length > 0) out = { ...out, [UNSENDABLE_MARK]: unsendable };
    return out;
  });
  kc.loadFromOptions({ clusters: kc.getClusters(), users, contexts: kc.getContexts(), currentContext: kc.getCurrentContext() });
}

/**
 * Loads the pod's ServiceAccount into `kc`; false when not in a pod (KUBERNETES_SERVICE_HOST or _PORT
 * unset, as client-go's ErrNotInCluster).
 */
export function loadInCluster(kc: KubeConfig, env: Readonly<Record<string, string | undefined>>, dir: string): boolean {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port) return false;
  const namespaceFile = join(dir, 'namespace');
  const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, 'utf8').trim() : undefined;
  const name = 'in-cluster';
  kc.loadFromOptions({
    clusters: [{ name, server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile: join(dir, 'ca.crt'), skipTLSVerify: false } satisfies Cluster],
    users: [tokenFileUser({ name }, join(dir, 'token'))],
    contexts: [{ name, cluster: name, user: name, ...(namespace ? { namespace } : {}) }],
    currentContext: name,
  });
  return true;
}

/** client-node's Authenticator interface (not exported by the package's entry point). */
type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

/** Reads a token file on every request (a few bytes; the kubelet may have rotated it since the last one). */
function tokenFileAuthenticator(): Authenticator {
  return {
    isAuthProvider: (user) => isRecord(user.authProvider) && user.authProvider['name'] === TOKEN_FILE_PROVIDER,
    async applyAuthentication(user, opts) {
      const token = (await readFile(String(user.authProvider.config.path), 'utf8')).trim();
      if (token === '') return;
      const headers = (opts.headers ?? {}) as Record<string, string>;
      headers['Authorization'] = `Bearer ${token}`;
      opts.headers = headers;
    },
  };
}

function assertReadable(file: string | undefined, what: string): void {
  if (file === undefined) return;
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new TracegateError('KUBE_API', `cannot read ${file} (${what}): ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { file });
  }
}

/** Applies the rules of the module comment to the loaded (and merged) configuration. */
export function applyKubectlRules(kc: KubeConfig): void {
  kc.addAuthenticator(tokenFileAuthenticator());
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser() as MarkedUser | null;
  const unsendable = user?.[UNSENDABLE_MARK];
  if (user && unsendable) {
    throw new TracegateError(
      'KUBE_API',
      `user ${JSON.stringify(user.name)} of the kubeconfig sets ${unsendable.join(', ')}: @kubernetes/client-node can impersonate only a user name (as), and acting without the groups would be acting as someone else; remove them or use a context without impersonation`,
    );
  }
  if (cluster?.server.startsWith('http://')) {
    // kubectl's http rule: no credentials, no TLS settings; only impersonation is kept.
    const plainCluster: Cluster = { name: cluster.name, server: cluster.server, skipTLSVerify: true, ...(cluster.proxyUrl ? { proxyUrl: cluster.proxyUrl } : {}) };
    const anonymous = (u: User): User => ({ name: u.name, ...(u.impersonateUser ? { impersonateUser: u.impersonateUser } : {}) });
    kc.loadFromOptions({
      clusters: kc.getClusters().map((c) => (c === cluster ? plainCluster : c)),
      users: kc.getUsers().map((u) => (u === user ? anonymous(u) : u)),
      contexts: kc.getContexts(),
      currentContext: kc.getCurrentContext(),
    });
    return;
  }
  // client-node reads a file even when inline data is also set, so every named file must be readable.
  const where = (kind: string, name: string | undefined) => `of ${kind} ${JSON.stringify(name ?? '')}`;
  assertReadable(cluster?.caFile, `certificate-authority ${where('cluster', cluster?.name)}`);
  if (!user) return;
  assertReadable(user.certFile, `client-certificate ${where('user', user.name)}`);
  assertReadable(user.keyFile, `client-key ${where('user', user.name)}`);
  const provider: unknown = user.authProvider;
  if (isRecord(provider) && provider['name'] === TOKEN_FILE_PROVIDER && isRecord(provider['config'])) {
    assertReadable(String(provider['config']['path']), `tokenFile ${where('user', user.name)}`);
  }
}
