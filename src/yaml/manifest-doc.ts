/**
 * Release manifests as text: Helm's `---\n# Source: <chart>/templates/<file>\n<yaml>\n` documents, split
 * into `yaml` Documents and written back so that comments, quoting and layout survive — an unchanged
 * document byte for byte, a changed one by splicing only the changed nodes' text. Pure.
 */
import { Document, isCollection, isMap, isNode, isScalar, isSeq, parseDocument, YAMLMap, YAMLSeq } from 'yaml';
import type { Node, Pair, ToStringOptions } from 'yaml';
import { jsonEqual } from '../workload/template-diff.js';
import { keyOf, renderScalar } from './node-edit.js';

/** One document of a manifest, with the exact text it was split from. */
export interface ManifestPart {
  /** Chart path from the `# Source:` header, e.g. `web/templates/deployment.yaml`. */
  source?: string;
  /** The parsed document; edit it in place, then {@link joinManifest}. */
  doc: Document;
  /** The separator line and `# Source:` line exactly as in the input (empty before the first `---`). */
  readonly header: string;
  /** The document text exactly as in the input. */
  readonly body: string;
  /** `doc` serialised when split; a part whose doc still serialises the same is written back verbatim. */
  readonly snapshot: string;
}


const SEPARATOR = /^---[ \t]*\r?$/;
const SOURCE_HEADER = /^# Source: (.*?)\r?$/;
// No folding of long strings (image refs, annotations): a re-serialised line must equal the original.
export const BASE_FORMAT: ToStringOptions = { lineWidth: 0, minContentWidth: 0 };
// The layouts charts commonly use; new nodes are rendered in the one closest to the document's text.
const FORMATS: ToStringOptions[] = [true, false].flatMap((indentSeq) =>
  [true, false].flatMap((flowCollectionPadding) => [2, 4].map((indent) => ({ ...BASE_FORMAT, indentSeq, flowCollectionPadding, indent }))),
);


/** The document as text in `format`; undefined when it has errors or cannot be written. */
export function toText(doc: Document, format: ToStringOptions = BASE_FORMAT): string | undefined {
  if (doc.errors.length > 0) return undefined;
  try {
    return doc.toString(format);
  } catch {
    return undefined;
  }
}

function makePart(header: string, body: string, source: string | undefined): ManifestPart {
  const doc = parseDocument(body);
  const part: ManifestPart = { doc, header, body, snapshot: toText(doc) ?? '' };
  if (source !== undefined) part.source = source;
  return part;
}

/**
 * Splits a release manifest at its `---` lines, keeping each `# Source:` header. Text before the
 * first separator becomes a part with an empty header; a part whose YAML is broken keeps `doc.errors`
 * and is written back untouched.
 */
export function splitManifest(manifest: string): ManifestPart[] {
  const lines = manifest.split(/(?<=\n)/);
  const parts: ManifestPart[] = [];
  let header = '';
  let body = '';
  let source: string | undefined;
  let started = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (!SEPARATOR.test(line.replace(/\n$/, ''))) {
      body += line;
      continue;
    }
    if (started || body !== '') parts.push(makePart(header, body, source));
    started = true;
    header = line;
    body = '';
    source = undefined;
    const match = SOURCE_HEADER.exec((lines[i + 1] ?? '').replace(/\n$/, ''));
    if (match) {
      header += lines[i + 1];
      source = match[1];
      i++;
    }
  }
  if (started || body !== '') parts.push(makePart(header, body, source));
  return parts;
}


/**
 * Writes parts back. Unchanged documents come out byte-for-byte. In a changed one, only the changed
 * nodes' source text is rewritten (a scalar token, an added/removed/replaced key or list item, at the
 * indentation of its siblings); whatever cannot be placed that way falls back to re-serialising the
 * document in the layout closest to its original.
 */
export function joinManifest(parts: readonly ManifestPart[]): string {
  return parts.map((p) => p.header + bodyOf(p)).join('');
}

function bodyOf(part: ManifestPart): string {
  const now = toText(part.doc);
  if (now === undefined || now === part.snapshot) return part.body;
  const base = parseDocument(part.body);
  const format = closestFormat(base, part.body);
  const splice: Splice = { text: part.body, format, edits: [], crlf: part.body.includes('\r\n') };
  if (diffNode(splice, base.contents, part.doc.contents) === 'same') {
    let out = part.body;
    // Back to front; at one offset, cuts before inserts and later (outer) inserts before earlier (inner) ones,
    // so the text comes out in document order.
    const edits = splice.edits.map((edit, i) => ({ ...edit, i })).sort((a, b) => b.start - a.start || b.end - a.end || b.i - a.i);
    for (const edit of edits) out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
    if (sameContent(out, now)) return out;
  }
  return toText(part.doc, format) ?? part.body;
}

