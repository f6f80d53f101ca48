/**
 * How a decision reads to people and to the audit log: the denial message, response warnings and
 * auditAnnotations, each within the apiserver's limits (reference/admission-protocol.md §4, §5). Pure.
 */
import type { ApprovalEvidence, EvaluationResult, Violation } from '../policy/types.js';

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
  let count = 0;
  let list = '';
  for (const v of violations) if (v.action === 'deny') list += `\n  ${++count}. ${describe(v)}`;
  return `${objectRef} violates ${count} tracegate polic${count === 1 ? 'y rule' : 'y rules'}:${list}`;
}

/** Warnings for `warn` violations (and break-glass), single-line and within the apiserver's budget. */
export function warningsFor(result: EvaluationResult, extra: readonly string[] = []): string[] {
  const texts = [...extra];
  for (const v of result.violations) if (v.action === 'warn') texts.push(`${v.message} [${v.policy}/${v.rule}] fix: ${v.fix}`);
  // Most reviews warn about nothing.
  if (!texts.length) return texts;
  for (let i = 0; i < texts.length; i++) texts[i] = truncateRunes(singleLine(texts[i]!), MAX_WARNING_RUNES);
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
  for (const k of Object.keys(entries)) {
    const v = entries[k];
    if (v !== undefined && v !== '' && AUDIT_KEY_RE.test(k)) out[k] = v;
  }
  return out;
}

/** `policy/rule` of each rule among the violations (those with `action`, when given), once each, in order of first appearance. */
export function ruleIds(violations: readonly Violation[], action?: Violation['action']): string[] {
  const ids: string[] = [];
  let last: Violation | undefined;
  for (const v of violations) {
    if (action && v.action !== action) continue;
    // One rule's violations come one after another: skip its repeats without writing their id.
    if (last && last.policy === v.policy && last.rule === v.rule) continue;
    last = v;
    const id = `${v.policy}/${v.rule}`;
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

/** `rule@policy` list of violations with a given action, for the audit log. */
export function ruleList(violations: readonly Violation[], action?: Violation['action']): string | undefined {
  const ids = ruleIds(violations, action);
  return ids.length ? ids.join(',') : undefined;
}

/** The messages of `audit` violations, for the audit log. */
export function auditFindings(violations: readonly Violation[]): string | undefined {
  let out: string | undefined;
  for (const v of violations) if (v.action === 'audit') out = out === undefined ? v.message : `${out} | ${v.message}`;
  return out || undefined;
}

/**
 * The audit annotations of verified provenance: which statement verified (`verified sha256:…`, the
 * digest names it without the token) or the one-line reason it did not. Never the token itself.
 */
export function approvalAudit(evidence: ApprovalEvidence | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const a = evidence?.approval;
  if (a) out.approval = a.ok ? `verified ${a.statement.digest} key ${a.statement.kid} approver ${a.statement.approver}` : `not verified: ${a.reason}`;
  const c = evidence?.ciToken;
  if (c) out['ci-token'] = c.ok ? `verified ${c.statement.digest} ${c.statement.identity.repository} run ${c.statement.identity.run}` : `not verified: ${c.reason}`;
  return out;
}
