/**
 * Kubeconfig files as kubectl reads them: parsing (YAML or JSON), merging the files of a KUBECONFIG
 * list (the first file to set the current context or to define a name wins, as in client-go), and
 * resolving the current context to its cluster and user. Pure: reading files is connection.ts's job.
 * Relative file paths resolve against the directory of the kubeconfig that names them.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import type { Parsed } from '../errors.js';
import { isRecord } from '../k8s/types.js';

/** A cluster entry. Paths are absolute; `*Data` fields stay base64 as in the file. */
export interface KubeconfigCluster {
  server: string;
  certificateAuthority?: string;
  certificateAuthorityData?: string;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** Only client-node (the lazy fallback) can tunnel through a proxy. */
  proxyUrl?: string;
}

/** A user entry. Paths are absolute; `*Data` fields stay base64 as in the file. */
export interface KubeconfigUser {
  token?: string;
  tokenFile?: string;
  clientCertificate?: string;
  clientCertificateData?: string;
  clientKey?: string;
  clientKeyData?: string;
  username?: string;
  password?: string;
  /** Impersonation (`as`, `as-groups`, `as-uid`). */
  as?: string;
  asGroups?: string[];
  asUid?: string;
  /** A credential plugin or auth provider: only client-node runs those (the lazy fallback). */
  exec?: Record<string, unknown>;
  authProvider?: Record<string, unknown>;
}

/** A context entry; an empty `user` means anonymous. */
export interface KubeconfigContext {
  cluster: string;
  user: string;
  namespace?: string;
}

/** A named entry and the file that defined it. */
export interface KubeconfigEntry<T> {
  name: string;
  file: string;
  value: T;
}

/** One kubeconfig file, or several merged. */
export interface Kubeconfig {
  files: string[];
  currentContext?: { name: string; file: string };
  clusters: Map<string, KubeconfigEntry<KubeconfigCluster>>;
  users: Map<string, KubeconfigEntry<KubeconfigUser>>;
  contexts: Map<string, KubeconfigEntry<KubeconfigContext>>;
}

/** The current context resolved to its cluster and user. */
export interface ResolvedKubeconfig {
  context: KubeconfigEntry<KubeconfigContext>;
  cluster: KubeconfigEntry<KubeconfigCluster>;
  /** Name `''` and no fields for an anonymous context. */
  user: KubeconfigEntry<KubeconfigUser>;
}

/** Collects problems while reading one section, so the parser reports instead of throwing. */
interface Reader {
  problems: string[];
  dir: string;
}

function str(r: Reader, obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v;
  r.problems.push(`${where}.${key} must be a string`);
  return undefined;
}

function path(r: Reader, obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = str(r, obj, key, where);
  return v === undefined ? undefined : isAbsolute(v) ? v : resolve(r.dir, v);
}

function base64(r: Reader, obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = str(r, obj, key, where);
  if (v !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(v.replace(/\s/g, ''))) r.problems.push(`${where}.${key} is not base64`);
  return v;
}

function record(r: Reader, obj: Record<string, unknown>, key: string, where: string): Record<string, unknown> | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (isRecord(v)) return v;
  r.problems.push(`${where}.${key} must be a mapping`);
  return undefined;
}

function readCluster(r: Reader, c: Record<string, unknown>, where: string): KubeconfigCluster {
  const server = str(r, c, 'server', where);
  if (server === undefined) r.problems.push(`${where}.server is missing`);
  else if (!URL.canParse(server) || !/^https?:$/.test(new URL(server).protocol)) r.problems.push(`${where}.server is not an http(s) URL`);
  const insecure = c['insecure-skip-tls-verify'];
  if (insecure !== undefined && insecure !== null && typeof insecure !== 'boolean') r.problems.push(`${where}.insecure-skip-tls-verify must be true or false`);
  return {
    server: server ?? '',
    certificateAuthority: path(r, c, 'certificate-authority', where),
    certificateAuthorityData: base64(r, c, 'certificate-authority-data', where),
    insecureSkipTlsVerify: insecure === true,
    tlsServerName: str(r, c, 'tls-server-name', where),
    proxyUrl: str(r, c, 'proxy-url', where),
  };
}

function readUser(r: Reader, u: Record<string, unknown>, where: string): KubeconfigUser {
  const groups = u['as-groups'];
  let asGroups: string[] | undefined;
  if (Array.isArray(groups) && groups.every((g) => typeof g === 'string')) asGroups = groups.length > 0 ? groups : undefined;
  else if (groups !== undefined && groups !== null) r.problems.push(`${where}.as-groups must be a list of strings`);
  const exec = record(r, u, 'exec', where);
  if (exec !== undefined) {
    const command = str(r, exec, 'command', `${where}.exec`);
    // kubectl resolves a command given as a relative path (one with a slash) against the kubeconfig's directory.
    if (command !== undefined && command.includes('/') && !isAbsolute(command)) exec['command'] = resolve(r.dir, command);
  }
  return {
    token: str(r, u, 'token', where),
    // `tokenFile` is kubectl's spelling; client-node reads `token-file`, so existing files may use either.
    tokenFile: path(r, u, 'tokenFile', where) ?? path(r, u, 'token-file', where),
    clientCertificate: path(r, u, 'client-certificate', where),
    clientCertificateData: base64(r, u, 'client-certificate-data', where),
    clientKey: path(r, u, 'client-key', where),
    clientKeyData: base64(r, u, 'client-key-data', where),
    username: str(r, u, 'username', where),
    password: str(r, u, 'password', where),
    as: str(r, u, 'as', where),
    asGroups,
    asUid: str(r, u, 'as-uid', where),
    exec,
    authProvider: record(r, u, 'auth-provider', where),
  };
}

