/**
 * The gate's admission handlers exactly as `startGate` wires them (bundled policies, default
 * annotation prefix and tenant label, tenants from a namespaces file, pooled change ids), for the
 * in-process engine and for the baseline+policies server. Imports only src/, so the production build's
 * copy of it runs against dist/.
 */
import { tracegateKeys } from '../src/admission/annotations.js';
import { createChangeIdSource } from '../src/admission/change-id.js';
import { createMutator } from '../src/admission/mutate.js';
import type { AdmissionRequest } from '../src/admission/types.js';
import { createValidator, type Handled } from '../src/admission/validate.js';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { bundledPoliciesDir, policySchemaPath } from '../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../src/policy/load.js';
import type { PolicySet } from '../src/policy/types.js';
import { loadNamespaceFile } from '../src/tenancy/namespace-file.js';
import { createTenantResolver } from '../src/tenancy/resolve.js';

/** The handlers and what they were built from. */
export interface Engine {
  policies: PolicySet;
  tenantOf: (namespace: string) => string | undefined;
  validate: (request: AdmissionRequest) => Handled;
  mutate: (request: AdmissionRequest) => Handled;
}

/** Loads the bundled policies and `namespacesFile` (absolute) as the benchmark's gate does. */
export async function createEngine(namespacesFile: string, cwd: string): Promise<Engine> {
  const prefix = CONFIG_DEFAULTS.annotationPrefix;
  const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath), annotationPrefix: prefix });
  const policies = await loader.load([bundledPoliciesDir], cwd);
  const tenantOf = createTenantResolver({ tenantLabel: CONFIG_DEFAULTS.tenantLabel }, await loadNamespaceFile(namespacesFile));
  const keys = tracegateKeys(prefix);
  return {
    policies,
    tenantOf,
    validate: createValidator({ policies: () => policies, tenantOf, keys }),
    mutate: createMutator({ policies: () => policies, tenantOf, keys, prefix, newId: createChangeIdSource() }),
  };
}
