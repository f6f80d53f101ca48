/**
 * RFC 6902 JSON Patch with the semantics of `gopkg.in/evanphx/json-patch.v4` as kube-apiserver uses it:
 * `add` under a missing parent fails, `replace` of a missing key in an existing object succeeds,
 * `remove` of a missing key fails, `-` appends, negative indices count from the end.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Parsed } from '../../../src/errors.js';
import { isRecord } from '../../../src/k8s/types.js';

interface Op {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

class PatchError extends Error {}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`JSON pointer ${JSON.stringify(pointer)} must start with /`);
  // RFC 6901: ~1 is "/", ~0 is "~", decoded in that order.
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Resolves the container of the last segment; fails like evanphx when an intermediate is missing. */
function parentOf(doc: unknown, segments: string[], pointer: string): { parent: unknown; key: string } {
  let node = doc;
  for (const seg of segments.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(node, seg, false, pointer)];
    else if (isRecord(node) && seg in node) node = node[seg];
    else throw new PatchError(`doc is missing path: ${JSON.stringify(pointer)}: missing value`);
  }
  if (!Array.isArray(node) && !isRecord(node)) throw new PatchError(`doc is missing path: ${JSON.stringify(pointer)}: missing value`);
  return { parent: node, key: segments[segments.length - 1] ?? '' };
}

/** An index segment; `-` (append) only where inserting, negative counts from the end as evanphx v4 allows. */
function arrayIndex(arr: unknown[], seg: string, forInsert: boolean, pointer: string): number {
  if (seg === '-' && forInsert) return arr.length;
  if (!/^-?\d+$/.test(seg)) throw new PatchError(`invalid array index ${JSON.stringify(seg)} in ${pointer}`);
  let idx = Number(seg);
  if (idx < 0) idx += arr.length;
  const max = forInsert ? arr.length : arr.length - 1;
  if (idx < 0 || idx > max) throw new PatchError(`unable to access invalid index: ${seg} in ${pointer}`);
  return idx;
}

function get(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const seg of decodePointer(pointer)) {
    if (Array.isArray(node)) node = node[arrayIndex(node, seg, false, pointer)];
    else if (isRecord(node) && seg in node) node = node[seg];
    else throw new PatchError(`doc is missing path: ${JSON.stringify(pointer)}`);
  }
  return node;
}

function add(doc: unknown, pointer: string, value: unknown): unknown {
  const segments = decodePointer(pointer);
  if (segments.length === 0) return value;
  const { parent, key } = parentOf(doc, segments, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true, pointer), 0, value);
  else (parent as Record<string, unknown>)[key] = value;
  return doc;
}

function remove(doc: unknown, pointer: string): unknown {
  const segments = decodePointer(pointer);
  const { parent, key } = parentOf(doc, segments, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false, pointer), 1);
  else if (key in (parent as object)) delete (parent as Record<string, unknown>)[key];
  else throw new PatchError(`unable to remove nonexistent key: ${key}: missing value`);
  return doc;
}

function replace(doc: unknown, pointer: string, value: unknown): unknown {
  const segments = decodePointer(pointer);
  if (segments.length === 0) return value;
  const { parent, key } = parentOf(doc, segments, pointer);
  if (Array.isArray(parent)) parent[arrayIndex(parent, key, false, pointer)] = value;
  else (parent as Record<string, unknown>)[key] = value; // v4 is lenient: a missing key is simply set
  return doc;
}

/** One operation; `move` is remove + add, `copy` deep-copies, `test` compares deeply. */
function applyOp(doc: unknown, op: Op): unknown {
  switch (op.op) {
    case 'add':
      return add(doc, op.path, structuredClone(op.value));
    case 'remove':
      return remove(doc, op.path);
    case 'replace':
      return replace(doc, op.path, structuredClone(op.value));
    case 'move': {
      const value = get(doc, op.from ?? '');
      return add(remove(doc, op.from ?? ''), op.path, value);
    }
    case 'copy':
      return add(doc, op.path, structuredClone(get(doc, op.from ?? '')));
    case 'test': {
      if (!isDeepStrictEqual(get(doc, op.path), op.value)) throw new PatchError(`testing value ${op.path} failed: test failed`);
      return doc;
    }
    default:
      throw new PatchError(`Unexpected kind: ${op.op}`);
  }
}

/** Applies `ops` to a copy of `doc`. Fails with evanphx-style messages. */
export function applyJsonPatch(doc: unknown, ops: unknown): Parsed<unknown> {
  if (!Array.isArray(ops)) return { ok: false, error: 'json: cannot unmarshal object into Go value of type jsonpatch.Patch' };
  let result: unknown = structuredClone(doc);
  try {
    for (const raw of ops) {
      if (!isRecord(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') {
        throw new PatchError(`invalid operation ${JSON.stringify(raw)}`);
      }
      const op: Op = { op: raw['op'], path: raw['path'], value: raw['value'] };
      if (typeof raw['from'] === 'string') op.from = raw['from'];
      result = applyOp(result, op);
    }
  } catch (err) {
    if (err instanceof PatchError) return { ok: false, error: err.message };
    throw err;
  }
  return { ok: true, value: result };
}
