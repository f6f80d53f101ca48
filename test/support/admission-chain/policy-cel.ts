/**
 * The CEL environment of a ValidatingAdmissionPolicy's expressions and their variable bindings
 * (`K/apiserver/pkg/admission/plugin/cel/compile.go` createEnvForOpts, `composition.go`,
 * `activation.go` newActivation; `policy/validating/plugin.go` compilePolicy):
 * - validations, variables, auditAnnotations and matchConditions see `object`, `oldObject`,
 *   `request`, `namespaceObject` and `authorizer`; a messageExpression has no `authorizer`; `params`
 *   is never declared (params are not modelled, and policies using them are refused at load);
 * - `variables` is declared only when the policy has variables (the apiserver validates with its
 *   stateless compiler otherwise), as an object type whose fields are the variables compiled so far,
 *   each typed by its expression's output type as convertCelTypeToDeclType converts it (object types
 *   become `dyn`); matchConditions are validated without it;
 * - at run time `variables` is a lazy map: a variable is evaluated the first time an expression
 *   selects it and then cached for that evaluation, and its failure is the selecting expression's
 *   error (`composited variable "x" fails to evaluate: …`);
 * - `namespaceObject` is the request's Namespace reduced to the fields CreateNamespaceObject keeps
 *   (null for cluster-scoped requests).
 */
import { CelScalar, celError, isCelMap, listType, mapType, objectType, type CelInput, type CelMap, type CelType, type CelValue } from '@bufbuild/cel';
import { evaluate, type CompiledExpression, type ExpressionDecls } from './cel-compile.js';
import { DECLARED_VARIABLES, OBJECT_TYPES, type ObjectDecl } from './cel-env.js';
import { toCelValue } from './match-conditions.js';

const { DYN } = CelScalar;
/** The object type the composition environment declares `variables` as. */
const VARIABLES_TYPE = objectType('kubernetes.variables');
/** The marker @bufbuild/cel 0.6 recognises its maps by (`Symbol.for` in map.js); checked once below. */
const CEL_MAP_MARK = Symbol.for('@bufbuild/cel/map');
/** The object types CEL treats as values of their own, which convertCelTypeToDeclType keeps. */
const KEPT_OBJECT_TYPES: ReadonlySet<string> = new Set(['google.protobuf.Timestamp', 'google.protobuf.Duration']);

/** A compiled variable. */
export interface CompiledVariable {
  name: string;
  run: CompiledExpression['run'];
}

/** convertCelTypeToDeclType: what `variables.<name>` is typed as, given the expression's output type. */
export function variableFieldType(t: CelType): CelType {
  if (t.kind === 'list') return listType(variableFieldType(t.element) as Parameters<typeof listType>[0]);
  if (t.kind === 'map') return mapType(variableFieldType(t.key) as Parameters<typeof mapType>[0], variableFieldType(t.value));
  if (t.kind === 'object') return KEPT_OBJECT_TYPES.has(t.name) ? t : DYN;
  return t.name === 'type' ? DYN : t;
}

/**
 * The declarations one policy's expressions are checked against. `variableFields` is shared and
 * grows as the policy's variables compile, so a variable sees only the ones before it.
 */
export function policyDecls(opts: { authorizer: boolean; variableFields?: Record<string, CelType> }): ExpressionDecls {
  const variables = new Map(DECLARED_VARIABLES);
  if (!opts.authorizer) variables.delete('authorizer');
  if (opts.variableFields === undefined) return { variables, objects: OBJECT_TYPES };
  variables.set('variables', VARIABLES_TYPE);
  const decl: ObjectDecl = { fields: opts.variableFields, methods: {} };
  return { variables, objects: { ...OBJECT_TYPES, [VARIABLES_TYPE.name]: decl } };
}

/** The lazy `variables` map of one evaluation; `bindings` are the evaluation's own (variables included). */
export function lazyVariables(compiled: readonly CompiledVariable[], bindings: () => Record<string, CelInput>): CelMap {
  // compiledVariables[name] = result: a later variable of the same name replaces an earlier one.
  const byName = new Map(compiled.map((v) => [v.name, v]));
  const cache = new Map<string, CelValue | ReturnType<typeof celError>>();
  const get = (key: unknown): CelValue | ReturnType<typeof celError> | undefined => {
    if (typeof key !== 'string') return undefined;
    const variable = byName.get(key);
    if (variable === undefined) return undefined;
    if (!cache.has(key)) {
      const got = evaluate(variable.run, bindings());
      cache.set(key, 'error' in got ? celError(`composited variable ${JSON.stringify(key)} fails to evaluate: ${got.error}`) : (got.value as CelValue));
    }
    return cache.get(key);
  };
  const entries = function* (): Generator<[string, unknown]> {
    for (const name of byName.keys()) yield [name, get(name)];
  };
  const map = {
    [CEL_MAP_MARK]: {},
    get,
    has: (key: unknown) => typeof key === 'string' && byName.has(key),
    get size() {
      return byName.size;
    },
    keys: () => byName.keys(),
    values: function* () {
      for (const [, v] of entries()) yield v;
    },
    entries,
    forEach(callback: (value: unknown, key: string, m: unknown) => void) {
      for (const [k, v] of entries()) callback(v, k, map);
    },
    [Symbol.iterator]: entries,
  };
  // An error value here is the selecting expression's error: @bufbuild/cel passes what a map's get returns on.
  if (!isCelMap(map)) throw new Error('@bufbuild/cel no longer recognises custom maps: the lazy `variables` of admission policies needs updating');
  return map as unknown as CelMap;
}

/** cel.CreateNamespaceObject: only these metadata fields reach CEL. */
const NAMESPACE_META_FIELDS = ['name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'finalizers'];

/** `namespaceObject` for a namespace as stored (`undefined`/null: cluster-scoped, bound to null). */
export function namespaceValue(namespace: Record<string, unknown> | null | undefined): CelInput {
  if (namespace === null || namespace === undefined) return null;
  const meta = (typeof namespace['metadata'] === 'object' && namespace['metadata'] !== null ? namespace['metadata'] : {}) as Record<string, unknown>;
  const kept = Object.fromEntries(NAMESPACE_META_FIELDS.filter((f) => meta[f] !== undefined).map((f) => [f, meta[f]]));
  const out: Record<string, unknown> = { metadata: kept };
  if (namespace['spec'] !== undefined) out['spec'] = namespace['spec'];
  if (namespace['status'] !== undefined) out['status'] = namespace['status'];
  return toCelValue(out);
}