/** A document's original text, the layout to render new nodes in, and the edits collected so far. */
interface Splice {
  text: string;
  format: ToStringOptions;
  edits: { start: number; end: number; text: string }[];
  crlf: boolean;
}

type Verdict = 'same' | 'replace' | 'fail';

function closestFormat(doc: Document, text: string): ToStringOptions {
  const lines = new Set(text.replace(/\r\n/g, '\n').split('\n'));
  let best = BASE_FORMAT;
  let bestScore = -1;
  for (const format of FORMATS) {
    const out = toText(doc, format);
    if (out === undefined) continue;
    const score = out.split('\n').filter((line) => lines.has(line)).length;
    if (score > bestScore) [best, bestScore] = [format, score];
  }
  return best;
}

function sameContent(a: string, b: string): boolean {
  const da = parseDocument(a);
  const db = parseDocument(b);
  if (da.errors.length > 0 || db.errors.length > 0) return false;
  try {
    return jsonEqual(da.toJS(), db.toJS());
  } catch {
    // toJS refuses alias bombs (maxAliasCount): treat as not provably the same.
    return false;
  }
}

function lineStart(text: string, pos: number): number {
  return text.lastIndexOf('\n', pos - 1) + 1;
}

function rangeOf(node: unknown): [number, number, number] | undefined {
  const range = (node as { range?: [number, number, number] | null } | null)?.range;
  return range ?? undefined;
}

/** The same parsed node in both trees: same start offset, same kind and style. */
function sameNode(a: unknown, b: unknown): boolean {
  const ra = rangeOf(a);
  const rb = rangeOf(b);
  if (!ra || !rb || ra[0] !== rb[0]) return false;
  if (isScalar(a)) return isScalar(b);
  if (isMap(a)) return isMap(b) && !!a.flow === !!b.flow;
  return isSeq(a) && isSeq(b) && !!a.flow === !!b.flow;
}

/**
 * `node` rendered as a document of its own, each line indented by `col` spaces. The comment and blank
 * line before `lead` (the entry's key or item) are left out: they are still in the original text.
 */
function renderBlock(splice: Splice, node: Node, col: number, lead?: unknown): string | undefined {
  const tmp = new Document();
  tmp.contents = node;
  const leading = isNode(lead) ? lead : undefined;
  const saved = leading && { commentBefore: leading.commentBefore, spaceBefore: leading.spaceBefore };
  if (leading) [leading.commentBefore, leading.spaceBefore] = [undefined, undefined];
  const out = toText(tmp, splice.format);
  if (leading && saved) [leading.commentBefore, leading.spaceBefore] = [saved.commentBefore, saved.spaceBefore];
  if (out === undefined) return undefined;
  const pad = ' '.repeat(col);
  const text = out.replace(/^(?=.)/gm, pad);
  return splice.crlf ? text.replace(/\n/g, '\r\n') : text;
}

/** Collects the edits turning node `a` (original) into node `b` (edited); `replace` asks the parent to rewrite it whole. */
function diffNode(splice: Splice, a: unknown, b: unknown): Verdict {
  if (a === null || a === undefined || b === null || b === undefined) return a === b ? 'same' : 'replace';
  if (!sameNode(a, b)) return 'replace';
  const range = rangeOf(a) as [number, number, number];
  if (isScalar(a) && isScalar(b)) {
    if (a.value === b.value && (a.type ?? 'PLAIN') === (b.type ?? 'PLAIN')) return 'same';
    const text = a.tag || b.tag ? undefined : renderScalar(b.value, b.type ?? a.type);
    if (text === undefined) return 'replace';
    splice.edits.push({ start: range[0], end: range[1], text });
    return 'same';
  }
  if (isCollection(a) && isCollection(b) && a.flow) {
    const text = renderBlock(splice, b as Node, 0)?.trimEnd();
    if (text === renderBlock(splice, a as Node, 0)?.trimEnd()) return 'same';
    if (text === undefined || /\n/.test(text)) return 'replace';
    splice.edits.push({ start: range[0], end: range[1], text });
    return 'same';
  }
  if (isMap(a) && isMap(b)) return b.items.length === 0 ? 'replace' : diffMap(splice, a, b);
  if (isSeq(a) && isSeq(b)) return b.items.length === 0 ? 'replace' : diffSeq(splice, a, b);
  return 'fail';
}

