/**
 * The recorder's side of rollback. `restore`: Helm's own "Rollback to N" revision, last written by helm,
 * whose live template is not the revision's (Helm 4's server-side apply kept a sidecar another manager
 * owns) is finished by replacing the template — but never tracegate's own rollback revisions, never a
 * change someone else made after Helm, and never when the recorder may not write workloads.
 * `breakGlassPastGate`: the outage path is honoured only for the write that set the annotation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { KubeObject, ManagedFieldsEntry } from '../../src/k8s/types.js';
import { lastWriter, planRecording, type PlanInput } from '../../src/recorder/plan.js';
import { breakGlassPastGate, readProvenance } from '../../src/recorder/provenance.js';
import type { HelmRelease } from '../../src/recorder/release.js';
import type { StoredRelease } from '../../src/recorder/storage.js';

const P = 'tracegate.io/';
const NOW = new Date('2026-11-22T10:00:00.000Z');

function manifest(image: string): string {
  return (
    '---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n' +
    '  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n' +
    `        - name: web\n          image: "${image}"\n`
  );
}

function rev(version: number, status: string, image: string, description: string, labels: Record<string, string> = {}): StoredRelease {
  const release: HelmRelease = { name: 'web', namespace: 'demo', version, manifest: manifest(image), info: { status, description, first_deployed: 'x', last_deployed: 'x' }, chart: { metadata: { name: 'web' } } };
  return { release, labels };
}

/** Revision 3 is Helm's rollback to revision 1. */
function history(rollbackLabels: Record<string, string> = {}, description = 'Rollback to 1'): StoredRelease[] {
  return [rev(1, 'superseded', 'nginx:1.25', 'Install complete'), rev(2, 'superseded', 'nginx:1.26', 'Upgrade complete'), rev(3, 'deployed', 'nginx:1.25', description, rollbackLabels)];
}

/** The live Deployment: revision 1's template as stored, plus a sidecar that `kubectl patch` added and helm's SSA kept. */
function live(opts: { sidecar?: boolean; managers?: ManagedFieldsEntry[] } = {}): KubeObject {
  const doc = parseYaml(manifest('nginx:1.25')) as KubeObject;
  const spec = (doc.spec!.template as { spec: { containers: Record<string, unknown>[] } }).spec;
  spec.containers[0]!.terminationMessagePath = '/dev/termination-log';
  if (opts.sidecar ?? true) spec.containers.push({ name: 'sidecar', image: 'envoy:1' });
  return {
    ...doc,
    metadata: {
      ...doc.metadata,
      namespace: 'demo',
      uid: 'u-1',
      annotations: { 'meta.helm.sh/release-name': 'web', 'meta.helm.sh/release-namespace': 'demo' },
      managedFields: opts.managers ?? [
        { manager: 'kubectl-patch', operation: 'Update', time: '2026-11-22T09:00:00Z' },
        { manager: 'helm', operation: 'Apply', time: '2026-11-22T09:30:00Z' },
      ],
    },
  };
}

function plan(workload: KubeObject, h: StoredRelease[], restoreRollbacks: boolean | 'absent' = true) {
  const input: PlanInput = { workload, provenance: readProvenance(workload, P, undefined), release: { name: 'web', namespace: 'demo', adopted: false }, history: h, prefix: P, now: NOW, ...(restoreRollbacks === 'absent' ? {} : { restoreRollbacks }) };
  return planRecording(input);
}