function readContext(r: Reader, c: Record<string, unknown>, where: string): KubeconfigContext {
  const cluster = str(r, c, 'cluster', where);
  if (cluster === undefined) r.problems.push(`${where}.cluster is missing`);
  return { cluster: cluster ?? '', user: str(r, c, 'user', where) ?? '', namespace: str(r, c, 'namespace', where) };
}

/** Reads one named list (`clusters`, `users`, `contexts`); the first entry of a name wins, as in kubectl. */
function readSection<T>(
  r: Reader,
  doc: Record<string, unknown>,
  section: string,
  inner: string,
  file: string,
  read: (r: Reader, obj: Record<string, unknown>, where: string) => T,
): Map<string, KubeconfigEntry<T>> {
  const out = new Map<string, KubeconfigEntry<T>>();
  const list = doc[section];
  if (list === undefined || list === null) return out;
  if (!Array.isArray(list)) {
    r.problems.push(`${section} must be a list`);
    return out;
  }
  list.forEach((item: unknown, i) => {
    const name = isRecord(item) && typeof item['name'] === 'string' && item['name'] !== '' ? item['name'] : undefined;
    const where = name === undefined ? `${section}[${i}]` : `${section}[${i}] (${JSON.stringify(name)})`;
    if (!isRecord(item) || name === undefined) {
      r.problems.push(`${where}.name is missing`);
      return;
    }
    const body = item[inner] ?? {};
    if (!isRecord(body)) {
      r.problems.push(`${where}.${inner} must be a mapping`);
      return;
    }
    const value = read(r, body, `${where}.${inner}`);
    if (!out.has(name)) out.set(name, { name, file, value });
  });
  return out;
}

/** Parses one kubeconfig file's text; `file` names it in errors and anchors relative paths. */
export function parseKubeconfig(text: string, file: string): Parsed<Kubeconfig> {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return { ok: false, error: `${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}` };
  }
  if (doc === null || doc === undefined) doc = {};
  if (!isRecord(doc)) return { ok: false, error: `${file}: not a kubeconfig (expected a mapping at the top)` };
  const r: Reader = { problems: [], dir: dirname(file) };
  const rawCurrent = doc['current-context'];
  const current = typeof rawCurrent === 'string' && rawCurrent !== '' ? rawCurrent : undefined;
  if (rawCurrent !== undefined && rawCurrent !== null && typeof rawCurrent !== 'string') r.problems.push('current-context must be a string');
  const config: Kubeconfig = {
    files: [file],
    clusters: readSection(r, doc, 'clusters', 'cluster', file, readCluster),
    users: readSection(r, doc, 'users', 'user', file, readUser),
    contexts: readSection(r, doc, 'contexts', 'context', file, readContext),
  };
  if (current !== undefined) config.currentContext = { name: current, file };
  if (r.problems.length > 0) return { ok: false, error: `${file}: ${r.problems.join('; ')}` };
  return { ok: true, value: config };
}

/** Merges files of a KUBECONFIG list: the first to set the current context or define a name wins. */
export function mergeKubeconfigs(configs: readonly Kubeconfig[]): Kubeconfig {
  const merged: Kubeconfig = { files: [], clusters: new Map(), users: new Map(), contexts: new Map() };
  for (const c of configs) {
    merged.files.push(...c.files);
    merged.currentContext ??= c.currentContext;
    for (const [name, e] of c.clusters) if (!merged.clusters.has(name)) merged.clusters.set(name, e);
    for (const [name, e] of c.users) if (!merged.users.has(name)) merged.users.set(name, e);
    for (const [name, e] of c.contexts) if (!merged.contexts.has(name)) merged.contexts.set(name, e);
  }
  return merged;
}

/** Combinations client-go refuses for the user in use. */
function userProblems(u: KubeconfigUser): string[] {
  const out: string[] = [];
  const hasCert = u.clientCertificate !== undefined || u.clientCertificateData !== undefined;
  const hasKey = u.clientKey !== undefined || u.clientKeyData !== undefined;
  if (hasCert && !hasKey) out.push('client-certificate without client-key');
  if (hasKey && !hasCert) out.push('client-key without client-certificate');
  if ((u.token !== undefined || u.tokenFile !== undefined) && u.username !== undefined) out.push('both a token and a username/password');
  if (u.password !== undefined && u.username === undefined) out.push('password without username');
  return out;
}

/** The current context with its cluster and user; errors name the file and the entry at fault. */
export function resolveCurrentContext(config: Kubeconfig): Parsed<ResolvedKubeconfig> {
  const files = config.files.join(', ');
  if (config.currentContext === undefined) return { ok: false, error: `${files}: current-context is not set` };
  const { name, file } = config.currentContext;
  const context = config.contexts.get(name);
  if (context === undefined) return { ok: false, error: `${file}: current-context ${JSON.stringify(name)} names no entry in contexts` };
  const cluster = config.clusters.get(context.value.cluster);
  if (cluster === undefined) {
    return { ok: false, error: `${context.file}: context ${JSON.stringify(name)} names cluster ${JSON.stringify(context.value.cluster)}, which is not in clusters` };
  }
  let user: KubeconfigEntry<KubeconfigUser> = { name: '', file: context.file, value: {} };
  if (context.value.user !== '') {
    const found = config.users.get(context.value.user);
    if (found === undefined) {
      return { ok: false, error: `${context.file}: context ${JSON.stringify(name)} names user ${JSON.stringify(context.value.user)}, which is not in users` };
    }
    user = found;
  }
  const problems = userProblems(user.value);
  if (problems.length > 0) return { ok: false, error: `${user.file}: user ${JSON.stringify(user.name)} has ${problems.join(' and ')}` };
  return { ok: true, value: { context, cluster, user } };
}
