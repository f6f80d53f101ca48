/**
 * The rollback-history policy: a Deployment, StatefulSet or DaemonSet may not throw away the old
 * ReplicaSets / ControllerRevisions that `kubectl rollout undo` returns to.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { isTracegateError } from '../../src/errors.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { createPolicyLoader } from '../../src/policy/load.js';
import type { PolicySet, RequestContext } from '../../src/policy/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const schema = JSON.parse(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')) as object;
const loader = createPolicyLoader({ schema });
const bundled = loader.toSet(loader.parse(readFileSync(join(ROOT, 'policies', 'rollback-history.yaml'), 'utf8'), 'policies/rollback-history.yaml'));

function minimum(text: string): PolicySet {
  return loader.toSet(loader.parse(['apiVersion: tracegate.io/v1alpha1', 'kind: Policy', 'metadata: {name: p}', 'spec:', '  rules:', '    - id: r', `      revisionHistory: ${text}`].join('\n'), 'p.yaml'));
}

function ctx(operation: RequestContext['operation']): RequestContext {
  return { operation, namespace: 'team-a', username: 'alice', groups: [] };
}

function workload(kind: string, limit?: unknown, replicas = 2): KubeObject {
  const spec: Record<string, unknown> = { replicas, template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } };
  if (limit !== undefined) spec['revisionHistoryLimit'] = limit;
  return { apiVersion: 'apps/v1', kind, metadata: { name: 'web', namespace: 'team-a' }, spec };
}

describe('rollback-history (bundled, minimum 10)', () => {
  const kept: Record<string, string> = { Deployment: 'ReplicaSets', StatefulSet: 'ControllerRevisions', DaemonSet: 'ControllerRevisions' };
  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet']) {
    it(`${kind} with revisionHistoryLimit: 0 is denied, with a fix naming ${kind.toLowerCase()}/web`, () => {
      const result = evaluate(bundled, ctx('CREATE'), workload(kind, 0), null);
      assert.equal(result.verdict, 'deny');
      assert.deepEqual(result.violations.map((v) => [v.rule, v.path, v.value, v.message, v.fix]), [
        [
          'min-revision-history',
          'spec.revisionHistoryLimit',
          '0',
          `${kind} web: spec.revisionHistoryLimit is 0, below the minimum 10: the old ${kept[kind]} that kubectl rollout undo returns to would be deleted`,
          `set spec.revisionHistoryLimit to 10 or more, e.g. kubectl patch ${kind.toLowerCase()}/web -p '{"spec":{"revisionHistoryLimit":10}}'`,
        ],
      ]);
    });

    it(`${kind}: absent (the default 10), 10 and 50 are allowed; 9 is not`, () => {
      for (const limit of [undefined, null, 10, 50]) assert.deepEqual(evaluate(bundled, ctx('CREATE'), workload(kind, limit), null).violations, [], String(limit));
      assert.equal(evaluate(bundled, ctx('CREATE'), workload(kind, 9), null).verdict, 'deny');
    });
  }

  it('kinds without a revision history are not selected, whatever their spec says', () => {
    for (const kind of ['ReplicaSet', 'Job', 'CronJob', 'Pod', 'ReplicationController']) {
      const result = evaluate(bundled, ctx('CREATE'), workload(kind, 0), null);
      assert.deepEqual(result.applied, [], kind);
    }
  });

  it('a value that is not an integer is refused rather than guessed at', () => {
    const [v] = evaluate(bundled, ctx('CREATE'), workload('Deployment', '5'), null).violations;
    assert.equal(v?.message, 'Deployment web: spec.revisionHistoryLimit is "5", not a number (the minimum is 10): the old ReplicaSets that kubectl rollout undo returns to would be deleted');
    assert.equal(evaluate(bundled, ctx('CREATE'), workload('Deployment', 10.5), null).verdict, 'deny');
  });

  it('on UPDATE an existing 0 is grandfathered (a scale passes), lowering it further is not', () => {
    assert.deepEqual(evaluate(bundled, ctx('UPDATE'), workload('Deployment', 0, 5), workload('Deployment', 0, 2)).violations, []);
    assert.equal(evaluate(bundled, ctx('UPDATE'), workload('Deployment', 3), workload('Deployment', 10)).verdict, 'deny');
  });
});

describe('revisionHistory rule options', () => {
  it('a minimum above the default refuses an absent field, saying it means 10', () => {
    const [v] = evaluate(minimum('{minimum: 20}'), ctx('CREATE'), workload('StatefulSet'), null).violations;
    assert.equal(v?.value, undefined);
    assert.match(v?.message ?? '', /^StatefulSet web: spec\.revisionHistoryLimit is not set \(the default, 10\), below the minimum 20: /);
  });

  it('the minimum must be a positive integer', () => {
    for (const bad of ['{minimum: 0}', '{minimum: 2.5}', '{}', '{minimum: 10, extra: 1}']) {
      assert.throws(() => minimum(bad), (err: unknown) => isTracegateError(err, 'POLICY_SCHEMA'), bad);
    }
  });
});
