/**
 * Editing parsed YAML nodes in place so that a value changes and nothing else does: styles, quoting and
 * comments of untouched nodes stay; strings Go's YAML 1.1 reader would read as something else are quoted.
 * Pure.
 */
import { Document, isCollection, isMap, isScalar, isSeq, parse, visit } from 'yaml';
import type { Node, Pair, Scalar } from 'yaml';
import { isRecord } from '../k8s/types.js';

/** The text of a map entry's key, when it is a scalar. */
export function keyOf(pair: Pair): string | undefined {
  const key: unknown = pair.key;
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}

/** True for an empty flow collection (`{}` / `[]`): edited by replacing it. */
export function isEmptyFlow(node: unknown): boolean {
  return isCollection(node) && node.flow === true && node.items.length === 0;
}

function plainSafe(s: string): boolean {
  if (s === '' || /[\n\r\t,[\]{}]/.test(s) || s.trim() !== s) return false;
  try {
    return parse(s) === s && parse(s, { version: '1.1' }) === s;
  } catch {
    return false;
  }
}

/** Source text for a scalar in the given style; undefined for styles that are not one token (block scalars). */
export function renderScalar(value: unknown, type: Scalar['type']): string | undefined {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') return undefined;
  if (type === 'QUOTE_SINGLE' && !/[\n\r]/.test(value)) return `'${value.replace(/'/g, "''")}'`;
  if (type === 'QUOTE_DOUBLE' || type === 'QUOTE_SINGLE') return JSON.stringify(value);
  if (type !== undefined && type !== 'PLAIN') return undefined;
  return plainSafe(value) ? value : JSON.stringify(value);
}

/**
 * Go's YAML (sigs.k8s.io/yaml, YAML 1.1 rules) reads plain `yes`, `on`, `0755` … as non-strings, while
 * the `yaml` package writes them plain under YAML 1.2: quote such strings.
 */
export function quoteIfAmbiguous(node: Scalar): void {
  if (typeof node.value !== 'string' || (node.type !== undefined && node.type !== 'PLAIN')) return;
  let read: unknown;
  try {
    read = parse(node.value, { version: '1.1' });
  } catch {
    read = undefined;
  }
  if (read !== node.value) node.type = 'QUOTE_DOUBLE';
}

/** A new node for `value`, ambiguous strings quoted. */
export function fresh(doc: Document, value: unknown): Node {
  const node = doc.createNode(value) as Node;
  visit(node, { Scalar: (_key, scalar) => quoteIfAmbiguous(scalar) });
  return node;
}

/** A live quantity "2" replacing a manifest number stays a number, so the diff is just the digits. */
function scalarValue(previous: unknown, next: unknown): unknown {
  if (typeof previous === 'number' && typeof next === 'string' && /^-?\d+(\.\d+)?$/.test(next) && String(Number(next)) === next) {
    return Number(next);
  }
  return next;
}

/** A new list item quoted like the one before it (`args: ["a", "b"]` stays all double-quoted). */
function styledLike(node: Node, previous: unknown): Node {
  if (isScalar(node) && typeof node.value === 'string' && isScalar(previous) && (previous.type === 'QUOTE_DOUBLE' || previous.type === 'QUOTE_SINGLE')) {
    node.type = previous.type;
  }
  return node;
}

/** Makes `node` hold `value`, editing in place where the shapes agree so styles and comments stay. */
export function reconcile(doc: Document, node: unknown, value: unknown): Node {
  if (isScalar(node) && (value === null || typeof value !== 'object')) {
    if (node.value === value) return node;
    node.value = scalarValue(node.value, value);
    quoteIfAmbiguous(node);
    return node;
  }
  if (isMap(node) && isRecord(value) && !isEmptyFlow(node)) {
    node.items = node.items.filter((pair) => {
      const key = keyOf(pair);
      return key !== undefined && Object.hasOwn(value, key);
    });
    for (const [key, v] of Object.entries(value)) {
      const current: unknown = node.get(key, true);
      const next = current === undefined ? fresh(doc, v) : reconcile(doc, current, v);
      if (next !== current) node.set(key, next);
    }
    return node;
  }
  if (isSeq(node) && Array.isArray(value) && !isEmptyFlow(node)) {
    node.items.splice(value.length);
    value.forEach((v, i) => {
      const current = node.items[i];
      node.items[i] = current === undefined ? styledLike(fresh(doc, v), node.items[i - 1]) : reconcile(doc, current, v);
    });
    return node;
  }
  return fresh(doc, value);
}
