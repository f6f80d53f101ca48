/**
 * The CI systems whose OIDC ID tokens the gate accepts: per issuer its audience, its public keys (a
 * JWKS saved from the issuer's jwks_uri, so verification stays offline), which repositories may deploy
 * to which tenant, and which environments have required reviewers. Loaded once, immutable.
 */
import { TracegateError } from '../errors.js';
import { isRecord } from '../k8s/types.js';
import { importPublicJwks, type PublicKey } from './jwks.js';
import { readJsonFile } from './keys.js';
import { quoteText } from './reasons.js';

/** One issuer as configured; `jwks` is the JWKS document (or, for {@link loadCiIssuerFiles}, its file). */
export interface CiIssuerConfig<J = unknown> {
  /** Exact `iss` value, e.g. `https://token.actions.githubusercontent.com`, `https://gitlab.com`. */
  issuer: string;
  /** The `aud` the tokens must carry (what the pipeline requested, e.g. `tracegate`). */
  audience: string;
  jwks: J;
  /**
   * Tenant (or `*` for every tenant) → repository globs: `org/team-a-*`. `*` matches within one path
   * segment (never `/`); matching ignores case, as GitHub and GitLab paths do. A leading `repo:` or
   * `project_path:` (the `sub` claim's spelling) is accepted and ignored.
   */
  tenants: Readonly<Record<string, readonly string[]>>;
  /** Environments with required reviewers: a token from a job in one of them counts as an approval. */
  protectedEnvironments?: readonly string[];
}

/** A loaded issuer. */
export interface CiIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly keys: readonly PublicKey[];
  /** True when `repository` may deploy to `tenant`. */
  mayDeploy(repository: string, tenant: string): boolean;
  /** True when `environment` is one of the protected ones (case-insensitive, as GitHub environment names). */
  isProtected(environment: string | undefined): boolean;
}

/** The loaded issuers, by exact `iss`. */
export interface CiIssuers {
  get(issuer: string): CiIssuer | undefined;
  readonly size: number;
}

const SUB_PREFIX = /^(repo|project_path):/;

function issuersError(message: string): TracegateError {
  return new TracegateError('APPROVAL_KEYS', message);
}

/** A repository glob compiled: `*` within a segment, case-insensitive, anchored. */
export function repositoryGlob(glob: string): RegExp {
  const body = glob
    .replace(SUB_PREFIX, '')
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('[^/]*');
  return new RegExp(`^${body}$`, 'i');
}

function checkEntry(entry: unknown, index: number): CiIssuerConfig {
  const where = `CI issuer ${index}`;
  if (!isRecord(entry)) throw issuersError(`${where} is not an object`);
  if (typeof entry.issuer !== 'string' || !/^https:\/\/[^\s]+$/.test(entry.issuer)) throw issuersError(`${where}: issuer must be an https URL (the tokens' iss)`);
  if (typeof entry.audience !== 'string' || entry.audience === '') throw issuersError(`${where} (${entry.issuer}): audience must be a non-empty string`);
  if (!isRecord(entry.tenants) || Object.keys(entry.tenants).length === 0) throw issuersError(`${where} (${entry.issuer}): tenants must map tenants to repository globs`);
  for (const [tenant, globs] of Object.entries(entry.tenants)) {
    if (!Array.isArray(globs) || globs.length === 0 || !globs.every((g) => typeof g === 'string' && g.replace(SUB_PREFIX, '') !== '')) {
      throw issuersError(`${where} (${entry.issuer}): tenant ${quoteText(tenant)} needs a list of repository globs`);
    }
  }
  const envs = entry.protectedEnvironments;
  if (envs !== undefined && !(Array.isArray(envs) && envs.every((e) => typeof e === 'string' && e !== ''))) {
    throw issuersError(`${where} (${entry.issuer}): protectedEnvironments must be a list of environment names`);
  }
  return entry as unknown as CiIssuerConfig;
}

/**
 * Validates the issuer entries and imports their keys (RSA ≥ 2048 bits, P-256, Ed25519; public only).
 * Throws APPROVAL_KEYS with one line naming the issuer and the problem.
 */
export async function loadCiIssuers(entries: readonly unknown[]): Promise<CiIssuers> {
  const byIssuer = new Map<string, CiIssuer>();
  for (const [index, raw] of entries.entries()) {
    const entry = checkEntry(raw, index);
    if (byIssuer.has(entry.issuer)) throw issuersError(`CI issuer ${entry.issuer} is configured twice`);
    let keys: PublicKey[];
    try {
      keys = await importPublicJwks(entry.jwks, ['RSA', 'P-256', 'Ed25519'], `keys of CI issuer ${entry.issuer}`);
    } catch (err) {
      throw issuersError((err as Error).message);
    }
    const tenants = new Map(Object.entries(entry.tenants).map(([t, globs]) => [t, globs.map(repositoryGlob)]));
    const protectedEnvs = new Set((entry.protectedEnvironments ?? []).map((e) => e.toLowerCase()));
    const matches = (tenant: string, repository: string) => (tenants.get(tenant) ?? []).some((re) => re.test(repository));
    byIssuer.set(
      entry.issuer,
      Object.freeze({
        issuer: entry.issuer,
        audience: entry.audience,
        keys: Object.freeze(keys),
        mayDeploy: (repository: string, tenant: string) => matches(tenant, repository) || matches('*', repository),
        isProtected: (environment: string | undefined) => environment !== undefined && protectedEnvs.has(environment.toLowerCase()),
      }),
    );
  }
  return Object.freeze({ get: (issuer: string) => byIssuer.get(issuer), size: byIssuer.size });
}

/** {@link loadCiIssuers} with each `jwks` read from a JSON file (paths relative to `cwd`). */
export async function loadCiIssuerFiles(entries: readonly CiIssuerConfig<string>[], cwd?: string): Promise<CiIssuers> {
  const loaded: unknown[] = [];
  for (const e of entries) {
    if (!isRecord(e) || typeof e.jwks !== 'string') throw issuersError('a CI issuer needs jwks: the path of its JWKS file');
    loaded.push({ ...e, jwks: await readJsonFile(e.jwks, cwd) });
  }
  return loadCiIssuers(loaded);
}