/** Where a block entry's text starts: its line, which must hold nothing before it but indentation (and its `-`). */
function entryStart(text: string, pos: number, dash: boolean): number | undefined {
  const start = lineStart(text, pos);
  const prefix = text.slice(start, pos);
  return (dash ? /^[ \t]*-[ \t]+$/ : /^[ \t]*$/).test(prefix) ? start : undefined;
}

/** How {@link diffEntries} reads one kind of block entry (map pair or sequence item). */
interface EntryOps<T> {
  match(item: T): T | undefined;
  /** Start of the entry's text, undefined when it shares its line with something else. */
  start(item: T): number | undefined;
  end(item: T): number;
  inner(old: T, now: T): Verdict;
  render(item: T): string | undefined;
}

/**
 * Edits for block entries matched between the original and the edited collection: entries gone are
 * cut, new ones inserted after their predecessor at the siblings' column, kept ones diffed or rewritten.
 */
function diffEntries<T>(splice: Splice, before: readonly T[], after: readonly T[], ops: EntryOps<T>): Verdict {
  let anchor = before[0] === undefined ? undefined : ops.start(before[0]);
  let pending = '';
  const flush = (): boolean => {
    if (pending === '') return true;
    if (anchor === undefined) return false;
    if (anchor === splice.text.length && !splice.text.endsWith('\n')) pending = (splice.crlf ? '\r\n' : '\n') + pending;
    splice.edits.push({ start: anchor, end: anchor, text: pending });
    pending = '';
    return true;
  };
  const kept = new Set<T>();
  for (const item of after) {
    const old = ops.match(item);
    if (old === undefined) {
      const text = ops.render(item);
      if (text === undefined) return 'fail';
      pending += text;
      continue;
    }
    kept.add(old);
    if (!flush()) return 'fail';
    const verdict = ops.inner(old, item);
    const start = ops.start(old);
    if (verdict === 'fail' || (verdict === 'replace' && start === undefined)) return 'fail';
    if (verdict === 'replace') {
      const text = ops.render(item);
      if (text === undefined || start === undefined) return 'fail';
      splice.edits.push({ start, end: ops.end(old), text });
    }
    anchor = ops.end(old);
  }
  if (!flush()) return 'fail';
  for (const [i, old] of before.entries()) {
    if (kept.has(old)) continue;
    const start = ops.start(old);
    if (start === undefined) return 'fail';
    // Only blank and comment lines lie between two entries: they describe the one cut, so they go too.
    const previous = i > 0 ? ops.end(before[i - 1] as T) : start;
    splice.edits.push({ start: Math.min(previous, start), end: ops.end(old), text: '' });
  }
  return 'same';
}

function diffMap(splice: Splice, a: YAMLMap, b: YAMLMap): Verdict {
  const firstKey = rangeOf(a.items[0]?.key);
  if (!firstKey) return 'fail';
  const col = firstKey[0] - lineStart(splice.text, firstKey[0]);
  const { text } = splice;
  return diffEntries<Pair>(splice, a.items, b.items, {
    match: (pair) => a.items.find((p) => keyOf(p) !== undefined && keyOf(p) === keyOf(pair)),
    start: (pair) => {
      const key = rangeOf(pair.key);
      return key && entryStart(text, key[0], false);
    },
    end: (pair) => {
      const end = rangeOf(pair.value)?.[2] ?? text.indexOf('\n', rangeOf(pair.key)?.[1] ?? 0) + 1;
      return end > 0 ? end : text.length;
    },
    inner: (old, now) => diffNode(splice, old.value, now.value),
    render: (pair) => {
      const single = new YAMLMap();
      single.items.push(pair);
      return renderBlock(splice, single, col, pair.key);
    },
  });
}

function diffSeq(splice: Splice, a: YAMLSeq, b: YAMLSeq): Verdict {
  const first = rangeOf(a.items[0]);
  const { text } = splice;
  const dash = first && /^([ \t]*)-[ \t]+$/.exec(text.slice(lineStart(text, first[0]), first[0]));
  if (!dash) return 'fail';
  const col = dash[1]?.length ?? 0;
  return diffEntries<unknown>(splice, a.items, b.items, {
    match: (item) => a.items.find((old) => sameNode(old, item)),
    start: (item) => {
      const range = rangeOf(item);
      return range && entryStart(text, range[0], true);
    },
    end: (item) => rangeOf(item)?.[2] ?? text.length,
    inner: (old, now) => diffNode(splice, old, now),
    render: (item) => {
      const single = new YAMLSeq();
      single.items.push(item);
      return renderBlock(splice, single, col, item);
    },
  });
}

