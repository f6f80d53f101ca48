/**
 * Patching the workload document of a release manifest with a template change: containers and other
 * keyed list elements are matched by key; existing nodes are edited in place (quoting kept). Pure.
 */
import { Document, isMap, isScalar, isSeq, YAMLMap, YAMLSeq } from 'yaml';
import { isWorkloadKind, templatePathPrefix } from '../workload/pod-template.js';
import { joinManifest, splitManifest, type ManifestPart } from '../yaml/manifest-doc.js';
import { fresh, isEmptyFlow, keyOf, reconcile } from '../yaml/node-edit.js';
import type { FieldChange, KeyedSegment, PathSegment, TemplateChange } from './template-change.js';

/** Result of {@link patchWorkload}: the manifest and, per change, whether it made it in. */
export interface PatchResult {
  manifest: string;
  /** Changes now reflected in the manifest, e.g. `set spec.template.spec.containers[name=web].image`. */
  applied: string[];
  /** Changes that could not be placed, each with the reason after `: `. */
  skipped: string[];
}



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
 * The manifest without the `kind`/`name` document, and how many workload-bearing documents remain;
 * undefined when the manifest has no such document.
 */
export function withoutWorkloadDoc(manifest: string, kind: string, name: string, namespace?: string): { manifest: string; remaining: number } | undefined {
  const parts = splitManifest(manifest);
  const part = findWorkloadDoc(parts, kind, name, namespace);
  if (!part) return undefined;
  const rest = parts.filter((p) => p !== part);
  const remaining = rest.filter((p) => p.doc.errors.length > 0 || isMap(p.doc.contents)).length;
  return { manifest: joinManifest(rest), remaining };
}
