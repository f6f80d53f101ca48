/**
 * One policy's verdict on a request, as `K/apiserver/pkg/admission/plugin/policy/validating/validator.go`
 * Validate reaches it (the binding's validationActions then decide what a deny does, policy-dispatch.ts):
 * - matchConditions first (`matchconditions/matcher.go`): a false one, or errors under failurePolicy
 *   Ignore, and nothing is validated; errors under Fail are one deny decision with the aggregated text;
 * - each validation: true admits; false denies with its reason (Invalid when unset) and a message —
 *   the messageExpression's string (trimmed; dropped when empty, over 5 KiB or multi-line, or when it
 *   failed), else the trimmed message, else `failed expression: <expression>`; an evaluation error is
 *   `expression '<expression>' resulted in error: <error>`, a deny under Fail and an admit under Ignore;
 * - each auditAnnotation: a non-blank string is published (trimmed), blank or null is left out, an
 *   error is a deny under Fail (left out under Ignore).
 * Each group of expressions gets its own lazy `variables`, as each ForInput does. Pure.
 */
import type { CelInput } from '@bufbuild/cel';
import { evaluate } from './cel-compile.js';
import { evaluateConditions } from './match-conditions.js';
import { lazyVariables, type CompiledVariable } from './policy-cel.js';
import type { CompiledPolicy, CompiledValidation } from './policy-validation.js';

/** celconfig.MaxEvaluatedMessageExpressionSizeBytes. */
const MAX_MESSAGE_BYTES = 5 * 1024;

/** One decision (`PolicyDecision`); `index` is its place among the validations (0 for a matchConditions error). */
export interface Decision {
  index: number;
  source: 'validation' | 'matchConditions';
  action: 'admit' | 'deny';
  evaluation: 'admit' | 'deny' | 'error';
  message: string;
  /** Set on an expression that evaluated to false: the validation's reason, `Invalid` by default. */
  reason?: string;
}

/** One auditAnnotation's outcome (`PolicyAuditAnnotation`). */
export type AuditAnnotationResult = { key: string; action: 'publish'; value: string } | { key: string; action: 'error'; error: string } | { key: string; action: 'exclude' };

/** `ValidateResult`, and whether the matchConditions kept the validations from running. */
export interface ValidateResult {
  decisions: Decision[];
  auditAnnotations: AuditAnnotationResult[];
  conditionsNotMet: boolean;
}

function withVariables(base: Record<string, CelInput>, variables: readonly CompiledVariable[]): Record<string, CelInput> {
  const bindings: Record<string, CelInput> = { ...base };
  bindings['variables'] = lazyVariables(variables, () => bindings);
  return bindings;
}

function denyMessage(v: CompiledValidation, bindings: Record<string, CelInput>): string {
  let message = '';
  if (v.message !== undefined) {
    const got = evaluate(v.message, bindings);
    // A failed messageExpression is only logged (klog V(2)); the fallbacks below apply.
    if ('value' in got && typeof got.value === 'string') {
      message = got.value.trim();
      if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES || message.includes('\n')) message = '';
    }
  }
  if (message === '' && v.validation.message !== '') message = v.validation.message.trim();
  return message === '' ? `failed expression: ${v.validation.expression.trim()}` : message;
}

/** cel-go's name of a value's type, for the unsupported-return-type error. */
function celTypeName(value: unknown): string {
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'double';
  if (typeof value === 'boolean') return 'bool';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value === 'object' && value !== null && Symbol.iterator in value && !('get' in value) ? 'list' : 'map';
}

/** Validator.Validate for one policy against the bindings of one request (object, request, namespaceObject…). */
export function validateRequest(policy: CompiledPolicy, base: Record<string, CelInput>): ValidateResult {
  const onError = policy.failurePolicy === 'Ignore' ? 'admit' : 'deny';
  if (policy.matchConditions.length > 0) {
    const outcome = evaluateConditions(policy.matchConditions, policy.failurePolicy, withVariables(base, policy.variables));
    if ('error' in outcome) return { decisions: [{ index: 0, source: 'matchConditions', action: onError, evaluation: 'error', message: outcome.error }], auditAnnotations: [], conditionsNotMet: false };
    if (!outcome.matches) return { decisions: [], auditAnnotations: [], conditionsNotMet: true };
  }
  const bindings = withVariables(base, policy.variables);
  const messageBindings = withVariables(base, policy.variables);
  const decisions = policy.validations.map((v, index): Decision => {
    const got = evaluate(v.run, bindings);
    if ('error' in got) return { index, source: 'validation', action: onError, evaluation: 'error', message: `expression '${v.validation.expression}' resulted in error: ${got.error}` };
    if (got.value === true) return { index, source: 'validation', action: 'admit', evaluation: 'admit', message: '' };
    return { index, source: 'validation', action: 'deny', evaluation: 'deny', reason: v.validation.reason ?? 'Invalid', message: denyMessage(v, messageBindings) };
  });
  const annotationBindings = withVariables(base, policy.variables);
  const auditAnnotations = policy.auditAnnotations.map((a): AuditAnnotationResult => {
    const got = evaluate(a.run, annotationBindings);
    if ('error' in got) return policy.failurePolicy === 'Ignore' ? { key: a.key, action: 'exclude' } : { key: a.key, action: 'error', error: `expression '${a.valueExpression}' resulted in error: ${got.error}` };
    if (got.value === null) return { key: a.key, action: 'exclude' };
    if (typeof got.value === 'string') {
      const value = got.value.trim();
      return value === '' ? { key: a.key, action: 'exclude' } : { key: a.key, action: 'publish', value };
    }
    return { key: a.key, action: 'error', error: `valueExpression '${a.valueExpression}' resulted in unsupported return type: ${celTypeName(got.value)}. Return type must be either string or null.` };
  });
  return { decisions, auditAnnotations, conditionsNotMet: false };
}
