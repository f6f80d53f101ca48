/**
 * Release manifests: Helm's `---\n# Source: <chart>/templates/<file>\n<yaml>\n` documents, edited with the
 * `yaml` Document API so comments, quoting and layout survive. A recorded revision's manifest is the
 * previous one with only the out-of-band change patched in — never the live object: anything extra in a
 * stored manifest (defaults, status, uid) turns into deletions when Helm later rolls back to another
 * revision. Pure: no I/O, nothing here throws on user data.
 */
import { Document, isCollection, isMap, isNode, isScalar, isSeq, parse, parseDocument, visit, YAMLMap, YAMLSeq } from 'yaml';
import type { Node, Pair, Scalar, ToStringOptions } from 'yaml';
import { isRecord, type KubeObject, type PodTemplate } from '../k8s/types.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { isWorkloadKind, templatePathPrefix } from '../workload/pod-template.js';
import { jsonEqual, RESTARTED_AT } from '../workload/template-diff.js';

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

/** Picks an element of a list by a key field, e.g. `containers[name=web]`, `volumeMounts[mountPath=/data]`. */
export interface KeyedSegment {
  key: string;
  value: string | number;
}

/** A step into the pod template: a map key, or a keyed list element. */
export type PathSegment = string | KeyedSegment;

/** One field-level change of the pod template, path relative to the template (`metadata`, `spec`). */
export interface FieldChange {
  op: 'set' | 'remove';
  path: PathSegment[];
  /** New value for `set`, apiserver defaults removed. */
  value?: unknown;
  /** For a list element that is new: the key of the element it follows (`null`: first). */
  after?: string | number | null;
}

/**
 * What changed between two live pod templates, as field-level operations: images, resources, env
 * entries (by name), command/args, containers added/removed, template labels/annotations, and any other
 * template field. Fields equal in both templates, apiserver defaults and kubectl's restartedAt are absent.
 */
export interface TemplateChange {
  changes: FieldChange[];
}

/** Result of {@link patchWorkload}: the manifest and, per change, whether it made it in. */
export interface PatchResult {
  manifest: string;
  /** Changes now reflected in the manifest, e.g. `set spec.template.spec.containers[name=web].image`. */
  applied: string[];
  /** Changes that could not be placed, each with the reason after `: `. */
  skipped: string[];
}

/** Options of {@link adoptionManifest}. */
export interface AdoptionOptions {
  /** Chart name for the `# Source:` header; defaults to the workload's name. */
  chart?: string;
  /** Prefix of tracegate's own annotations, dropped from the manifest (default `tracegate.io/`). */
  annotationPrefix?: string;
}

const SEPARATOR = /^---[ \t]*\r?$/;
const SOURCE_HEADER = /^# Source: (.*?)\r?$/;
// No folding of long strings (image refs, annotations): a re-serialised line must equal the original.
const BASE_FORMAT: ToStringOptions = { lineWidth: 0, minContentWidth: 0 };
// The layouts charts commonly use; new nodes are rendered in the one closest to the document's text.
const FORMATS: ToStringOptions[] = [true, false].flatMap((indentSeq) =>
  [true, false].flatMap((flowCollectionPadding) => [2, 4].map((indent) => ({ ...BASE_FORMAT, indentSeq, flowCollectionPadding, indent }))),
);

/** List fields of a pod template whose elements are matched by a key, as strategic merge patch does. */
const LIST_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  resourceClaims: 'name',
  schedulingGates: 'name',
  ports: 'containerPort',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  hostAliases: 'ip',
  resizePolicy: 'resourceName',
};

// Apiserver defaults (SetDefaults_* in k8s.io/kubernetes pkg/apis/{core,apps}/v1/defaults.go).
const POD_SPEC_DEFAULTS: Readonly<Record<string, unknown>> = {
  restartPolicy: 'Always',
  dnsPolicy: 'ClusterFirst',
  schedulerName: 'default-scheduler',
  terminationGracePeriodSeconds: 30,
};
const CONTAINER_DEFAULTS: Readonly<Record<string, unknown>> = {
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
};
const PROBE_DEFAULTS: Readonly<Record<string, unknown>> = { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 };
const DEPLOYMENT_SPEC_DEFAULTS: Readonly<Record<string, unknown>> = { revisionHistoryLimit: 10, progressDeadlineSeconds: 600 };
// 0644: the mode the apiserver gives configMap/secret/projected/downwardAPI volume files.
const DEFAULT_VOLUME_MODE = 420;
// apps/v1 gives RollingUpdate this for both maxSurge and maxUnavailable.
const DEFAULT_MAX_SURGE_UNAVAILABLE = '25%';

