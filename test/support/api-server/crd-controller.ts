/**
 * The apiextensions-apiserver's NamingConditionController and EstablishingController, as one
 * stand-in: for every CRD added or changed it works out the accepted names (a name another CRD of
 * the same group already accepted is a conflict: `PluralConflict`, `SingularConflict`,
 * `ShortNamesConflict`, `KindConflict`, `ListKindConflict` with `"x" is already in use`), writes
 * `acceptedNames` with the `NamesAccepted` condition and `Established` False/`Installing`, and then,
 * in a second status write, `Established` True/`InitialNamesAccepted` — from which point the custom
 * resource is served. When a CRD goes, the other CRDs of its group are reconsidered.
 * (apiextensions-apiserver/pkg/controller/status/naming_controller.go, establish/establishing_controller.go)
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import { findResource } from './resources.js';
import type { ResourceInfo } from './resources.js';
import type { ObjectStore } from './store.js';
import type { JsonObject } from './types.js';
import { timestamp } from './write-pipeline.js';

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime: string;
  reason: string;
  message: string;
}

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function strs(value: unknown): string[] {
  return Array.isArray(value) ? value.map(str) : [];
}

function conditionsOf(crd: JsonObject): Condition[] {
  const list = rec(crd['status'])['conditions'];
  return Array.isArray(list) ? (list.filter(isRecord) as unknown as Condition[]) : [];
}

/** `equalToAcceptedOrFresh`: a name is fine if already ours or not used by another CRD of the group. */
function conflictOf(requested: string, accepted: string, used: Set<string>): string | undefined {
  if (requested === accepted || !used.has(requested)) return undefined;
  return `${JSON.stringify(requested)} is already in use`;
}

/** `SetCRDCondition`: replaces the condition of the same type, keeping its time when the status stays. */
function setCondition(list: Condition[], next: Omit<Condition, 'lastTransitionTime'>, now: string): Condition[] {
  const old = list.find((c) => c.type === next.type);
  const lastTransitionTime = old !== undefined && old.status === next.status ? old.lastTransitionTime : now;
  const cond: Condition = { type: next.type, status: next.status, lastTransitionTime, reason: next.reason, message: next.message };
  return old === undefined ? [...list, cond] : list.map((c) => (c === old ? cond : c));
}

/** The status the naming controller would write for `crd`, given the other CRDs. */
function namingStatus(crd: JsonObject, all: JsonObject[], now: string): JsonObject {
  const spec = rec(crd['spec']);
  const group = str(spec['group']);
  const name = str(rec(crd['metadata'])['name']);
  const resources = new Set<string>();
  const kinds = new Set<string>();
  for (const other of all) {
    if (str(rec(other['spec'])['group']) !== group || str(rec(other['metadata'])['name']) === name) continue;
    const accepted = rec(rec(other['status'])['acceptedNames']);
    for (const n of [str(accepted['plural']), str(accepted['singular']), ...strs(accepted['shortNames'])]) if (n !== '') resources.add(n);
    for (const n of [str(accepted['kind']), str(accepted['listKind'])]) if (n !== '') kinds.add(n);
  }
  const requested = rec(spec['names']);
  const accepted = rec(rec(crd['status'])['acceptedNames']);
  const names: JsonObject = structuredClone(accepted);
  let conflict: { reason: string; message: string } | undefined;
  const check = (field: string, reason: string, used: Set<string>): void => {
    const err = conflictOf(str(requested[field]), str(accepted[field]), used);
    if (err === undefined) names[field] = requested[field];
    else conflict = { reason, message: err };
  };
  check('plural', 'PluralConflict', resources);
  check('singular', 'SingularConflict', resources);
  if (!isDeepStrictEqual(strs(requested['shortNames']), strs(accepted['shortNames']))) {
    const errs = strs(requested['shortNames'])
      .filter((s) => !strs(accepted['shortNames']).includes(s))
      .map((s) => conflictOf(s, '', resources))
      .filter((e): e is string => e !== undefined);
    if (errs.length > 0) conflict = { reason: 'ShortNamesConflict', message: errs.length === 1 ? (errs[0] ?? '') : `[${errs.join(', ')}]` };
    else names['shortNames'] = requested['shortNames'];
  }
  check('kind', 'KindConflict', kinds);
  check('listKind', 'ListKindConflict', kinds);
  if (requested['categories'] === undefined) delete names['categories'];
  else names['categories'] = requested['categories'];
  for (const k of Object.keys(names)) if (names[k] === undefined) delete names[k];
  const namesAccepted = conflict === undefined ? { type: 'NamesAccepted', status: 'True' as const, reason: 'NoConflicts', message: 'no conflicts found' } : { type: 'NamesAccepted', status: 'False' as const, ...conflict };
  let conditions = setCondition(conditionsOf(crd), namesAccepted, now);
  const established = conditionsOf(crd).find((c) => c.type === 'Established');
  if (established?.status !== 'True') {
    const next =
      namesAccepted.status === 'True'
        ? { type: 'Established', status: 'False' as const, reason: 'Installing', message: 'the initial names have been accepted' }
        : { type: 'Established', status: 'False' as const, reason: 'NotAccepted', message: 'not all names are accepted' };
    conditions = setCondition(conditions, next, now);
  }
  return { ...rec(crd['status']), acceptedNames: names, conditions };
}

