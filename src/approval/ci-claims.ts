/**
 * The claims GitHub Actions and GitLab CI put in their OIDC ID tokens, mapped to one shape. GitHub:
 * https://docs.github.com/en/actions/reference/security/oidc (repository, sha, ref, run_id, workflow,
 * environment, actor; sub `repo:org/repo:environment:production`). GitLab:
 * https://docs.gitlab.com/ci/secrets/id_token_authentication/ (project_path, sha, ref, pipeline_id,
 * environment, user_login; sub `project_path:group/project:ref_type:branch:ref:main`). Pure.
 */
import type { Parsed } from '../errors.js';
import { isRecord } from '../k8s/types.js';
import { DEFAULT_COMMIT_PATTERN } from '../policy/defaults.js';
import { quoteText } from './reasons.js';
import type { CiIdentity } from './statement.js';

export type { CiIdentity } from './statement.js';

const COMMIT = new RegExp(`^${DEFAULT_COMMIT_PATTERN}$`);
// As for approvals: these values reach annotations and logs.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** Longest claim value kept (the providers' values are far shorter). */
const MAX_CLAIM_CHARS = 1024;

/** A claim as text: strings, and the numbers some providers use for ids. */
function value(payload: Record<string, unknown>, key: string): Parsed<string | undefined> {
  const v = payload[key];
  if (v === undefined || v === '') return { ok: true, value: undefined };
  const s = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v;
  if (typeof s !== 'string') return { ok: false, error: `CI token claim ${key} is not a string` };
  if (s.length > MAX_CLAIM_CHARS || CONTROL.test(s)) return { ok: false, error: `CI token claim ${key} is too long or contains control characters` };
  return { ok: true, value: s };
}

/** Claim names per provider, in the order of {@link CiIdentity}. */
const PROVIDERS = {
  'github-actions': { repository: 'repository', commit: 'sha', ref: 'ref', run: 'run_id', workflow: 'workflow', environment: 'environment', actor: 'actor' },
  'gitlab-ci': { repository: 'project_path', commit: 'sha', ref: 'ref', run: 'pipeline_id', workflow: undefined, environment: 'environment', actor: 'user_login' },
} as const;
const REQUIRED = ['repository', 'commit', 'ref', 'run'] as const;

/** GitHub Actions or GitLab CI, told apart by the claims only one of them writes. */
function providerOf(payload: Record<string, unknown>): CiIdentity['provider'] | undefined {
  if (payload.repository !== undefined && payload.run_id !== undefined) return 'github-actions';
  if (payload.project_path !== undefined && payload.pipeline_id !== undefined) return 'gitlab-ci';
  return undefined;
}

/** The identity in a verified CI token's payload, or a one-line reason. */
export function ciIdentityOf(payload: unknown): Parsed<CiIdentity> {
  if (!isRecord(payload)) return { ok: false, error: 'CI token payload is not a JSON object' };
  const provider = providerOf(payload);
  if (!provider) return { ok: false, error: 'CI token carries neither GitHub Actions (repository, run_id) nor GitLab CI (project_path, pipeline_id) claims' };
  const out: Record<string, string> = { provider };
  for (const [field, claim] of [['issuer', 'iss'], ['subject', 'sub'], ...Object.entries(PROVIDERS[provider])] as [string, string | undefined][]) {
    if (claim === undefined) continue;
    const r = value(payload, claim);
    if (!r.ok) return r;
    if (r.value !== undefined) out[field] = r.value;
  }
  for (const field of [...REQUIRED, 'issuer', 'subject'] as const) {
    if (out[field] === undefined) return { ok: false, error: `CI token has no ${field === 'issuer' ? 'iss' : field === 'subject' ? 'sub' : PROVIDERS[provider][field]} claim` };
  }
  if (!COMMIT.test(out.commit!)) return { ok: false, error: `CI token sha ${quoteText(out.commit)} is not a commit` };
  return { ok: true, value: out as unknown as CiIdentity };
}
