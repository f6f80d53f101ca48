/**
 * The pure core of live cluster policies: the last-good rule per TracegatePolicy (src/policy/
 * cluster-state.ts), the status the gate writes on each object (policy-status.ts), and the config
 * key that selects the source.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig } from '../../src/config.js';
import { isTracegateError } from '../../src/errors.js';
import { policySchemaPath } from '../../src/paths.js';
import { createClusterPolicyState, OUTCOME_MESSAGE_MAX, problemLine } from '../../src/policy/cluster-state.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';
import { desiredStatus } from '../../src/policy/policy-status.js';

const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });
const NOW = new Date('2026-05-04T10:00:00.000Z');
const LATER = new Date('2026-05-04T11:30:00.000Z');

type Rule = Record<string, unknown>;

/** A TracegatePolicy object as the informer holds it. */
function object(name: string, generation: number, rules: Rule[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'tracegate.io/v1alpha1',
    kind: 'TracegatePolicy',
    metadata: { name, generation, uid: `uid-${name}`, resourceVersion: String(100 + generation) },
    spec: { version: `${generation}.0`, rules },
    ...extra,
  };
}

const noLatest: Rule = { id: 'no-latest', images: { disallowedTags: ['latest'] } };
const history: Rule = { id: 'history', revisionHistory: { minimum: 5 } };

function newState(floorText?: string) {
  const floor = floorText ? loader.parse(floorText, 'policies/floor.yaml') : undefined;
  return createClusterPolicyState({ check: loader.check, toSet: loader.toSet, ...(floor ? { floor } : {}) });
}

const names = (set: { policies: readonly { name: string; version: string }[] }) => set.policies.map((p) => `${p.name}@${p.version}`);

describe('cluster policy state', () => {
  it('builds the set from good objects and hands a new set only when it changes', () => {
    const state = newState();
    const first = state.reconcile([object('b', 1, [history]), object('a', 1, [noLatest])]);
    assert.equal(first.changed, true);
    assert.deepEqual(names(first.set), ['a@1.0', 'b@1.0'], 'sorted by name');
    assert.deepEqual(first.outcomes.map((o) => [o.name, o.ready, o.reason]), [['b', true, 'Loaded'], ['a', true, 'Loaded']]);
    assert.match(first.outcomes[1]!.message, /^1 rule in force, sha256:[0-9a-f]{64}$/);
    assert.equal(first.set.policies[0]!.source.file, 'tracegatepolicy.tracegate.io/a');
    assert.equal(first.set.policies[0]!.source.generation, 1);

    // A status write re-delivers the object with a new resourceVersion: nothing to swap.
    const again = state.reconcile([object('b', 1, [history], { status: { digest: 'x' } }), object('a', 1, [noLatest])]);
    assert.equal(again.changed, false);
    assert.equal(again.set, first.set);
    assert.ok(again.outcomes.every((o) => !o.fresh), 'nothing new to report');
  });

  it('keeps the last good generation of an object whose new generation is refused, reporting it once', () => {
    const state = newState();
    const good = state.reconcile([object('a', 1, [noLatest])]);
    const bad = state.reconcile([object('a', 2, [noLatest, { ...history, id: 'no-latest' }])]);
    assert.equal(bad.changed, false, 'the set in force stays');
    assert.equal(bad.set.digest, good.set.digest);
    const [o] = bad.outcomes;
    assert.deepEqual([o!.ready, o!.reason, o!.generation, o!.fresh], [false, 'Invalid', 2, true]);
    assert.equal(o!.message, 'spec.rules[1].id: duplicate rule id "no-latest"');
    assert.equal(o!.enforced?.version, '1.0', 'generation 1 is still enforced');
    assert.equal(state.reconcile([object('a', 2, [noLatest, { ...history, id: 'no-latest' }])]).outcomes[0]!.fresh, false, 'reported once per generation');

    const fixed = state.reconcile([object('a', 3, [noLatest, history])]);
    assert.equal(fixed.changed, true);
    assert.deepEqual(names(fixed.set), ['a@3.0']);
    assert.equal(fixed.outcomes[0]!.ready, true);
  });

  it('a refused new object is not enforced; the others still change', () => {
    const state = newState();
    state.reconcile([object('a', 1, [noLatest])]);
    const r = state.reconcile([object('a', 2, [history]), object('b', 1, [{ id: 'x', images: { allowed: ['Bad//Pattern'] } }])]);
    assert.equal(r.changed, true, "a's good change is applied despite b");
    assert.deepEqual(names(r.set), ['a@2.0']);
    const b = r.outcomes.find((o) => o.name === 'b')!;
    assert.deepEqual([b.ready, b.reason, b.enforced], [false, 'Invalid', undefined]);
    assert.match(b.message, /^spec\.rules\[0\]\.images\.allowed\[0\]: invalid image pattern "Bad\/\/Pattern"/);
  });

  it('reports schema problems with the object paths', () => {
    const r = newState().reconcile([object('a', 1, [{ id: 'x', action: 'block', images: { requireTag: true } }], { spec: { version: '', rules: [] } })]);
    const [o] = r.outcomes;
    assert.equal(o!.reason, 'SchemaInvalid');
    assert.deepEqual(o!.problems.map((p) => p.path), ['spec.version', 'spec.rules']);
  });

  it('a name the files already use is refused (DuplicateName), and the files stay in force', () => {
    const floor = 'apiVersion: tracegate.io/v1alpha1\nkind: Policy\nmetadata: { name: a, version: "9" }\nspec:\n  rules: [{ id: h, revisionHistory: { minimum: 2 } }]\n';
    const state = newState(floor);
    const r = state.reconcile([object('a', 1, [noLatest]), object('b', 1, [noLatest])]);
    assert.deepEqual(names(r.set), ['a@9', 'b@1.0']);
    const a = r.outcomes.find((o) => o.name === 'a')!;
    assert.deepEqual([a.ready, a.reason], [false, 'DuplicateName']);
    assert.match(a.message, /^metadata\.name: policy "a" is also defined in policies\/floor\.yaml, which always applies/);
  });

  it('a deleted object takes its policy with it, also its last good one', () => {
    const state = newState();
    state.reconcile([object('a', 1, [noLatest]), object('b', 1, [history])]);
    state.reconcile([object('a', 2, [{ id: 'x' }]), object('b', 1, [history])]);
    const r = state.reconcile([object('b', 1, [history])]);
    assert.deepEqual(names(r.set), ['b@1.0']);
    const recreated = state.reconcile([object('a', 1, [{ id: 'x' }]), object('b', 1, [history])]);
    assert.deepEqual(names(recreated.set), ['b@1.0'], 'a recreated bad object does not bring back the deleted one');
    assert.equal(recreated.outcomes[0]!.fresh, true);
  });

  it('an empty cluster is an empty set (everything admitted), and a new generation with the same content is a change', () => {
    const state = newState();
    const empty = state.reconcile([]);
    assert.equal(empty.changed, true, 'the first set is always handed over');
    assert.deepEqual(empty.set.policies, []);
    state.reconcile([object('a', 1, [noLatest])]);
    const bumped = { ...object('a', 2, [noLatest]), spec: { version: '1.0', rules: [noLatest] } };
    const r = state.reconcile([bumped]);
    assert.equal(r.changed, true, 'same digest, new generation: the view must show it');
    assert.equal(r.set.policies[0]!.source.generation, 2);
  });

  it('bounds the message of a policy with many problems', () => {
    const many = Array.from({ length: 200 }, (_, i) => ({ path: `spec.rules[${i}].id`, message: 'duplicate rule id "x"' }));
    const line = problemLine(many);
    assert.ok(line.length <= OUTCOME_MESSAGE_MAX);
    assert.match(line, /… \(200 problems\)$/);
  });
});