describe('planRecording: restore after helm rollback', () => {
  it('restores Helm\'s "Rollback to N" revision when helm wrote last and the live template differs', () => {
    const p = plan(live(), history());
    assert.equal(p.action, 'restore');
    if (p.action !== 'restore') return;
    assert.equal(p.revision, 3);
    assert.deepEqual(p.changes, ['set spec.template.spec.containers[name=sidecar]']);
    assert.match(p.reason, /Rollback to 1 \(revision 3\) left set spec\.template\.spec\.containers\[name=sidecar\]/);
    assert.equal(p.target.kind, 'Deployment');
    const containers = (p.target.spec!.template as { spec: { containers: { name: string; image: string }[] } }).spec.containers;
    assert.deepEqual(containers, [{ name: 'web', image: 'nginx:1.25' }], 'the target is the rollback revision\'s manifest, without the sidecar');
  });

  it('restores when Helm copied an earlier revision\'s tracegate labels into its rollback revision', () => {
    // Helm carries the target's custom labels into the rollback revision: recorded-revision names 1, not 3.
    const p = plan(live(), history({ [`${P}recorded-by`]: 'tracegate', [`${P}recorded-revision`]: '1' }));
    assert.equal(p.action, 'restore');
  });

  it('does not restore tracegate\'s own rollback revision: it records the change instead', () => {
    const p = plan(live(), history({ [`${P}recorded-by`]: 'tracegate', [`${P}recorded-revision`]: '3', [`${P}rollback-of`]: '1' }));
    assert.equal(p.action, 'record');
  });

  it('does not restore when someone other than helm wrote last (a change after the rollback is a change)', () => {
    const managers: ManagedFieldsEntry[] = [
      { manager: 'helm', operation: 'Update', time: '2026-11-22T09:00:00Z' },
      { manager: 'kubectl-patch', operation: 'Update', time: '2026-11-22T09:30:00Z' },
    ];
    assert.equal(plan(live({ managers }), history()).action, 'record');
    assert.equal(plan(live({ managers: [] }), history()).action, 'record', 'no managedFields: the writer is unknown');
  });

  it('restores when the template is still the one Helm\'s rollback superseded, whoever the stamps name', () => {
    // Revision 2 already ran the sidecar; Helm's apply of revision 1 kept it (another manager owns it) and
    // changed no template field, so the gate's stamps still name kubectl-patch's earlier write.
    const managers: ManagedFieldsEntry[] = [
      { manager: 'helm', operation: 'Apply', time: '2026-11-22T09:00:00Z' },
      { manager: 'kubectl-patch', operation: 'Update', time: '2026-11-22T09:30:00Z' },
    ];
    const withSidecar = rev(2, 'superseded', 'nginx:1.25', 'container sidecar added');
    withSidecar.release.manifest += '        - name: sidecar\n          image: "envoy:1"\n';
    const h = [rev(1, 'superseded', 'nginx:1.25', 'Install complete'), withSidecar, rev(3, 'deployed', 'nginx:1.25', 'Rollback to 1')];
    const p = plan(live({ managers }), h);
    assert.equal(p.action, 'restore');
    // A failed revision between them is not what ran: the comparison skips it.
    const failed = rev(3, 'failed', 'nginx:9', 'Rollback "web" failed');
    const h2 = [rev(1, 'superseded', 'nginx:1.25', 'Install complete'), withSidecar, failed, rev(4, 'deployed', 'nginx:1.25', 'Rollback to 1')];
    assert.equal(plan(live({ managers }), h2).action, 'restore');
    // A template that differs from both is someone's new change: recorded, not undone.
    const other = live({ managers });
    (other.spec!.template as { spec: { containers: { image: string }[] } }).spec.containers[1]!.image = 'envoy:2';
    assert.equal(plan(other, h).action, 'record');
  });

  it('judges the last writer by the main resource, not a newer status write', () => {
    const managers: ManagedFieldsEntry[] = [
      { manager: 'kubectl-patch', operation: 'Update', time: '2026-11-22T09:00:00Z' },
      { manager: 'helm', operation: 'Update', time: '2026-11-22T09:30:00Z' },
      { manager: 'kube-controller-manager', operation: 'Update', time: '2026-11-22T09:45:00Z', subresource: 'status' },
    ];
    assert.equal(lastWriter(live({ managers })), 'helm');
    assert.equal(plan(live({ managers }), history()).action, 'restore');
  });

  it('does not restore when restoreRollbacks is off or not given', () => {
    assert.equal(plan(live(), history(), false).action, 'record');
    assert.equal(plan(live(), history(), 'absent').action, 'record');
  });

  it('does not restore a revision that is not Helm\'s rollback, nor one whose description only resembles it', () => {
    assert.equal(plan(live(), history({}, 'Upgrade complete')).action, 'record');
    assert.equal(plan(live(), history({}, 'Rollback to 1 (completed by tracegate)')).action, 'record');
    assert.equal(plan(live(), history({}, 'Rollback "web" failed: boom')).action, 'record');
  });

  it('plans nothing when Helm\'s rollback landed exactly', () => {
    const p = plan(live({ sidecar: false }), history());
    assert.equal(p.action, 'none');
  });

  it('waits while Helm is mid-operation, even with a rollback to finish', () => {
    const h = [...history(), rev(4, 'pending-rollback', 'nginx:1.26', 'Preparing rollback')];
    assert.equal(plan(live(), h).action, 'wait');
  });
});