// ---------------------------------------------------------------------------------------------------
// Split and join

function toText(doc: Document, format: ToStringOptions = BASE_FORMAT): string | undefined {
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

function plainSafe(s: string): boolean {
  if (s === '' || /[\n\r\t,[\]{}]/.test(s) || s.trim() !== s) return false;
  try {
    return parse(s) === s && parse(s, { version: '1.1' }) === s;
  } catch {
    return false;
  }
}

/** Source text for a scalar in the given style; undefined for styles that are not one token (block scalars). */
function renderScalar(value: unknown, type: Scalar['type']): string | undefined {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') return undefined;
  if (type === 'QUOTE_SINGLE' && !/[\n\r]/.test(value)) return `'${value.replace(/'/g, "''")}'`;
  if (type === 'QUOTE_DOUBLE' || type === 'QUOTE_SINGLE') return JSON.stringify(value);
  if (type !== undefined && type !== 'PLAIN') return undefined;
  return plainSafe(value) ? value : JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------------
// Finding and patching the workload

/**
 * The document of `kind` named `name`. A document without `metadata.namespace` (the usual case: Helm
 * applies it to the release namespace) matches any namespace.
 */
export function findWorkloadDoc(parts: readonly ManifestPart[], kind: string, name: string, namespace?: string): ManifestPart | undefined {
  return parts.find((p) => {
    if (p.doc.errors.length > 0 || !isMap(p.doc.contents)) return false;
    if (p.doc.get('kind') !== kind || p.doc.getIn(['metadata', 'name']) !== name) return false;
    const ns = p.doc.getIn(['metadata', 'namespace']);
    return namespace === undefined || ns === undefined || ns === null || ns === namespace;
  });
}

function templateRoot(doc: Document, kind: string): YAMLMap | undefined {
  if (!isWorkloadKind(kind)) return undefined;
  const path = templatePathPrefix(kind).split('.').filter(Boolean);
  const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
  return isMap(node) ? node : undefined;
}

function describePath(kind: string, path: readonly PathSegment[]): string {
  let out = templatePathPrefix(kind).replace(/\.$/, '');
  for (const seg of path) {
    if (typeof seg !== 'string') out += `[${seg.key}=${seg.value}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** `set spec.template.spec.containers[name=web].image`: how a change is named in applied/skipped. */
export function describeFieldChange(kind: string, change: FieldChange): string {
  return `${change.op} ${describePath(kind, change.path)}`;
}

/**
 * Patches the pod template of the `kind`/`name` document of `manifest` with `change`. Containers and
 * other keyed list elements are matched by key; existing nodes are edited in place (quoting kept). A
 * manifest without that document comes back unchanged with every change skipped.
 */
export function patchWorkload(manifest: string, kind: string, name: string, change: TemplateChange, namespace?: string): PatchResult {
  const labels = change.changes.map((c) => describeFieldChange(kind, c));
  const parts = splitManifest(manifest);
  const part = findWorkloadDoc(parts, kind, name, namespace);
  const root = part && templateRoot(part.doc, kind);
  if (!part || !root) {
    const why = part ? `the ${kind} document has no pod template` : `no ${kind} ${name} in the manifest`;
    return { manifest, applied: [], skipped: labels.map((l) => `${l}: ${why}`) };
  }
  const applied: string[] = [];
  const skipped: string[] = [];
  change.changes.forEach((c, i) => {
    const label = labels[i] ?? '';
    const reason = applyChange(part.doc, root, c, kind);
    if (reason === undefined) applied.push(label);
    else skipped.push(`${label}: ${reason}`);
  });
  return { manifest: applied.length > 0 ? joinManifest(parts) : manifest, applied, skipped };
}

function keyOf(pair: Pair): string | undefined {
  const key: unknown = pair.key;
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}

function indexByKey(seq: YAMLSeq, seg: KeyedSegment): number {
  return seq.items.findIndex((item) => {
    if (!isMap(item)) return false;
    const key: unknown = item.get(seg.key, true);
    return isScalar(key) && String(key.value) === String(seg.value);
  });
}

function childOf(node: unknown, seg: PathSegment): unknown {
  if (typeof seg === 'string') return isMap(node) ? node.get(seg, true) : undefined;
  if (!isSeq(node)) return undefined;
  return node.items[indexByKey(node, seg)];
}

function isEmptyFlow(node: unknown): boolean {
  return isCollection(node) && node.flow === true && node.items.length === 0;
}

/** Applies one change; returns why it could not be, or undefined when the manifest now reflects it. */
function applyChange(doc: Document, root: YAMLMap, change: FieldChange, kind: string): string | undefined {
  const { path } = change;
  let node: YAMLMap | YAMLSeq = root;
  for (let i = 0; i < path.length - 1; i++) {
    const seg = path[i] as PathSegment;
    let child = childOf(node, seg);
    const missing = child === undefined || child === null || isEmptyFlow(child);
    // A missing or empty parent means there is nothing to remove.
    if (missing && change.op === 'remove') return undefined;
    if (missing) {
      // Only map keys can be created; check the whole rest of the path first so a skipped change leaves no trace.
      const creatable = typeof seg === 'string' && isMap(node) && path.slice(i + 1, -1).every((s) => typeof s === 'string');
      if (!creatable) return `${describePath(kind, path.slice(0, i + 1))} is not in the manifest`;
      child = typeof path[i + 1] === 'string' ? new YAMLMap() : new YAMLSeq();
      node.set(seg, child);
    }
    if (!isMap(child) && !isSeq(child)) return `${describePath(kind, path.slice(0, i + 1))} is not a mapping or list in the manifest`;
    node = child;
  }
  const last = path[path.length - 1];
  if (last === undefined) return 'empty path';
  if (typeof last === 'string') {
    if (!isMap(node)) return `${describePath(kind, path.slice(0, -1))} is not a mapping in the manifest`;
    if (change.op === 'remove') {
      node.items = node.items.filter((pair) => keyOf(pair) !== last);
      return undefined;
    }
    const current: unknown = node.get(last, true);
    const next = current === undefined ? fresh(doc, change.value) : reconcile(doc, current, change.value);
    if (next !== current) node.set(last, next);
    return undefined;
  }
  if (!isSeq(node)) return `${describePath(kind, path.slice(0, -1))} is not a list in the manifest`;
  const index = indexByKey(node, last);
  if (change.op === 'remove') {
    if (index >= 0) node.items.splice(index, 1);
    return undefined;
  }
  if (index >= 0) {
    node.items[index] = reconcile(doc, node.items[index], change.value);
    return undefined;
  }
  let at = node.items.length;
  if (change.after === null) at = 0;
  else if (change.after !== undefined) {
    const prev = indexByKey(node, { key: last.key, value: change.after });
    if (prev >= 0) at = prev + 1;
  }
  node.items.splice(at, 0, fresh(doc, change.value));
  return undefined;
}

/**
 * Go's YAML (sigs.k8s.io/yaml, YAML 1.1 rules) reads plain `yes`, `on`, `0755` … as non-strings, while
 * the `yaml` package writes them plain under YAML 1.2: quote such strings.
 */
function quoteIfAmbiguous(node: Scalar): void {
  if (typeof node.value !== 'string' || (node.type !== undefined && node.type !== 'PLAIN')) return;
  let read: unknown;
  try {
    read = parse(node.value, { version: '1.1' });
  } catch {
    read = undefined;
  }
  if (read !== node.value) node.type = 'QUOTE_DOUBLE';
}

function fresh(doc: Document, value: unknown): Node {
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
function reconcile(doc: Document, node: unknown, value: unknown): Node {
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

// ---------------------------------------------------------------------------------------------------
// Template changes, apiserver defaults removed

/** A deep copy without null/undefined map values (older apiservers emit `creationTimestamp: null`). */
function cleanCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cleanCopy);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = cleanCopy(v);
  return out;
}

function dropDefaults(obj: unknown, defaults: Readonly<Record<string, unknown>>): void {
  if (!isRecord(obj)) return;
  for (const [k, v] of Object.entries(defaults)) if (obj[k] === v) delete obj[k];
}

function dropIfEmpty(obj: Record<string, unknown>, key: string): void {
  const v = obj[key];
  if (isRecord(v) && Object.keys(v).length === 0) delete obj[key];
}

function records(list: unknown): Record<string, unknown>[] {
  return Array.isArray(list) ? list.filter(isRecord) : [];
}

/** What the apiserver sets when `imagePullPolicy` is empty: Always for `:latest` or no tag/digest. */
function defaultPullPolicy(image: unknown): string | undefined {
  if (typeof image !== 'string') return undefined;
  const [name = '', digest] = image.split('@');
  const last = name.slice(name.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  const tag = colon >= 0 ? last.slice(colon + 1) : digest ? '' : 'latest';
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function stripHandler(handler: unknown): void {
  if (isRecord(handler) && isRecord(handler.httpGet)) dropDefaults(handler.httpGet, { scheme: 'HTTP' });
}

function stripContainer(c: Record<string, unknown>): void {
  dropDefaults(c, CONTAINER_DEFAULTS);
  if (c.imagePullPolicy === defaultPullPolicy(c.image)) delete c.imagePullPolicy;
  dropIfEmpty(c, 'resources');
  for (const port of records(c.ports)) dropDefaults(port, { protocol: 'TCP' });
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    dropDefaults(c[probe], PROBE_DEFAULTS);
    stripHandler(c[probe]);
  }
  if (isRecord(c.lifecycle)) for (const hook of Object.values(c.lifecycle)) stripHandler(hook);
  for (const env of records(c.env)) {
    const from = env.valueFrom;
    if (!isRecord(from)) continue;
    dropDefaults(from.fieldRef, { apiVersion: 'v1' });
    dropDefaults(from.resourceFieldRef, { divisor: '0' });
  }
}

function stripVolume(v: Record<string, unknown>): void {
  for (const source of ['configMap', 'secret', 'projected', 'downwardAPI']) dropDefaults(v[source], { defaultMode: DEFAULT_VOLUME_MODE });
  dropDefaults(v.hostPath, { type: '' });
  if (isRecord(v.downwardAPI)) for (const item of records(v.downwardAPI.items)) dropDefaults(item.fieldRef, { apiVersion: 'v1' });
}

/**
 * A copy of a live pod template without what the apiserver filled in (terminationMessagePath/Policy,
 * imagePullPolicy when it is the default for the image, restartPolicy Always, dnsPolicy ClusterFirst,
 * schedulerName, empty securityContext/resources, terminationGracePeriodSeconds 30, probe/port/volume
 * defaults, the serviceAccount mirror, creationTimestamp) and without kubectl's restartedAt annotation.
 */
export function withoutTemplateDefaults(template: PodTemplate | Record<string, unknown> | undefined): Record<string, unknown> {
  const out = cleanCopy(template ?? {}) as Record<string, unknown>;
  if (isRecord(out.metadata)) {
    const meta = out.metadata;
    delete meta.creationTimestamp;
    if (isRecord(meta.annotations)) delete meta.annotations[RESTARTED_AT];
    dropIfEmpty(meta, 'annotations');
    dropIfEmpty(out, 'metadata');
  }
  const spec = out.spec;
  if (isRecord(spec)) {
    dropDefaults(spec, POD_SPEC_DEFAULTS);
    dropIfEmpty(spec, 'securityContext');
    if (spec.serviceAccount === spec.serviceAccountName) delete spec.serviceAccount;
    for (const list of ['containers', 'initContainers', 'ephemeralContainers']) records(spec[list]).forEach(stripContainer);
    records(spec.volumes).forEach(stripVolume);
  }
  return out;
}

function keyedBy(list: readonly unknown[], key: string): list is Record<string, unknown>[] {
  const seen = new Set<string>();
  for (const item of list) {
    if (!isRecord(item)) return false;
    const k = item[key];
    if ((typeof k !== 'string' && typeof k !== 'number') || seen.has(String(k))) return false;
    seen.add(String(k));
  }
  return true;
}

function diffValue(oldV: unknown, newV: unknown, path: PathSegment[], out: FieldChange[]): void {
  if (jsonEqual(oldV, newV)) return;
  if (!isRecord(oldV) || !isRecord(newV)) {
    out.push({ op: 'set', path, value: newV });
    return;
  }
  for (const key of Object.keys(oldV)) if (!Object.hasOwn(newV, key)) out.push({ op: 'remove', path: [...path, key] });
  for (const [key, value] of Object.entries(newV)) {
    if (!Object.hasOwn(oldV, key)) out.push({ op: 'set', path: [...path, key], value });
    else diffField(key, oldV[key], value, [...path, key], out);
  }
}

function diffField(field: string, oldV: unknown, newV: unknown, path: PathSegment[], out: FieldChange[]): void {
  const key = LIST_KEYS[field];
  if (!key || !Array.isArray(oldV) || !Array.isArray(newV) || !keyedBy(oldV, key) || !keyedBy(newV, key)) {
    diffValue(oldV, newV, path, out);
    return;
  }
  const before = new Map(oldV.map((item) => [String(item[key]), item]));
  const after = new Set(newV.map((item) => String(item[key])));
  for (const item of oldV) {
    if (!after.has(String(item[key]))) out.push({ op: 'remove', path: [...path, { key, value: item[key] as string | number }] });
  }
  newV.forEach((item, i) => {
    const seg: KeyedSegment = { key, value: item[key] as string | number };
    const prev = before.get(String(item[key]));
    if (prev) diffValue(prev, item, [...path, seg], out);
    else out.push({ op: 'set', path: [...path, seg], value: item, after: i === 0 ? null : (newV[i - 1]?.[key] as string | number) });
  });
}

/**
 * The field-level difference between two live pod templates (old → new). Both are stripped of
 * apiserver defaults first, so defaults never reach a manifest, even inside a new container.
 */
export function templateChange(oldTemplate: PodTemplate | undefined, newTemplate: PodTemplate | undefined): TemplateChange {
  const changes: FieldChange[] = [];
  diffValue(withoutTemplateDefaults(oldTemplate), withoutTemplateDefaults(newTemplate), [], changes);
  return { changes };
}

// ---------------------------------------------------------------------------------------------------
// Adoption

function isBookkeeping(key: string, prefix: string): boolean {
  return (
    key.startsWith('kubectl.kubernetes.io/') ||
    key.startsWith('deployment.kubernetes.io/') ||
    key.startsWith('meta.helm.sh/') ||
    key === 'kubernetes.io/change-cause' ||
    (prefix !== '' && key.startsWith(prefix))
  );
}

function filtered(map: unknown, prefix: string): Record<string, unknown> | undefined {
  if (!isRecord(map)) return undefined;
  const out = Object.fromEntries(Object.entries(map).filter(([k]) => !isBookkeeping(k, prefix)));
  return Object.keys(out).length > 0 ? out : undefined;
}

function isDefaultStrategy(strategy: unknown): boolean {
  if (!isRecord(strategy)) return strategy === undefined;
  if (strategy.type !== undefined && strategy.type !== 'RollingUpdate') return false;
  const ru = strategy.rollingUpdate;
  if (ru === undefined) return Object.keys(strategy).every((k) => k === 'type');
  if (!isRecord(ru) || Object.keys(strategy).some((k) => k !== 'type' && k !== 'rollingUpdate')) return false;
  return Object.entries(ru).every(([k, v]) => (k === 'maxSurge' || k === 'maxUnavailable') && v === DEFAULT_MAX_SURGE_UNAVAILABLE);
}

/**
 * A one-document manifest for a workload that belongs to no release, as a chart would render it:
 * apiVersion, kind, metadata (name, labels and annotations without kubectl/Helm/tracegate bookkeeping;
 * no namespace — Helm applies it to the release namespace, which must be the workload's), and the spec
 * without status, identity or apiserver defaults.
 */
export function adoptionManifest(live: KubeObject, opts: AdoptionOptions = {}): string {
  const name = live.metadata?.name ?? 'workload';
  const kind = live.kind ?? 'Deployment';
  const prefix = opts.annotationPrefix ?? DEFAULT_ANNOTATION_PREFIX;
  const metadata: Record<string, unknown> = { name };
  const labels = filtered(live.metadata?.labels, prefix);
  const annotations = filtered(live.metadata?.annotations, prefix);
  if (labels) metadata.labels = labels;
  if (annotations) metadata.annotations = annotations;

  const spec = cleanCopy(live.spec ?? {}) as Record<string, unknown>;
  dropDefaults(spec, DEPLOYMENT_SPEC_DEFAULTS);
  if (isDefaultStrategy(spec.strategy)) delete spec.strategy;
  if (isRecord(spec.template)) spec.template = withoutTemplateDefaults(spec.template);

  const doc = new Document({ apiVersion: live.apiVersion ?? 'apps/v1', kind, metadata, spec });
  visit(doc, { Scalar: (_key, scalar) => quoteIfAmbiguous(scalar) });
  const chart = opts.chart ?? name;
  return `---\n# Source: ${chart}/templates/${kind.toLowerCase()}.yaml\n${doc.toString(BASE_FORMAT)}`;
}
