/** Line numbers for paths inside parsed YAML documents, so errors point at the line to edit. */
import type { Document, LineCounter } from 'yaml';

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

/** 1-based line of the node at `path`, or of its nearest existing ancestor (a missing field points at its parent). */
export function lineOf(doc: Document, counter: LineCounter, path: string): number | undefined {
  const keys = path.startsWith('(') ? [] : pathToKeys(path);
  for (let n = keys.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(keys.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return counter.linePos(range[0]).line;
  }
  return undefined;
}
