/**
 * The TracegatePolicy CustomResourceDefinition, generated from policies/policy.schema.json so the
 * apiserver refuses a malformed policy at `kubectl apply` with the same constraints the gate's ajv
 * applies. Pure: JSON Schema in, CRD object out. The OpenAPI schema is made structural as
 * apiextensions requires (apiextensions-apiserver pkg/apiserver/schema, "Specifying a structural
 * schema" in the CRD docs): `$ref`s inlined, a `type` on every node, `additionalProperties: false`
 * dropped (unknown fields are pruned, or refused under kubectl's default `--validate=strict`),
 * `uniqueItems` (forbidden: quadratic) turned into `x-kubernetes-list-type: set`, which the apiserver
 * checks for duplicates, and `type: [string, number]` into `x-kubernetes-int-or-string`.
 */
import { isRecord } from '../k8s/types.js';
import { SPEC_METADATA_FIELDS, TRACEGATE_POLICY } from './tracegate-policy.js';

type Json = Record<string, unknown>;

/** JSON Schema keywords copied as they are: apiextensions' JSONSchemaProps has them with the same meaning. */
const COPIED = new Set(['type', 'description', 'enum', 'pattern', 'format', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'minProperties', 'maxProperties', 'required']);
/** Keywords with no place in a CRD schema that carry no constraint. */
const IGNORED = new Set(['$schema', '$id', 'title', 'definitions']);
/**
 * Constraints apiextensions cannot express: the gate's ajv still applies them (such an object is
 * admitted by the apiserver and reported Ready=False by the gate).
 */
export const CONSTRAINTS_LEFT_TO_THE_GATE: readonly string[] = ['the resource names that key quantity maps (propertyNames)'];
const DROPPED = new Set(['propertyNames']);

/** The structural form of one JSON Schema node (see the module comment); throws on a keyword it does not know. */
function structural(node: unknown, defs: Json, at: string): Json {
  if (!isRecord(node)) throw new Error(`${at}: not a schema object`);
  if (typeof node['$ref'] === 'string') {
    const name = /^#\/definitions\/(.+)$/.exec(node['$ref'])?.[1];
    if (name === undefined || !isRecord(defs[name])) throw new Error(`${at}: unresolvable $ref ${node['$ref']}`);
    const { $ref: _ref, ...siblings } = node;
    return { ...structural(defs[name], defs, `${at}→${name}`), ...structural(siblings, defs, at) };
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (COPIED.has(key)) out[key] = value;
    else if (IGNORED.has(key) || DROPPED.has(key)) continue;
    else if (key === 'const') out['enum'] = [value];
    else if (key === 'uniqueItems') {
      if (value === true) out['x-kubernetes-list-type'] = 'set';
    } else if (key === 'additionalProperties') {
      if (value === false) continue;
      if (isRecord(node['properties'])) throw new Error(`${at}: additionalProperties with properties is not structural`);
      out[key] = structural(value, defs, `${at}.additionalProperties`);
    } else if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, structural(v, defs, `${at}.${k}`)]));
    } else if (key === 'items') out[key] = structural(value, defs, `${at}[]`);
    else if (key === 'oneOf' || key === 'anyOf' || key === 'allOf') out[key] = (value as unknown[]).map((v, i) => structural(v, defs, `${at}.${key}[${i}]`));
    else throw new Error(`${at}: keyword ${JSON.stringify(key)} has no CRD form; teach crd-schema.ts about it`);
  }
  if (Array.isArray(out['type'])) {
    const types = [...(out['type'] as string[])].sort().join(',');
    // A quantity: Kubernetes' own idiom for it (resource.Quantity in CRDs); a fraction is written as a string.
    if (types !== 'number,string' && types !== 'integer,string') throw new Error(`${at}: type ${types} has no structural form`);
    delete out['type'];
    out['x-kubernetes-int-or-string'] = true;
  }
  if (out['type'] === undefined && Array.isArray(out['enum']) && out['x-kubernetes-int-or-string'] === undefined) {
    const kinds = new Set((out['enum'] as unknown[]).map((v) => typeof v));
    if (kinds.size !== 1 || !kinds.has('string')) throw new Error(`${at}: an enum of ${[...kinds].join(', ')} needs a type`);
    out['type'] = 'string';
  }
  if (out['x-kubernetes-list-type'] === 'set' && !['string', 'integer', 'number', 'boolean'].includes(String((out['items'] as Json | undefined)?.['type']))) {
    throw new Error(`${at}: a set needs scalar items`);
  }
  // `type` first, as people write it.
  const { type, ...rest } = out;
  return type === undefined ? rest : { type, ...rest };
}

