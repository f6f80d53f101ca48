/**
 * The trusted approval keys: one JWKS per tenant (`*` for keys every tenant trusts), Ed25519 and P-256
 * public keys only, loaded once (at policy load) into an immutable structure with the approval settings
 * (maximum lifetime, accepted audiences, the gate's cluster name).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { TracegateError } from '../errors.js';
import { isRecord } from '../k8s/types.js';
import { sha256Digest } from '../policy/digest.js';
import { importPublicJwks, type PublicKey } from './jwks.js';
import { quoteText } from './reasons.js';
import { DEFAULT_APPROVAL_AUDIENCE, DEFAULT_MAX_LIFETIME_SECONDS, type ApprovalAlg } from './statement.js';

/** The tenant name whose keys every tenant trusts. */
export const ALL_TENANTS = '*';

/** What {@link loadTrustedKeys} reads. */
export interface TrustedKeysConfig {
  /** Tenant name, or `*` for all tenants, → its JWKS document (RFC 7517). */
  tenants: Readonly<Record<string, unknown>>;
  /** Longest accepted `exp − iat`, seconds (default 7 days). */
  maxLifetimeSeconds?: number;
  /** This gate's cluster name: accepted as `aud`, and an approval's `cluster` claim must equal it. */
  cluster?: string;
  /** Accepted `aud` values (default `tracegate`, plus the cluster name when set). */
  audiences?: readonly string[];
}

/** A trusted approval key. */
export interface TrustedKey {
  kid: string;
  alg: ApprovalAlg;
  /** The tenant whose JWKS holds it (`*` for all). */
  tenant: string;
  key: PublicKey['key'];
}

/** The loaded trust: immutable, shared by every verification. */
export interface TrustedKeys {
  /** The key `kid` as trusted for `tenant`: its own keys, then the `*` keys. */
  find(tenant: string, kid: string): TrustedKey | undefined;
  readonly maxLifetimeSeconds: number;
  readonly audiences: readonly string[];
  readonly cluster: string | undefined;
  /** `sha256:` digest of the configuration: caches keyed by it never mix two trusts. */
  readonly id: string;
  readonly size: number;
}

function keysError(message: string): TracegateError {
  return new TracegateError('APPROVAL_KEYS', message);
}

/**
 * Validates and imports every tenant's JWKS. Throws APPROVAL_KEYS (one line, naming the tenant and
 * key, never key material) for a private or symmetric key, another key type (RSA, Ed448, P-384), a
 * missing or duplicate kid, or a kid that both a tenant and `*` define (which key signs would be ambiguous).
 */
export async function loadTrustedKeys(config: TrustedKeysConfig): Promise<TrustedKeys> {
  if (!isRecord(config.tenants) || Object.keys(config.tenants).length === 0) throw keysError('approval keys: no tenant has a JWKS');
  const maxLifetimeSeconds = config.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
  if (!Number.isInteger(maxLifetimeSeconds) || maxLifetimeSeconds <= 0) throw keysError('approval keys: the maximum lifetime must be a positive number of seconds');
  const byTenant = new Map<string, ReadonlyMap<string, TrustedKey>>();
  for (const [tenant, doc] of Object.entries(config.tenants)) {
    if (tenant === '') throw keysError('approval keys: a tenant name is empty');
    let keys: PublicKey[];
    try {
      keys = await importPublicJwks(doc, ['Ed25519', 'P-256'], `approval keys of tenant ${quoteText(tenant)}`);
    } catch (err) {
      throw keysError((err as Error).message);
    }
    byTenant.set(tenant, new Map(keys.map((k) => [k.kid, Object.freeze({ kid: k.kid, alg: k.alg as ApprovalAlg, tenant, key: k.key })])));
  }
  const shared = byTenant.get(ALL_TENANTS);
  for (const [tenant, keys] of byTenant) {
    if (tenant === ALL_TENANTS || !shared) continue;
    const both = [...keys.keys()].find((kid) => shared.has(kid));
    if (both !== undefined) throw keysError(`approval keys: kid ${quoteText(both)} is in both tenant ${quoteText(tenant)} and * key sets`);
  }
  const audiences = Object.freeze([...(config.audiences ?? [DEFAULT_APPROVAL_AUDIENCE, ...(config.cluster ? [config.cluster] : [])])]);
  const id = sha256Digest({ tenants: config.tenants, maxLifetimeSeconds, audiences, cluster: config.cluster ?? null });
  return Object.freeze({
    find: (tenant: string, kid: string) => byTenant.get(tenant)?.get(kid) ?? shared?.get(kid),
    maxLifetimeSeconds,
    audiences,
    cluster: config.cluster,
    id,
    size: [...byTenant.values()].reduce((n, m) => n + m.size, 0),
  });
}

/** Reads a JSON file for the key loaders; a one-line APPROVAL_KEYS error when it is missing or not JSON. */
export async function readJsonFile(path: string, cwd: string = process.cwd()): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, path), 'utf8');
  } catch (err) {
    throw keysError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw keysError(`${path} is not JSON`);
  }
}

/** {@link loadTrustedKeys} with each tenant's JWKS read from a file (paths relative to `cwd`). */
export async function loadTrustedKeyFiles(config: Omit<TrustedKeysConfig, 'tenants'> & { tenants: Readonly<Record<string, string>> }, cwd?: string): Promise<TrustedKeys> {
  const tenants: Record<string, unknown> = {};
  for (const [tenant, file] of Object.entries(config.tenants)) tenants[tenant] = await readJsonFile(file, cwd);
  return loadTrustedKeys({ ...config, tenants });
}
