/** The `--policies` option shared by every command: given paths, or the bundled set. */
import { isAbsolute, resolve } from 'node:path';
import { bundledPoliciesDir, policySchemaPath } from '../paths.js';
import { createPolicyLoader, readPolicySchema } from '../policy/load.js';
import type { PolicySet } from '../policy/types.js';
import type { CliIo } from './io.js';

/** Loads and compiles the policies named on the command line (default: the bundled `policies/`). */
export async function loadPolicySet(paths: readonly string[] | undefined, io: CliIo, annotationPrefix?: string): Promise<PolicySet> {
  const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath), ...(annotationPrefix ? { annotationPrefix } : {}) });
  const chosen = paths?.length ? paths.map((p) => (isAbsolute(p) ? p : resolve(io.cwd, p))) : [bundledPoliciesDir];
  return loader.load(chosen, io.cwd);
}
