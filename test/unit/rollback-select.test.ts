/**
 * Which revision a rollback goes to. `--to-last-good` must never pick the current revision, a failed
 * one, a change the gate did not verify (UNVERIFIED, BREAK-GLASS), a state whose rollout failed or never
 * finished, or a revision that does not hold the workload — and when none qualifies, it must say why
 * each one was passed over.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TracegateError } from '../../src/errors.js';
import type { HelmRelease } from '../../src/recorder/release.js';
import type { StoredRelease } from '../../src/recorder/storage.js';
import type { TrailEntry } from '../../src/recorder/trail.js';
import { lastGoodRevision, requestedRevision } from '../../src/rollback/select.js';

function manifest(kind: string, name: string, image: string): string {
  return `---\n# Source: web/templates/w.yaml\napiVersion: apps/v1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ${image}\n`;
}

function rev(version: number, status = 'superseded', m = manifest('Deployment', 'web', `nginx:1.${version}`)): StoredRelease {
  const release: HelmRelease = { name: 'web', namespace: 'demo', version, manifest: m, info: { status, description: 'Upgrade complete' } };
  return { release, labels: {} };
}

let seq = 0;
function entry(revision: number, over: Partial<TrailEntry> = {}): TrailEntry {
  return { seq: ++seq, time: '2026-01-01T00:00:00Z', event: 'change', uid: 'u-1', template: `t${revision}`, revision, verdict: 'verified', rollout: 'complete', ...over };
}

/** An entry whose rollout is still running (the recorder has not noted an outcome). */
function withoutRollout(e: TrailEntry): TrailEntry {
  const { rollout: _running, ...rest } = e;
  return rest;
}

function codeOf(fn: () => unknown): { code: string; message: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TracegateError, String(err));
    return { code: err.code, message: err.message, details: err.details as Record<string, unknown> };
  }
  assert.fail('expected a TracegateError');
}

