/**
 * What a request accumulates besides its object: audit annotations (`admission.Attributes.AddAnnotation`,
 * keys must be qualified names with exactly one `/`, and a key once set keeps its first value) and
 * warnings (the apiserver's warning recorder drops empty texts, texts with control characters or
 * broken UTF-16, and exact duplicates; truncation past 4096 runes is left to the API server). Pure.
 */

/** RFC 1123 subdomain: the prefix of a qualified name. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** The name part of a qualified name. */
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** Limits of validation.IsQualifiedName. */
const MAX_PREFIX = 253;
const MAX_NAME = 63;
/** unicode.IsControl: C0, DEL and C1. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** A surrogate half without its partner cannot be encoded as UTF-8. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether the apiserver accepts `key` as an audit annotation key. */
export function validAuditKey(key: string): boolean {
  const parts = key.split('/');
  if (parts.length !== 2) return false;
  const [prefix = '', name = ''] = parts;
  return prefix.length <= MAX_PREFIX && DNS_SUBDOMAIN.test(prefix) && name.length <= MAX_NAME && QUALIFIED_NAME.test(name);
}

/** The audit annotations of one request. */
export interface AuditRecorder {
  /** Adds `key=value`; returns why it was dropped, or undefined when it was recorded. */
  add(key: string, value: string): string | undefined;
  snapshot(): Record<string, string>;
}

/** Creates an empty recorder. */
export function createAuditRecorder(): AuditRecorder {
  const values = new Map<string, string>();
  return {
    add(key, value) {
      if (!validAuditKey(key)) return `annotation key has invalid format: ${key}`;
      const old = values.get(key);
      if (old !== undefined && old !== value) {
        return `admission annotations are not allowd to be overridden, key:${JSON.stringify(key)}, old value: ${JSON.stringify(old)}, new value:${JSON.stringify(value)}`;
      }
      values.set(key, value);
      return undefined;
    },
    snapshot: () => Object.fromEntries(values),
  };
}

/** Whether the warning recorder keeps `text` (`net.NewWarningHeader` accepts it). */
export function keepsWarning(text: string): boolean {
  return text !== '' && !CONTROL.test(text) && !LONE_SURROGATE.test(text);
}

/** Appends the warnings the recorder keeps, skipping duplicates. */
export function addWarnings(into: string[], texts: readonly string[]): void {
  for (const t of texts) if (keepsWarning(t) && !into.includes(t)) into.push(t);
}
