/** The TracegatePolicy CRD as the YAML file manifests/crds/tracegatepolicy.yaml holds: one source for the generator and its staleness test. */
import { stringify } from 'yaml';
import { CRD_HEADER, policyCrd } from './crd-schema.js';

/** The file's whole text, from the policy JSON Schema. */
export function renderPolicyCrd(policySchema: object): string {
  // No folding and no YAML aliases for shared nodes: the file reads as the schema, and diffs as it.
  return `${CRD_HEADER}${stringify(policyCrd(policySchema), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}