describe('lastGoodRevision', () => {
  it('passes over every newer revision that is not good and says why, in order newest first', () => {
    const history = [rev(1), rev(2), rev(3), rev(4), rev(5), rev(6), rev(7, 'deployed')];
    const entries = [
      entry(1, { verdict: 'verified', rollout: 'complete' }),
      entry(2),
      entry(3, { rollout: 'failed' }),
      withoutRollout(entry(4)),
      entry(5, { verdict: 'break-glass' }),
      entry(6, { verdict: 'unverified' }),
      entry(7),
    ];
    const picked = lastGoodRevision(history, entries, 'Deployment', 'web');
    assert.equal(picked.target.release.version, 2);
    assert.deepEqual(picked.passedOver, ['6: UNVERIFIED', '5: BREAK-GLASS', '4: rollout never completed', '3: rollout failed']);
  });

  it('never picks the current revision, even when it is the only good one', () => {
    const history = [rev(1), rev(2, 'deployed')];
    assert.equal(lastGoodRevision(history, [entry(1), entry(2)], 'Deployment', 'web').target.release.version, 1);
    const e = codeOf(() => lastGoodRevision([rev(1), rev(2, 'deployed')], [entry(1, { verdict: 'unverified' }), entry(2)], 'Deployment', 'web'));
    assert.equal(e.code, 'NO_GOOD_REVISION');
  });

  it('uses the highest version as current whatever the order of the history', () => {
    const picked = lastGoodRevision([rev(3, 'deployed'), rev(1), rev(2)], [entry(1), entry(2), entry(3)], 'Deployment', 'web');
    assert.equal(picked.target.release.version, 2);
  });

  it('skips a failed revision (never applied) even when its trail entry looks good', () => {
    const picked = lastGoodRevision([rev(1), rev(2, 'failed'), rev(3, 'deployed')], [entry(1), entry(2), entry(3)], 'Deployment', 'web');
    assert.equal(picked.target.release.version, 1);
    assert.deepEqual(picked.passedOver, ['2: failed (never applied)']);
  });

  it('skips revisions whose manifest lacks the workload (another kind, another name, or no manifest)', () => {
    const history = [
      rev(1),
      rev(2, 'superseded', manifest('StatefulSet', 'web', 'nginx:2')),
      rev(3, 'superseded', manifest('Deployment', 'api', 'nginx:3')),
      { ...rev(4), release: { ...rev(4).release, manifest: undefined } },
      rev(5, 'deployed'),
    ];
    const picked = lastGoodRevision(history, [entry(1), entry(2), entry(3), entry(4), entry(5)], 'Deployment', 'web');
    assert.equal(picked.target.release.version, 1);
    assert.deepEqual(picked.passedOver, ['4: no Deployment web in its manifest', '3: no Deployment web in its manifest', '2: no Deployment web in its manifest']);
  });

  it('skips a revision the trail does not know, and ignores deletion entries and entries of other revisions', () => {
    const entries = [entry(1), entry(2, { event: 'delete' }), entry(9)];
    const picked = lastGoodRevision([rev(1), rev(2), rev(3, 'deployed')], entries, 'Deployment', 'web');
    assert.equal(picked.target.release.version, 1);
    assert.equal(picked.passedOver.length, 1);
    assert.match(picked.passedOver[0]!, /^2: not in the trail/);
  });

  it('reads the newest trail entry (by seq, not array position) of a revision when there are several', () => {
    const older = entry(1, { verdict: 'verified', rollout: 'complete' });
    const newer = entry(1, { verdict: 'unverified' });
    const e = codeOf(() => lastGoodRevision([rev(1), rev(2, 'deployed')], [newer, older], 'Deployment', 'web'));
    assert.equal(e.code, 'NO_GOOD_REVISION');
    assert.match(e.message, /1: UNVERIFIED/);
  });

  it('fails with NO_GOOD_REVISION naming the current revision and why each older one was passed over', () => {
    const e = codeOf(() =>
      lastGoodRevision([rev(1, 'failed'), rev(2), rev(3), rev(4, 'deployed')], [entry(2, { verdict: 'break-glass' }), entry(3, { rollout: 'failed' })], 'Deployment', 'web'),
    );
    assert.equal(e.code, 'NO_GOOD_REVISION');
    assert.equal(e.message, 'no revision before 4 is verified and rolled out completely (3: rollout failed; 2: BREAK-GLASS; 1: failed (never applied))');
    assert.deepEqual(e.details.passedOver, ['3: rollout failed', '2: BREAK-GLASS', '1: failed (never applied)']);
  });

  it('fails with a plain message when there is nothing before the current revision, or no history at all', () => {
    assert.equal(codeOf(() => lastGoodRevision([rev(1, 'deployed')], [entry(1)], 'Deployment', 'web')).message, 'no revision before 1 is verified and rolled out completely');
    assert.equal(codeOf(() => lastGoodRevision([], [], 'Deployment', 'web')).message, 'no revision before the current one is verified and rolled out completely');
  });
});

describe('requestedRevision', () => {
  it('returns the revision asked for, whatever its status, with nothing passed over', () => {
    const picked = requestedRevision([rev(1), rev(2, 'failed'), rev(3, 'deployed')], 2, 'demo/web');
    assert.equal(picked.target.release.version, 2);
    assert.deepEqual(picked.passedOver, []);
  });

  it('fails with RELEASE_NOT_FOUND listing the revisions there are', () => {
    const e = codeOf(() => requestedRevision([rev(1), rev(2, 'deployed')], 7, 'demo/web'));
    assert.equal(e.code, 'RELEASE_NOT_FOUND');
    assert.equal(e.message, 'release demo/web has no revision 7 (revisions: 1, 2)');
    assert.match(codeOf(() => requestedRevision([], 1, 'demo/web')).message, /\(revisions: none\)$/);
  });
});