describe('breakGlassPastGate', () => {
  const SET = '2026-11-22T10:00:00.000Z';
  const obj = (annotations: Record<string, unknown>, managedFields?: unknown): KubeObject =>
    ({ kind: 'Deployment', metadata: { name: 'web', annotations, ...(managedFields === undefined ? {} : { managedFields }) } }) as unknown as KubeObject;
  /** A write whose manager owns the break-glass-by annotation, as the write that set it does (fieldsV1). */
  const owns = { 'f:metadata': { 'f:annotations': { [`f:${P}break-glass-by`]: {} } } };
  const write = (time: string, extra: Partial<ManagedFieldsEntry> = {}): ManagedFieldsEntry => ({ manager: 'tracegate-rollback', operation: 'Update', time, fieldsV1: owns, ...extra } as ManagedFieldsEntry);

  it('is undefined when the newest write does not own the annotation: it was left by an earlier write', () => {
    const o = obj({ [`${P}break-glass-by`]: `oncall@corp/${SET}` }, [write('2026-11-22T10:00:01Z'), write('2026-11-22T10:00:30Z', { manager: 'kubectl-set', fieldsV1: { 'f:spec': {} } } as Partial<ManagedFieldsEntry>)]);
    assert.equal(breakGlassPastGate(o, P), undefined);
  });

  it('names the user, reason and time when the newest write landed just after the annotation\'s time', () => {
    const o = obj({ [`${P}break-glass-by`]: `oncall@corp/${SET}`, [`${P}break-glass`]: 'INC-42 gate down' }, [write('2026-11-22T09:00:00Z', { manager: 'helm' }), write('2026-11-22T10:00:02Z')]);
    assert.deepEqual(breakGlassPastGate(o, P), { user: 'oncall@corp', reason: 'INC-42 gate down', at: SET });
  });

  it('tolerates managedFields\' second precision (the write shown up to a second before the annotation)', () => {
    assert.ok(breakGlassPastGate(obj({ [`${P}break-glass-by`]: `u/2026-11-22T10:00:00.900Z` }, [write('2026-11-22T10:00:00Z')]), P));
    assert.equal(breakGlassPastGate(obj({ [`${P}break-glass-by`]: `u/${SET}` }, [write('2026-11-22T09:59:58Z')]), P), undefined);
  });

  it('is undefined when the newest write came long after the annotation: the annotation is stale', () => {
    const o = obj({ [`${P}break-glass-by`]: `oncall@corp/${SET}`, [`${P}break-glass`]: 'old' }, [write('2026-11-22T10:00:01Z'), write('2026-11-22T11:00:00Z', { manager: 'kubectl-set' })]);
    assert.equal(breakGlassPastGate(o, P), undefined);
  });

  it('ignores status writes when judging the newest write', () => {
    const o = obj({ [`${P}break-glass-by`]: `oncall@corp/${SET}` }, [write('2026-11-22T10:00:01Z'), write('2026-11-22T12:00:00Z', { manager: 'kube-controller-manager', subresource: 'status' })]);
    assert.equal(breakGlassPastGate(o, P)?.user, 'oncall@corp');
  });

  it('keeps a user name with slashes whole, and gives a default reason', () => {
    const o = obj({ [`${P}break-glass-by`]: `oidc:https://id.example/alice/${SET}` }, [write('2026-11-22T10:00:01Z')]);
    assert.deepEqual(breakGlassPastGate(o, P), { user: 'oidc:https://id.example/alice', reason: 'no reason given', at: SET });
  });

  for (const [name, value] of [
    ['no slash', `oncall@corp ${SET}`],
    ['no user', `/${SET}`],
    ['a time that does not parse', 'oncall@corp/yesterday'],
    ['an empty time', 'oncall@corp/'],
    ['a number', 42],
    ['an object', { user: 'x' }],
    ['empty', ''],
  ] as const) {
    it(`is undefined for a malformed break-glass-by: ${name}`, () => {
      assert.equal(breakGlassPastGate(obj({ [`${P}break-glass-by`]: value }, [write('2026-11-22T10:00:01Z')]), P), undefined);
    });
  }

  it('is undefined without managedFields, with no usable times, or without the annotation', () => {
    const by = { [`${P}break-glass-by`]: `oncall@corp/${SET}` };
    assert.equal(breakGlassPastGate(obj(by), P), undefined);
    assert.equal(breakGlassPastGate(obj(by, []), P), undefined);
    assert.equal(breakGlassPastGate(obj(by, [{ manager: 'x' }, { manager: 'y', time: 'garbage' }]), P), undefined);
    assert.equal(breakGlassPastGate(obj({}, [write('2026-11-22T10:00:01Z')]), P), undefined);
    assert.equal(breakGlassPastGate({ kind: 'Deployment' }, P), undefined);
  });

  it('never throws on annotations that are not a map', () => {
    assert.equal(breakGlassPastGate({ kind: 'Deployment', metadata: { annotations: ['x'] } } as unknown as KubeObject, P), undefined);
    assert.equal(breakGlassPastGate({ kind: 'Deployment', metadata: { annotations: 'x' } } as unknown as KubeObject, P), undefined);
  });

  // managedFields are client-written: a non-list, non-object entries and unparseable times are skipped, never thrown on.
  it('never throws on a managedFields that is not a list or holds non-objects', () => {
    const by = { [`${P}break-glass-by`]: `oncall@corp/${SET}` };
    assert.equal(breakGlassPastGate(obj(by, { manager: 'x', time: '2026-11-22T10:00:01Z' }), P), undefined);
    assert.equal(breakGlassPastGate(obj(by, 'x'), P), undefined);
    assert.equal(breakGlassPastGate(obj(by, [null, 3, write('2026-11-22T10:00:01Z')]), P)?.user, 'oncall@corp');
    // One unparseable time makes Math.max NaN and hides the valid write.
    assert.equal(breakGlassPastGate(obj(by, [{ manager: 'x', time: 'garbage' }, write('2026-11-22T10:00:01Z')]), P)?.user, 'oncall@corp');
  });
});