/** Starts the controller over the CRDs in `store`; returns its stop function. */
export function startCrdController(deps: { store: ObjectStore; now: () => Date }): () => void {
  const crds = findResource('apiextensions.k8s.io', 'v1', 'customresourcedefinitions') as ResourceInfo;
  const queue = new Set<string>();
  let scheduled: NodeJS.Immediate | undefined;
  let stopped = false;

  function sync(name: string): void {
    const crd = deps.store.get(crds, '', name);
    if (crd === undefined) return;
    const now = timestamp(deps.now());
    const status = rec(crd['status']);
    const namesSettled = isDeepStrictEqual(rec(crd['spec'])['names'], status['acceptedNames']);
    let next: JsonObject | undefined;
    if (!namesSettled) {
      const computed = namingStatus(crd, deps.store.list(crds), now);
      const before = conditionsOf(crd).find((c) => c.type === 'NamesAccepted');
      const after = (computed['conditions'] as Condition[]).find((c) => c.type === 'NamesAccepted');
      const conditionSame = before !== undefined && after !== undefined && before.status === after.status && before.reason === after.reason && before.message === after.message;
      if (!isDeepStrictEqual(status['acceptedNames'], computed['acceptedNames']) || !conditionSame) next = computed;
    }
    const accepted = conditionsOf(next === undefined ? crd : { status: next }).some((c) => c.type === 'NamesAccepted' && c.status === 'True');
    const established = conditionsOf(crd).some((c) => c.type === 'Established' && c.status === 'True');
    if (next === undefined && accepted && !established) {
      // The establishing controller's own write, after it saw NamesAccepted.
      next = { ...status, conditions: setCondition(conditionsOf(crd), { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' }, now) };
    }
    if (next === undefined) return;
    deps.store.commit(crds, { ...crd, status: next });
  }

  function run(): void {
    scheduled = undefined;
    const names = [...queue];
    queue.clear();
    for (const name of names) if (!stopped) sync(name);
  }

  function enqueue(name: string): void {
    queue.add(name);
    // Controllers react after the write that woke them has been answered, as informers do.
    scheduled ??= setImmediate(run);
  }

  const unsubscribe = deps.store.subscribe((e) => {
    if (e.info.group !== crds.group || e.info.resource !== crds.resource) return;
    const name = str(rec(e.object['metadata'])['name']);
    if (e.type !== 'DELETED') {
      enqueue(name);
      return;
    }
    // A deleted CRD frees its names: the others of its group get another chance.
    const group = str(rec(e.object['spec'])['group']);
    for (const other of deps.store.list(crds)) if (str(rec(other['spec'])['group']) === group) enqueue(str(rec(other['metadata'])['name']));
  });
  return () => {
    stopped = true;
    unsubscribe();
    if (scheduled !== undefined) clearImmediate(scheduled);
  };
}
