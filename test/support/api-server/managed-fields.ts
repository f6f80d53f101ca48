/**
 * `metadata.managedFields` as the apiserver's field manager keeps them (k8s.io/apiserver
 * `fieldmanager` + sigs.k8s.io/structured-merge-diff/v4 `merge/update.go`):
 * - Update (create, update, non-apply patch): the writer takes the fields it changed or added, every
 *   other manager loses them and anything removed (`Updater.Update`, force).
 * - Apply: the applier's set becomes exactly the applied configuration's fields; fields it applied
 *   last time and no longer applies are pruned unless some manager (appliers and updaters alike)
 *   still owns them — a pruned list item goes whole (`Updater.prune`); a field another manager owns
 *   that the apply would change is a conflict (409 unless `force`, which takes it over).
 * - The managedFields a request sends replace the stored ones when they decode; `[]` or `[{}]`
 *   reset them (`isResetManagedFields`), and an object without entries stays untracked until the
 *   next apply, which first gives everything to `before-first-apply` (`skipNonAppliedManager`).
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { ManagedFieldsEntry } from '../../../src/k8s/types.js';
import { compare, comparePaths, decodeFieldsV1, encodeFieldsV1, flatten, formatPath, parsePath, removePaths, toFieldSet, withNamedFields } from './field-set.js';
import { mergeApplied } from './ssa-merge.js';
import { applyConflict } from './status.js';
import type { JsonObject } from './types.js';

/** What a write looks like for managedFields. */
export interface FieldsWrite {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
  now: Date;
}

/** The manager that takes over what an object holds at its first apply after being untracked. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';

interface Managed {
  entry: ManagedFieldsEntry;
  set: Set<string>;
}

function timeNow(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`; // managedFields times have second precision
}

function entriesOf(obj: JsonObject | undefined): unknown {
  const meta = obj?.['metadata'];
  return isRecord(meta) ? meta['managedFields'] : undefined;
}

/** `DecodeManagedFields`: every entry needs operation Apply/Update, an apiVersion and fieldsType FieldsV1; else nothing decodes. */
function decode(list: unknown): Managed[] | undefined {
  if (!Array.isArray(list)) return list === undefined || list === null ? [] : undefined;
  const out: Managed[] = [];
  for (const raw of list) {
    if (!isRecord(raw)) return undefined;
    const e = raw as ManagedFieldsEntry;
    if (e.operation !== 'Apply' && e.operation !== 'Update') return undefined;
    if (typeof e.apiVersion !== 'string' || e.apiVersion === '') return undefined;
    if (e.fieldsType !== 'FieldsV1') return undefined;
    if (e.fieldsV1 !== undefined && !isRecord(e.fieldsV1)) return undefined;
    out.push({ entry: structuredClone(e), set: decodeFieldsV1(e.fieldsV1) });
  }
  return out;
}

/** `isResetManagedFields`: a non-nil empty list, or a list of one empty entry. */
function isReset(list: unknown): boolean {
  return Array.isArray(list) && (list.length === 0 || (list.length === 1 && isRecord(list[0]) && Object.keys(list[0]).length === 0));
}

/** `BuildManagerIdentifier`: manager, operation, subresource, and the apiVersion of updaters (appliers keep one entry across versions). */
function identity(e: ManagedFieldsEntry): string {
  const id: JsonObject = { manager: e.manager ?? '', operation: e.operation };
  if (e.operation === 'Update') id['apiVersion'] = e.apiVersion;
  if (e.subresource) id['subresource'] = e.subresource;
  return JSON.stringify(id);
}

function writerEntry(write: FieldsWrite): ManagedFieldsEntry {
  const e: ManagedFieldsEntry = { manager: write.manager, operation: write.operation, apiVersion: write.apiVersion, fieldsType: 'FieldsV1' };
  if (write.subresource !== undefined) e.subresource = write.subresource;
  return e;
}

