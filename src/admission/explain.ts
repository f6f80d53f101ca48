/**
 * How a decision reads to people and to the audit log: the denial message, response warnings and
 * auditAnnotations, each within the apiserver's limits (reference/admission-protocol.md §4, §5). Pure.
 */
import type { EvaluationResult, Violation } from '../policy/types.js';

/** The apiserver truncates every warning to 256 runes once their total passes 4096 runes; stay under both. */
const MAX_WARNING_RUNES = 256;
const MAX_WARNINGS_TOTAL_RUNES = 4000;
/** Audit annotation keys: one DNS-label-like name part, at most 63 characters, and no `/`. */
const AUDIT_KEY_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

function singleLine(text: string): string {
  // Control characters make the apiserver drop a warning silently.
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

function truncateRunes(text: string, max: number): string {
  const runes = [...text];
  return runes.length <= max ? text : `${runes.slice(0, max - 1).join('')}…`;
}

/** Message, then where (field, and the value when the message does not quote it), which rule, and the fix. */
function describe(v: Violation): string {
  const value = v.value !== undefined && !v.message.includes(v.value) ? `, value ${JSON.stringify(v.value)}` : '';
  return `${v.message} (field ${v.path}${value}; policy ${v.policy} rule ${v.rule}). Fix: ${v.fix}`;
}

/** One message with every denying violation, numbered, for `admission webhook "…" denied the request: <message>`. */
export function denialMessage(objectRef: string, violations: readonly Violation[]): string {
  const denied = violations.filter((v) => v.action === 'deny');
  const head = `${objectRef} violates ${denied.length} tracegate polic${denied.length === 1 ? 'y rule' : 'y rules'}:`;
  return [head, ...denied.map((v, i) => `  ${i + 1}. ${describe(v)}`)].join('\n');
}

/** Warnings for `warn` violations (and break-glass), single-line and within the apiserver's budget. */
export function warningsFor(result: EvaluationResult, extra: readonly string[] = []): string[] {
  const texts = [
    ...extra,
    ...result.violations.filter((v) => v.action === 'warn').map((v) => `${v.message} [${v.policy}/${v.rule}] fix: ${v.fix}`),
  ].map((t) => truncateRunes(singleLine(t), MAX_WARNING_RUNES));
  const out: string[] = [];
  let total = 0;
  for (const [i, t] of texts.entries()) {
    const size = [...t].length;
    if (total + size > MAX_WARNINGS_TOTAL_RUNES) {
      out.push(`${texts.length - i} more warning(s) not shown; see the audit annotations and tracegate's decision log`);
      break;
    }
    out.push(t);
    total += size;
  }
  return [...new Set(out)];
}

/** Keeps only audit keys the apiserver accepts (it would log and drop the rest). */
export function auditAnnotations(entries: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined && v !== '' && AUDIT_KEY_RE.test(k)) out[k] = v;
  return out;
}

/** `rule@policy` list of violations with a given action, for the audit log. */
export function ruleList(violations: readonly Violation[], action?: Violation['action']): string | undefined {
  const ids = [...new Set(violations.filter((v) => !action || v.action === action).map((v) => `${v.policy}/${v.rule}`))];
  return ids.length ? ids.join(',') : undefined;
}
