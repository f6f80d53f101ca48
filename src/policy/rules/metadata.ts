/** Metadata rules: required labels and annotations, optionally matching a regex. */
import { isRecord } from '../../k8s/types.js';
import type { CompiledKeyRequirement, CompiledMetadataRule, Violation } from '../types.js';
import type { CheckInput, MakeViolation } from './context.js';

function checkKeys(
  what: 'label' | 'annotation',
  reqs: readonly CompiledKeyRequirement[],
  values: Record<string, unknown>,
  base: string,
  subject: string,
  make: MakeViolation,
): Violation[] {
  const out: Violation[] = [];
  const field = what === 'label' ? 'labels' : 'annotations';
  const missing = reqs.filter((r) => !Object.hasOwn(values, r.key));
  if (missing.length) {
    const keys = missing.map((r) => r.key);
    out.push(make({ path: `${base}.${field}`, message: `${subject}: missing required ${what}${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`, fix: `add ${field} ${keys.map((k) => `${k}: <value>`).join(', ')} under ${base}` }));
  }
  for (const r of reqs) {
    if (!r.regex || !Object.hasOwn(values, r.key)) continue;
    const value = String(values[r.key] ?? '');
    if (!r.regex.test(value)) {
      out.push(make({ path: `${base}.${field}["${r.key}"]`, value, message: `${subject}: ${what} ${r.key}="${value}" does not match /${r.allowedRegex}/`, fix: `set ${r.key} to a value matching /${r.allowedRegex}/` }));
    }
  }
  return out;
}

/** Evaluates required labels and annotations on the object or on its pod template. */
export function checkMetadata(rule: CompiledMetadataRule, input: CheckInput, make: MakeViolation): Violation[] {
  const onTemplate = rule.target === 'podTemplate';
  const meta = onTemplate ? input.template?.metadata : input.object.metadata;
  const base = onTemplate ? `${input.templatePrefix}metadata` : 'metadata';
  const subject = `${input.object.kind ?? 'object'} ${input.object.metadata?.name ?? input.object.metadata?.generateName ?? ''}${onTemplate ? ' pod template' : ''}`.trim();
  const labels = isRecord(meta?.labels) ? meta.labels : {};
  const annotations = isRecord(meta?.annotations) ? meta.annotations : {};
  return [
    ...checkKeys('label', rule.labels, labels, base, subject, make),
    ...checkKeys('annotation', rule.annotations, annotations, base, subject, make),
  ];
}
