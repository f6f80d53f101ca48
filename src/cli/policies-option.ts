/** The `--policies` option shared by every command: given paths, or the bundled set. */
import { isAbsolute, resolve } from 'node:path';
import { bundledPoliciesDir, policySchemaPath } from '../paths.js';
import { createPolicyLoader, readPolicySchema, type PolicyLoader } from '../policy/load.js';
import type { PolicySet } from '../policy/types.js';
import type { CliIo } from './io.js';

/** A loader over the shipped schema: files (`Policy` or `TracegatePolicy` documents) and cluster objects alike. */
export async function policyLoader(annotationPrefix?: string): Promise<PolicyLoader> {
  return createPolicyLoader({ schema: await readPolicySchema(policySchemaPath), ...(annotationPrefix ? { annotationPrefix } : {}) });
}

/** Loads and compiles the policies named on the command line (default: the bundled `policies/`). */
export async function loadPolicySet(paths: readonly string[] | undefined, io: CliIo, annotationPrefix?: string): Promise<PolicySet> {
  const loader = await policyLoader(annotationPrefix);
  const chosen = paths?.length ? paths.map((p) => (isAbsolute(p) ? p : resolve(io.cwd, p))) : [bundledPoliciesDir];
  return loader.load(chosen, io.cwd);
}
