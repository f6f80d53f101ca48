/**
 * The gate's trust as files: `--approval-keys` (one JWKS trusted for every tenant, or a directory of
 * per-tenant JWKS files — a mounted ConfigMap) and `--ci-issuers` (a YAML or JSON list of CI issuers,
 * each with its JWKS file). Read once at start; one-line APPROVAL_KEYS errors, never key material.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { TracegateError } from '../errors.js';
import { isRecord } from '../k8s/types.js';
import { loadCiIssuerFiles, type CiIssuerConfig, type CiIssuers } from './ci-issuers.js';
import { ALL_TENANTS, loadTrustedKeyFiles, type TrustedKeys } from './keys.js';

/** A directory entry `<tenant>.jwks.json` holds that tenant's keys. */
const TENANT_FILE = /^(.+)\.jwks\.json$/;
/**
 * The file of keys every tenant trusts. A ConfigMap key cannot be `*`, and no tenant can be named
 * `_shared`: tenants are label values, which begin with a letter or digit.
 */
export const SHARED_KEYS_FILE = '_shared.jwks.json';

function keysError(message: string): TracegateError {
  return new TracegateError('APPROVAL_KEYS', message);
}

/** Tenant → JWKS file of a directory: `<tenant>.jwks.json` each, `_shared.jwks.json` for every tenant. */
async function tenantFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of (await readdir(dir)).sort()) {
    // A mounted ConfigMap also holds `..data` and timestamped directories: only the documented names count.
    const m = TENANT_FILE.exec(entry);
    if (!m || entry.startsWith('..')) continue;
    out[entry === SHARED_KEYS_FILE ? ALL_TENANTS : m[1]!] = join(dir, entry);
  }
  if (Object.keys(out).length === 0) throw keysError(`${dir} holds no <tenant>.jwks.json or ${SHARED_KEYS_FILE} file`);
  return out;
}

/** Options of the approval trust beyond the keys. */
export interface ApprovalTrustOptions {
  /** The gate's cluster name: accepted as audience, required by an approval's cluster claim. */
  cluster?: string;
  maxLifetimeSeconds?: number;
}

/**
 * Loads `--approval-keys`: a JWKS file (trusted for every tenant) or a directory of per-tenant JWKS
 * files. Relative paths resolve from `cwd`.
 */
export async function loadApprovalKeyPath(path: string, opts: ApprovalTrustOptions = {}, cwd: string = process.cwd()): Promise<TrustedKeys> {
  const abs = resolve(cwd, path);
  let isDir: boolean;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch (err) {
    throw keysError(`cannot read --approval-keys ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const tenants = isDir ? await tenantFiles(abs) : { [ALL_TENANTS]: abs };
  return loadTrustedKeyFiles({ tenants, ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}), ...(opts.maxLifetimeSeconds !== undefined ? { maxLifetimeSeconds: opts.maxLifetimeSeconds } : {}) });
}

/**
 * Loads `--ci-issuers`: YAML or JSON, `issuers:` a list of {issuer, audience, jwks: FILE, tenants,
 * protectedEnvironments}; each `jwks` path relative to the file's directory.
 */
export async function loadCiIssuerPath(path: string, cwd: string = process.cwd()): Promise<CiIssuers> {
  const abs = resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    throw keysError(`cannot read --ci-issuers ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    throw keysError(`--ci-issuers ${path} is not YAML or JSON`);
  }
  const list = isRecord(doc) ? doc.issuers : undefined;
  if (!Array.isArray(list) || list.length === 0) throw keysError(`--ci-issuers ${path} has no issuers: list (issuer, audience, jwks, tenants)`);
  return loadCiIssuerFiles(list as CiIssuerConfig<string>[], dirname(abs));
}
