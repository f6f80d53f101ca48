/** Line numbers for paths inside parsed YAML documents, so errors point at the line to edit. */
import { isMap, isScalar, isSeq, type Document, type LineCounter, type YAMLError } from 'yaml';

/** `spec.rules[0].id` → ['spec','rules',0,'id']; `metadata.annotations["a/b"]` keeps the quoted key whole. */
export function pathToKeys(path: string): (string | number)[] {
  const keys: (string | number)[] = [];
  for (const m of path.matchAll(/\["([^"]*)"\]|\[(\d+)\]|([^.[\]]+)/g)) {
    if (m[1] !== undefined) keys.push(m[1]);
    else if (m[2] !== undefined) keys.push(Number(m[2]));
    else keys.push(m[3]!);
  }
  return keys;
}

/** Appends a map key to a path, quoting keys that `pathToKeys` would otherwise split (`nvidia.com/gpu`). */
export function childPath(base: string, key: string): string {
  const segment = /^[A-Za-z_$][\w$-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return base === '' || base.startsWith('(') ? segment.replace(/^\./, '') : `${base}${segment}`;
}

type Range = [number, number, number];

function rangeOf(node: unknown): Range | undefined {
  return (node as { range?: Range } | null | undefined)?.range ?? undefined;
}

/**
 * Start offset of the entry at `keys`: for a map entry the key's offset, because a block value starts on
 * the line after its key and people look for the key; for a sequence item the item's own offset.
 */
function entryStart(doc: Document, keys: readonly (string | number)[]): number | undefined {
  const parent = keys.length === 1 ? doc.contents : doc.getIn(keys.slice(0, -1), true);
  const last = keys[keys.length - 1];
  if (isMap(parent)) {
    const pair = parent.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(last));
    return pair ? (rangeOf(pair.key) ?? rangeOf(pair.value))?.[0] : undefined;
  }
  if (isSeq(parent) && typeof last === 'number') return rangeOf(parent.items[last])?.[0];
  return undefined;
}

/** 1-based line of the field at `path`, or of its nearest existing ancestor (a missing field points at its parent). */
export function lineOf(doc: Document, counter: LineCounter, path: string): number | undefined {
  const keys = path.startsWith('(') ? [] : pathToKeys(path);
  for (let n = keys.length; n >= 0; n--) {
    const start = n === 0 ? rangeOf(doc.contents)?.[0] : entryStart(doc, keys.slice(0, n));
    if (start !== undefined) return counter.linePos(start).line;
  }
  return undefined;
}

/** 1-based line of a YAML syntax error; `linePos` is only filled in with `prettyErrors`, `pos` always is. */
export function errorLine(err: YAMLError, counter: LineCounter): number | undefined {
  const line = err.linePos?.[0]?.line;
  if (line !== undefined) return line;
  const offset = err.pos?.[0];
  return offset === undefined ? undefined : counter.linePos(offset).line;
}