/** `sortEncodedManagedFields`: by operation (Apply first), time to the second, manager, apiVersion, subresource. */
function encode(managed: Managed[]): ManagedFieldsEntry[] {
  const kept = managed.filter((m) => m.set.size > 0);
  const out = kept.map((m) => ({ ...m.entry, fieldsType: 'FieldsV1', fieldsV1: encodeFieldsV1(m.set) }) as ManagedFieldsEntry);
  const cmp = (a: string | undefined, b: string | undefined): number => ((a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0);
  return out.sort((a, b) => cmp(a.operation, b.operation) || cmp(a.time, b.time) || cmp(a.manager, b.manager) || cmp(a.apiVersion, b.apiVersion) || cmp(a.subresource, b.subresource));
}

function withEntries(obj: JsonObject, entries: ManagedFieldsEntry[]): JsonObject {
  const meta = { ...(isRecord(obj['metadata']) ? obj['metadata'] : {}) };
  if (entries.length > 0) meta['managedFields'] = entries;
  else delete meta['managedFields'];
  return { ...obj, metadata: meta };
}

/**
 * The managed sets an Update starts from (`decodeManagedFields`): a reset, the request's own entries
 * when they decode and are not empty (not for subresources), else the stored ones.
 */
function updateBase(live: JsonObject | undefined, requested: unknown, subresource: string | undefined): Managed[] {
  const stored = (): Managed[] => decode(entriesOf(live)) ?? [];
  if (subresource !== undefined) return stored();
  if (isReset(requested)) return [];
  const fromRequest = decode(requested);
  return fromRequest !== undefined && fromRequest.length > 0 ? fromRequest : stored();
}

/**
 * `Updater.Update` for a create, update or non-apply patch of `next` over `live` (undefined on
 * create); `requested` is the managedFields the request carried. Returns `next` with its
 * managedFields set.
 */
export function updateManagedFields(live: JsonObject | undefined, next: JsonObject, write: FieldsWrite, requested: unknown = entriesOf(next)): JsonObject {
  const managed = updateBase(live, requested, write.subresource);
  // skipNonAppliedManager: an existing object nobody manages stays unmanaged until it is applied to.
  if (managed.length === 0 && live !== undefined) return withEntries(next, []);
  return withEntries(next, encode(recordUpdate(managed, live ?? {}, next, write)));
}

/** Ownership after `write` changed `before` into `after`. */
function recordUpdate(managed: Managed[], before: JsonObject, after: JsonObject, write: FieldsWrite): Managed[] {
  const scope = write.subresource === 'status' ? 'status' : 'main';
  const diff = compare(flatten(before, scope), flatten(after, scope));
  const taken = new Set([...diff.modified, ...diff.added].filter((p) => !diff.removed.has(p)));
  const self = writerEntry(write);
  const id = identity(self);
  for (const m of managed) {
    if (identity(m.entry) === id) continue;
    for (const p of [...taken, ...diff.removed]) m.set.delete(p);
  }
  let mine = managed.find((m) => identity(m.entry) === id);
  if (mine === undefined && taken.size > 0) managed.push((mine = { entry: self, set: new Set() }));
  if (mine !== undefined) {
    for (const p of diff.removed) mine.set.delete(p);
    for (const p of taken) mine.set.add(p);
    // managedFieldsUpdater: the entry's time moves only when this write changed something.
    if (taken.size > 0) mine.entry.time = timeNow(write.now);
    mine.entry.apiVersion = write.apiVersion;
  }
  return managed;
}

/** A field another manager owns that an apply would change. */
interface Conflict {
  id: string;
  entry: ManagedFieldsEntry;
  path: string[];
}

/** `printManager`: `"kubectl-set" using apps/v1` for updaters, `"helm"` for appliers, with the subresource if any. */
function printManager(e: ManagedFieldsEntry): string {
  let text = JSON.stringify(e.manager ?? '');
  if (e.subresource) text += ` with subresource ${JSON.stringify(e.subresource)}`;
  return e.operation === 'Update' ? `${text} using ${e.apiVersion ?? ''}` : text;
}

/** The result of a server-side apply: the merged and pruned object, its managedFields set. */
export interface ApplyResult {
  object: JsonObject;
  /** False when the apply changed nothing in the object (its managedFields may still have changed). */
  changed: boolean;
}

/**
 * `Updater.Apply`: merges `applied` into `live` (`{}` on create), prunes what `write.manager` applied
 * last time and no longer does (unless someone owns it), and checks conflicts. Throws the 409 the
 * apiserver answers unless `force`.
 */
export function applyManagedFields(live: JsonObject | undefined, applied: JsonObject, write: FieldsWrite, force: boolean): ApplyResult {
  const base = live ?? {};
  let managed = decode(entriesOf(base)) ?? [];
  if (managed.length === 0 && live !== undefined) {
    // skipNonAppliedManager.Apply: the fields already there belong to `before-first-apply` first.
    managed = recordUpdate([], {}, base, { ...write, manager: BEFORE_FIRST_APPLY, operation: 'Update' });
  }
  const self = writerEntry(write);
  const id = identity(self);
  const previous = managed.find((m) => identity(m.entry) === id);
  const others = managed.filter((m) => m !== previous);
  const mine: Managed = { entry: previous?.entry ?? self, set: toFieldSet(applied, 'main') };
  const merged = mergeApplied(base, applied);
  const result = previous === undefined ? merged : prune(merged, previous.set, [...others, mine]);

  const diff = compare(flatten(base, 'main'), flatten(result, 'main'));
  const changedPaths = new Set([...diff.modified, ...diff.added]);
  const conflicts: Conflict[] = [];
  for (const m of others) {
    if (m.entry.subresource === 'status') continue;
    for (const p of m.set) if (changedPaths.has(p)) conflicts.push({ id: identity(m.entry), entry: m.entry, path: parsePath(p) });
  }
  if (conflicts.length > 0 && !force) {
    conflicts.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : comparePaths(a.path, b.path)));
    throw applyConflict(conflicts.map((c) => ({ managerId: c.id, manager: printManager(c.entry), field: formatPath(c.path) })));
  }
  for (const m of others) for (const p of [...changedPaths, ...diff.removed]) m.set.delete(p);
  const changed = diff.modified.size + diff.added.size + diff.removed.size > 0;
  if (changed || previous === undefined) mine.entry = { ...mine.entry, time: timeNow(write.now), apiVersion: write.apiVersion };
  return { object: withEntries(result, encode([...others, mine])), changed };
}