/** metav1.Condition's schema (k8s.io/apimachinery/pkg/apis/meta/v1/types.go, its kubebuilder markers). */
const CONDITION: Json = {
  type: 'object',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: { type: 'string', maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    reason: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
    message: { type: 'string', maxLength: 32768 },
  },
};

/** What the gate writes: the generation it judged, and for a loaded one its digest and rule count. */
const STATUS: Json = {
  type: 'object',
  description: "Written by the tracegate gate. Ready is True when this generation is enforced; False names what is wrong (the gate then keeps the policy's last good generation).",
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    digest: { type: 'string', description: 'sha256 of the canonical JSON of the policy, as decisions and `tracegate policies` name it.' },
    ruleCount: { type: 'integer', minimum: 0 },
    conditions: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'], items: CONDITION },
  },
};

const READY = '.status.conditions[?(@.type=="Ready")]';

/** The CRD object for tracegatepolicies.tracegate.io, from the policy JSON Schema. */
export function policyCrd(policySchema: object): Json {
  const root = policySchema as Json;
  const defs = isRecord(root['definitions']) ? root['definitions'] : {};
  const props = root['properties'] as Json;
  const meta = (props['metadata'] as Json)['properties'] as Json;
  const { type, properties: specProps, ...specRest } = structural(props['spec'], defs, 'spec');
  // version, description and owner live in spec: ObjectMeta has no such fields (see tracegate-policy.ts).
  const moved = Object.fromEntries(SPEC_METADATA_FIELDS.map((f) => [f, structural(meta[f], defs, `metadata.${f}`)]));
  const spec: Json = {
    type,
    description: 'A tracegate policy: the spec of a policy file (policies/policy.schema.json), plus the version, description and owner a file keeps in metadata.',
    ...specRest,
    properties: { ...moved, ...(specProps as Json) },
  };
  const schema: Json = {
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      // Only name may be restricted (apiextensions refuses other metadata fields): a policy name is a DNS label.
      metadata: { type: 'object', properties: { name: structural(meta['name'], defs, 'metadata.name') } },
      spec,
      status: STATUS,
    },
  };
  const p = TRACEGATE_POLICY;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${p.plural}.${p.group}`, labels: { 'app.kubernetes.io/name': 'tracegate', 'app.kubernetes.io/part-of': 'tracegate' } },
    spec: {
      group: p.group,
      scope: 'Cluster',
      names: { kind: p.kind, listKind: p.listKind, plural: p.plural, singular: p.singular, shortNames: [...p.shortNames], categories: ['tracegate'] },
      versions: [
        {
          name: p.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Version', type: 'string', jsonPath: '.spec.version' },
            { name: 'Rules', type: 'integer', jsonPath: '.status.ruleCount' },
            { name: 'Ready', type: 'string', jsonPath: `${READY}.status` },
            { name: 'Reason', type: 'string', jsonPath: `${READY}.reason`, priority: 1 },
            { name: 'Digest', type: 'string', jsonPath: '.status.digest', priority: 1 },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

/** The file's header: what it is and how it is made. */
export const CRD_HEADER = `# TracegatePolicy: a tracegate policy as a cluster object (tracegate serve --policy-source cluster|both).
# GENERATED from policies/policy.schema.json by \`npm run crd:policy\` (scripts/gen-policy-crd.ts); do not edit.
# The apiserver validates every object against this schema at kubectl apply; the gate validates it again
# with the policy schema itself, which alone checks ${CONSTRAINTS_LEFT_TO_THE_GATE.join('; ')}, and compiles it.
`;
