/**
 * The gate's admission handlers exactly as `startGate` wires them (bundled policies, default
 * annotation prefix and tenant label, tenants from a namespaces file, pooled change ids, the provenance
 * keys of a `--provenance-keys` directory), for the in-process engine and for the baseline+policies
 * server. Imports only src/, so the production build's copy of it runs against dist/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tracegateKeys, type TracegateKeys } from '../src/admission/annotations.js';
import { createChangeIdSource } from '../src/admission/change-id.js';
import { createMutator } from '../src/admission/mutate.js';
import type { AdmissionRequest } from '../src/admission/types.js';
import { createValidator, type Handled } from '../src/admission/validate.js';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { bundledPoliciesDir, policySchemaPath } from '../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../src/policy/load.js';
import type { PolicySet } from '../src/policy/types.js';
import { loadKeyring, newKeyText } from '../src/provenance/keys.js';
import type { MacKeyring } from '../src/provenance/mac.js';
import { loadNamespaceFile } from '../src/tenancy/namespace-file.js';
import { createTenantResolver } from '../src/tenancy/resolve.js';

/** The two webhook handlers. */
export interface Handlers {
  validate: (request: AdmissionRequest) => Handled;
  mutate: (request: AdmissionRequest) => Handled;
}

/** The handlers and what they were built from. */
export interface Engine extends Handlers {
  policies: PolicySet;
  tenantOf: (namespace: string) => string | undefined;
  /** The annotation keys of the default prefix (the stamps' names). */
  keys: TracegateKeys;
  /** The keyring loaded from the key directory: the one the gate, this engine and the reviews share. */
  keyring: MacKeyring;
  /** The same handlers with another keyring (the engine's MAC figures count the keyring's calls). */
  withKeyring(keyring: MacKeyring): Handlers;
}

/**
 * Writes a `--provenance-keys` directory holding one random key (`bench.key`, owner-only), as the
 * tracegate-provenance-key Secret mounts it; the gate, the baseline+policies server and the engine read it.
 */
export async function writeBenchKeyDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'bench.key'), newKeyText(), { mode: 0o600 });
  return dir;
}

/** Loads the bundled policies, `namespacesFile` and the keys in `keyDir` (all absolute) as the benchmark's gate does. */
export async function createEngine(namespacesFile: string, cwd: string, keyDir: string): Promise<Engine> {
  const prefix = CONFIG_DEFAULTS.annotationPrefix;
  const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath), annotationPrefix: prefix });
  const policies = await loader.load([bundledPoliciesDir], cwd);
  const tenantOf = createTenantResolver({ tenantLabel: CONFIG_DEFAULTS.tenantLabel }, await loadNamespaceFile(namespacesFile));
  const keys = tracegateKeys(prefix);
  const keyring = await loadKeyring(keyDir);
  const withKeyring = (ring: MacKeyring): Handlers => ({
    validate: createValidator({ policies: () => policies, tenantOf, keys, prefix, keyring: ring }),
    mutate: createMutator({ policies: () => policies, tenantOf, keys, prefix, keyring: ring, newId: createChangeIdSource() }),
  });
  return { policies, tenantOf, keys, keyring, withKeyring, ...withKeyring(keyring) };
}