/**
 * `Updater.prune` with `addBackOwnedItems` and `addBackDanglingItems`: of what the applier owned
 * last time (`last`), remove what nobody owns now — removing a list item or field removes all of it.
 */
function prune(merged: JsonObject, last: Set<string>, owners: Managed[]): JsonObject {
  if (last.size === 0) return merged;
  const lastNamed = withNamedFields(last);
  const mergedPaths = new Set(flatten(merged, 'main').keys());
  const owned = withNamedFields(owners.flatMap((m) => [...m.set]));
  const pruned = removePaths(merged, lastNamed);
  const prunedPaths = new Set(flatten(pruned, 'main').keys());
  const unowned = new Set([...mergedPaths].filter((p) => !prunedPaths.has(p) && !owned.has(p)));
  const addedBack = removePaths(merged, unowned);
  const addedBackPaths = new Set(flatten(addedBack, 'main').keys());
  const gone = new Set([...mergedPaths].filter((p) => !addedBackPaths.has(p) && lastNamed.has(p)));
  return removePaths(merged, gone);
}

/** `ValidateManagedFields` (apimachinery/pkg/api/validation/objectmeta.go): what a stored entry must satisfy. */
export function validateManagedFields(obj: JsonObject): { field: string; message: string }[] {
  const list = entriesOf(obj);
  if (!Array.isArray(list)) return [];
  const errors: { field: string; message: string }[] = [];
  list.forEach((raw, i) => {
    const e = (isRecord(raw) ? raw : {}) as ManagedFieldsEntry;
    const at = `metadata.managedFields[${i}]`;
    if (e.operation !== 'Apply' && e.operation !== 'Update') errors.push({ field: `${at}.operation`, message: `Invalid value: ${JSON.stringify(e.operation ?? '')}: must be \`Apply\` or \`Update\`` });
    if (e.fieldsType !== undefined && e.fieldsType !== '' && e.fieldsType !== 'FieldsV1') errors.push({ field: `${at}.fieldsType`, message: `Invalid value: ${JSON.stringify(e.fieldsType)}: must be \`FieldsV1\`` });
    // FieldManagerMaxLength and MaxSubresourceNameLength.
    if ((e.manager ?? '').length > 128) errors.push({ field: `${at}.manager`, message: 'Too long: may not be more than 128 bytes' });
    if ((e.subresource ?? '').length > 256) errors.push({ field: `${at}.subresource`, message: 'Too long: may not be more than 256 bytes' });
  });
  return errors;
}
