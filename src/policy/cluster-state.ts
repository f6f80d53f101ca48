/**
 * The policy set the cluster's TracegatePolicy objects make, with the last-good rule: each object
 * contributes its newest generation that validated and compiled; a generation that does not (schema,
 * compile error, a name the files already use) is reported and leaves that object's previous good
 * generation in force — or nothing, if it never had one. Pure: objects in, set and outcomes out.
 */
import type { Checked, CheckedProblem } from './load.js';
import { TRACEGATE_POLICY } from './tracegate-policy.js';
import type { CompiledPolicy, PolicySet, PolicySource } from './types.js';

/** Why an object is (not) in force, as its Ready condition's reason says it. */
export type OutcomeReason = 'Loaded' | 'SchemaInvalid' | 'Invalid' | 'DuplicateName';

/** What the gate made of one object's current generation. */
export interface PolicyOutcome {
  name: string;
  generation?: number;
  ready: boolean;
  reason: OutcomeReason;
  /** One line for the condition and the log: the digest and rule count, or every problem. */
  message: string;
  problems: readonly CheckedProblem[];
  /** This generation when ready; an earlier good one of the same object when not; else none. */
  enforced?: CompiledPolicy;
  /** True the first time this outcome is seen for this generation (a log line and the metric, once). */
  fresh: boolean;
}

/** The result of one reconcile. */
export interface Reconciled {
  set: PolicySet;
  /** False when the set's digest is the one already in force (nothing to swap). */
  changed: boolean;
  outcomes: readonly PolicyOutcome[];
}

export interface ClusterStateDeps {
  /** The loader's `check`: validates and compiles one object. */
  check(value: unknown, source: PolicySource): Checked;
  /** The loader's `toSet`. */
  toSet(policies: readonly CompiledPolicy[]): PolicySet;
  /** Policies from files that always apply (`--policy-source both`); their names are taken. */
  floor?: readonly CompiledPolicy[];
}

/**
 * Longest condition message: the apiserver allows 32 KiB, but `kubectl get -o wide` and log lines must
 * stay readable; the problems are all in the log line's `problems` field.
 */
export const OUTCOME_MESSAGE_MAX = 1024;

/** `tracegatepolicy.tracegate.io/<name>`: how kubectl names the object, and how messages cite it. */
export function objectRef(name: string): string {
  return `${TRACEGATE_POLICY.singular}.${TRACEGATE_POLICY.group}/${name}`;
}

function metaOf(obj: unknown): { name?: string; generation?: number } {
  const m = (obj as { metadata?: { name?: unknown; generation?: unknown } } | null)?.metadata;
  return { ...(typeof m?.name === 'string' ? { name: m.name } : {}), ...(typeof m?.generation === 'number' ? { generation: m.generation } : {}) };
}

/** Problems as one bounded line. */
export function problemLine(problems: readonly CheckedProblem[]): string {
  const text = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  if (text.length <= OUTCOME_MESSAGE_MAX) return text;
  const more = `… (${problems.length} problems)`;
  return `${text.slice(0, OUTCOME_MESSAGE_MAX - more.length)}${more}`;
}

/** Creates the state; `reconcile` is called with every object after each change. */
export function createClusterPolicyState(deps: ClusterStateDeps) {
  const floor = deps.floor ?? [];
  const floorNames = new Map(floor.map((p) => [p.name, p.source.file]));
  /** Per object name: its newest good compiled generation. */
  const lastGood = new Map<string, CompiledPolicy>();
  /** Per object name: the key (generation and outcome) last reported, so each is reported once. */
  const reported = new Map<string, string>();
  /** Per object name: the spec text last checked and its result (status writes re-deliver unchanged objects). */
  const checked = new Map<string, { text: string; result: Checked }>();
  let current: PolicySet | undefined;
  let currentSignature: string | undefined;

  function checkCached(name: string, obj: unknown, source: PolicySource): Checked {
    const o = obj as { spec?: unknown; apiVersion?: unknown; kind?: unknown; metadata?: unknown };
    const text = JSON.stringify([o.apiVersion, o.kind, o.metadata && { ...(o.metadata as object), resourceVersion: undefined, managedFields: undefined }, o.spec]);
    const hit = checked.get(name);
    if (hit && hit.text === text) return hit.result;
    const result = deps.check(obj, source);
    checked.set(name, { text, result });
    return result;
  }

  function judge(name: string, generation: number | undefined, obj: unknown): Omit<PolicyOutcome, 'fresh' | 'enforced'> & { compiled?: CompiledPolicy } {
    const at = { name, ...(generation !== undefined ? { generation } : {}) };
    const taken = floorNames.get(name);
    if (taken !== undefined) {
      const problems = [{ path: 'metadata.name', message: `policy ${JSON.stringify(name)} is also defined in ${taken}, which always applies (--policy-source both)` }];
      return { ...at, ready: false, reason: 'DuplicateName', problems, message: problemLine(problems) };
    }
    const source: PolicySource = { file: objectRef(name), document: 0, ...(generation !== undefined ? { generation } : {}) };
    const result = checkCached(name, obj, source);
    if (!result.ok) {
      const reason: OutcomeReason = result.code === 'POLICY_SCHEMA' ? 'SchemaInvalid' : 'Invalid';
      return { ...at, ready: false, reason, problems: result.problems, message: problemLine(result.problems) };
    }
    const p = result.value;
    return { ...at, ready: true, reason: 'Loaded', problems: [], message: `${p.rules.length} rule${p.rules.length === 1 ? '' : 's'} in force, ${p.digest}`, compiled: p };
  }

  /** Judges every object (objects without a name are skipped) and builds the set. */
  function reconcile(objects: readonly unknown[]): Reconciled {
    const outcomes: PolicyOutcome[] = [];
    const seen = new Set<string>();
    for (const obj of objects) {
      const { name, generation } = metaOf(obj);
      if (name === undefined || seen.has(name)) continue;
      seen.add(name);
      const { compiled, ...judged } = judge(name, generation, obj);
      if (compiled) lastGood.set(name, compiled);
      else if (judged.reason === 'DuplicateName') lastGood.delete(name);
      const key = `${generation ?? '?'} ${judged.reason} ${judged.message}`;
      const fresh = reported.get(name) !== key;
      reported.set(name, key);
      const enforced = lastGood.get(name);
      outcomes.push({ ...judged, ...(enforced ? { enforced } : {}), fresh });
    }
    // A deleted object takes its policy with it.
    for (const map of [lastGood, reported, checked]) for (const name of [...map.keys()]) if (!seen.has(name)) map.delete(name);
    const set = deps.toSet([...floor, ...lastGood.values()]);
    // The digest names the content; a new generation with the same content is a new source to show.
    const signature = `${set.digest} ${set.policies.map((p) => p.source.generation ?? '').join(',')}`;
    const changed = signature !== currentSignature;
    if (changed) {
      current = set;
      currentSignature = signature;
    }
    return { set: current!, changed, outcomes };
  }

  return { reconcile };
}

export type ClusterPolicyState = ReturnType<typeof createClusterPolicyState>;