describe('the status written on a TracegatePolicy', () => {
  const state = newState();
  const good = state.reconcile([object('a', 1, [noLatest])]).outcomes[0]!;

  it('says Ready=True with the digest, rule count and observed generation', () => {
    const status = desiredStatus(good, undefined, NOW);
    assert.deepEqual(status, {
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'True', observedGeneration: 1, lastTransitionTime: '2026-05-04T10:00:00Z', reason: 'Loaded', message: good.message }],
      digest: good.enforced!.digest,
      ruleCount: 1,
    });
    assert.equal(desiredStatus(good, status, LATER), undefined, 'already written: nothing to write');
  });

  it('a refused generation: Ready=False with the reason, the old digest kept, the transition time moved', () => {
    const before = desiredStatus(good, undefined, NOW)!;
    const bad = state.reconcile([object('a', 2, [{ id: 'x', images: { allowed: ['Bad//Pattern'] } }])]).outcomes[0]!;
    const status = desiredStatus(bad, before, LATER)!;
    assert.equal(status.observedGeneration, 2);
    assert.equal(status.digest, before.digest, 'the digest of what is enforced');
    const [ready] = status.conditions!;
    assert.deepEqual([ready!['status'], ready!['reason'], ready!['observedGeneration'], ready!['lastTransitionTime']], ['False', 'Invalid', 2, '2026-05-04T11:30:00Z']);
    assert.match(String(ready!['message']), /invalid image pattern/);
  });

  it('keeps conditions of other types in place', () => {
    const other = { type: 'Reviewed', status: 'True', reason: 'Audit', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' };
    const status = desiredStatus(good, { conditions: [other] }, NOW)!;
    assert.deepEqual(status.conditions!.map((c) => c['type']), ['Reviewed', 'Ready']);
  });
});

describe('policySource configuration', () => {
  it('defaults to files, takes cluster and both, refuses anything else', () => {
    assert.equal(buildConfig({}, {}).policySource, 'files');
    assert.equal(buildConfig({ TRACEGATE_POLICY_SOURCE: 'both' }, {}).policySource, 'both');
    assert.equal(buildConfig({}, { policySource: 'cluster' }).policySource, 'cluster');
    assert.throws(() => buildConfig({}, { policySource: 'etcd' }), (err) => isTracegateError(err, 'CONFIG_INVALID') && /policySource: must be equal to one of the allowed values/.test(err.message));
  });

  it('refuses policy files with the cluster source (they would be ignored)', () => {
    assert.throws(() => buildConfig({}, { policySource: 'cluster', policies: ['policies'] }), /policy files are not read with policySource "cluster"; use "both"/);
    assert.equal(buildConfig({}, { policySource: 'both', policies: ['policies'] }).policySource, 'both');
  });
});
