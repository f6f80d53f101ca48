/** Locations inside the installed package, the same from `src/` under tsx and from `dist/`. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the tracegate package (holds package.json, policies/, manifests/). */
export const packageRoot: string = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The bundled default policies directory. */
export const bundledPoliciesDir: string = join(packageRoot, 'policies');

/** The policy JSON Schema shipped with the package. */
export const policySchemaPath: string = join(packageRoot, 'policies', 'policy.schema.json');
