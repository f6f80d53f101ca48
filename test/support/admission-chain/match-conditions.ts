/**
 * Webhook matchConditions as kube-apiserver compiles and evaluates them, with @bufbuild/cel as the
 * evaluator:
 * - compile (`K/apiserver/pkg/admission/plugin/cel/compile.go` CompileCELExpression): parse, the
 *   static check of cel-check.ts, then the output type must be bool (`must evaluate to bool`);
 * - bind (`cel/activation.go` newActivation, `cel/condition.go` CreateAdmissionRequest): `object` and
 *   `oldObject` as unstructured JSON (null when absent), `request` as the AdmissionRequest converted
 *   to unstructured (so omitempty fields — subResource, name, namespace, userInfo.groups… — are
 *   absent keys, and selecting one is an error), `namespaceObject` null (webhooks get no namespace),
 *   `authorizer` whose every method fails (no RBAC in the test API server);
 * - match (`webhook/matchconditions/matcher.go` Match): every condition is evaluated; the first false
 *   skips the webhook whatever errors the others had; otherwise any error makes failurePolicy decide
 *   (Fail: the errors aggregated, Ignore: the webhook is skipped).
 * JSON numbers become CEL ints when integral, doubles otherwise, as the unstructured decoder does.
 */
import { CelScalar, type CelInput, type CelResult } from '@bufbuild/cel';
import type { Parsed } from '../../../src/errors.js';
import { compileExpression, evaluate } from './cel-compile.js';
import { DECLARED_VARIABLES, OBJECT_TYPES, type MatchConditionEnvs } from './cel-env.js';
import type { Invocation, MatchAttributes } from './match.js';
import { encoded } from './review.js';

type Loose = Record<string, unknown>;

/** One compiled condition: `run` evaluates it against the bindings of a request. */
export interface CompiledCondition {
  name: string;
  /** The expression as configured (error messages quote it so). */
  expression: string;
  run: (bindings: Record<string, CelInput>) => CelResult;
}

/** How a webhook's conditions decided. */
export type ConditionsOutcome =
  | { matches: true }
  /** `condition`: the first that was false; without it, errors under failurePolicy Ignore. */
  | { matches: false; condition?: string; errors?: string }
  /** Errors under failurePolicy Fail, aggregated as utilerrors.NewAggregate words them. */
  | { error: string };

/**
 * Compiles one expression as the apiserver does when a configuration is written and when the webhook
 * is loaded. The error is the CEL error's Detail (`compilation failed: ERROR: <input>:1:1: …`, or
 * `must evaluate to bool`), as it appears after `Invalid value: "<expr>": `.
 */
export function compileCondition(expression: string, envs: MatchConditionEnvs): Parsed<CompiledCondition['run']> {
  const compiled = compileExpression(expression, envs, { variables: DECLARED_VARIABLES, objects: OBJECT_TYPES }, [CelScalar.BOOL]);
  return compiled.ok ? { ok: true, value: compiled.value.run } : compiled;
}

/** A JSON value as CEL sees unstructured data: integral numbers are ints (bigint), others doubles. */
export function toCelValue(value: unknown): CelInput {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCelValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, CelInput> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toCelValue(v);
    return out;
  }
  return value as CelInput;
}

/**
 * `request` as CreateAdmissionRequest builds it and the unstructured converter encodes it: kind and
 * resource are the invocation's (the equivalent ones for a matchPolicy Equivalent match), requestKind
 * and requestResource the request's; empty strings and lists are dropped (omitempty); dryRun is a
 * pointer the apiserver always sets.
 */
export function admissionRequestValue(attr: MatchAttributes, invocation: Invocation): Loose {
  const request: Loose = { kind: { ...invocation.kind }, resource: { ...invocation.resource } };
  if (attr.subResource !== '') request['subResource'] = attr.subResource;
  request['requestKind'] = { ...attr.kind };
  request['requestResource'] = { ...attr.resource };
  if (attr.subResource !== '') request['requestSubResource'] = attr.subResource;
  if (attr.name !== '') request['name'] = attr.name;
  if (attr.namespace !== '') request['namespace'] = attr.namespace;
  request['operation'] = attr.operation;
  const userInfo: Loose = {};
  if (attr.userInfo.username !== '') userInfo['username'] = attr.userInfo.username;
  if (attr.userInfo.groups.length > 0) userInfo['groups'] = [...attr.userInfo.groups];
  request['userInfo'] = userInfo;
  request['dryRun'] = attr.dryRun;
  if (attr.options !== null) request['options'] = encoded(attr.options);
  return request;
}

/** The variables of one evaluation (newActivation). */
export function conditionBindings(attr: MatchAttributes, invocation: Invocation): Record<string, CelInput> {
  return {
    object: toCelValue(encoded(attr.object ?? null)),
    oldObject: toCelValue(encoded(attr.oldObject ?? null)),
    request: toCelValue(admissionRequestValue(attr, invocation)),
    namespaceObject: null,
    // Any method call on it fails (cel-env.ts); `requestResource` is there so that the call is what fails.
    authorizer: { requestResource: {} },
  };
}

/** utilerrors.NewAggregate(...).Error(): one message as is, several deduplicated in brackets. */
function aggregate(messages: string[]): string {
  const unique = [...new Set(messages)];
  return unique.length === 1 ? (unique[0] ?? '') : `[${unique.join(', ')}]`;
}

/** `matcher.Match`: evaluates every condition of a webhook and applies its failurePolicy. */
export function evaluateConditions(conditions: readonly CompiledCondition[], failurePolicy: 'Fail' | 'Ignore', bindings: Record<string, CelInput>): ConditionsOutcome {
  const errors: string[] = [];
  for (const c of conditions) {
    const got = evaluate(c.run, bindings);
    if ('error' in got) {
      errors.push(`expression '${c.expression}' resulted in error: ${got.error}`);
      continue;
    }
    const result = got.value;
    // The compile check guarantees bool; anything else would be this model's gap, so it fails loudly.
    if (typeof result !== 'boolean') {
      errors.push(`expression '${c.expression}' resulted in error: did not evaluate to bool`);
      continue;
    }
    if (!result) return { matches: false, condition: c.name };
  }
  if (errors.length === 0) return { matches: true };
  return failurePolicy === 'Fail' ? { error: aggregate(errors) } : { matches: false, errors: aggregate(errors) };
}
