/**
 * The recorder with the real helm v4 and v3 binaries (helm-release-storage.md §5–§7): what tracegate
 * records for a `kubectl set image` is read by `helm history` / `helm get manifest` and restored by
 * `helm rollback`; Helm's own revisions are left alone; workloads outside any release are adopted;
 * changes that bypassed the gate are recorded as UNVERIFIED.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tracegateKeys } from '../../src/admission/annotations.js';
import type { KubeObject } from '../../src/k8s/types.js';
import {
  CHART_DIR,
  PREFIX,
  createRecorderHarness,
  imageOf,
  manifestDeployment,
  runsManifest,
  type Any,
  type HarnessRecorder,
  type RecorderHarness,
} from '../support/recorder-harness.js';

const keys = tracegateKeys(PREFIX);
let h: RecorderHarness;

before(async () => {
  h = await createRecorderHarness();
  h.gate.commit = 'c0ffee1';
  h.gate.approver = 'bob';
});

after(async () => {
  await h.close();
});

/** `version status` per stored revision, for compact comparisons. */
function table(ns: string, release: string): string[] {
  return h.revisions(ns, release).map((r) => `${r.version} ${r.status}`);
}

function changeIdOf(live: Any): string {
  // `<id>.<template hash>.<key id>.<MAC>`: descriptions and labels name the change by its id.
  return (live['metadata']['annotations'][keys.changeId] as string).split('.')[0]!;
}

/** The gate-stamped description tracegate writes for a verified image change made with kubectl set image. */
function setImageDescription(live: Any, from: string, to: string, container = 'web'): string {
  return `image ${container}: ${from} → ${to} by admin via kubectl-set (commit c0ffee1, approved by bob, change ${changeIdOf(live)}) (recorded; chart values unchanged)`;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A `helm history` row: revision, status and description, whatever the time, chart and app version columns say. */
function historyRow(revision: number, status: string, description: string): RegExp {
  return new RegExp(`^${revision}\\s.*\\s${status}\\s+\\S+\\s+\\S+\\s+${escape(description)}\\s*$`, 'm');
}

/** Processes the live Deployment once more, directly: what the recorder decides for it now. */
async function decide(rec: HarnessRecorder, ns: string, name: string): Promise<string> {
  const plan = await rec.running.recorder.processOne(h.deployment(ns, name) as KubeObject);
  return plan.action;
}

describe('helm 4: install (server-side apply), a recorded kubectl set image, rollback and upgrade', () => {
  const ns = 'helm4';
  let rec: HarnessRecorder;
  let rev1Manifest: string;

  before(async () => {
    h.namespace(ns, 'shop');
    rec = await h.startRecorder({ namespaces: [ns] });
    // A user-supplied value, so that which values a later upgrade reuses is visible.
    await h.ok(h.tools.helm, ['install', 'web', CHART_DIR, '-n', ns, '--set', 'greeting=hi']);
    await rec.settled(ns, 'web');
    rev1Manifest = h.revisions(ns, 'web')[0]!.manifest;
  });

  it('leaves the revision Helm wrote for its own install alone', () => {
    const [rev1, ...rest] = h.revisions(ns, 'web');
    assert.equal(rest.length, 0);
    assert.equal(rev1?.status, 'deployed');
    assert.equal(rev1?.description, 'Install complete');
    assert.equal(rev1?.release.apply_method, 'ssa', 'helm 4 installs with server-side apply');
    assert.ok(runsManifest(h.deployment(ns, 'web'), rev1Manifest));
  });

  it('records kubectl set image as revision 2: only the image changed in the manifest, provenance in the description and labels', async () => {
    await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.26', '-n', ns]);
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web'), ['1 superseded', '2 deployed']);
    const [rev1, rev2] = h.revisions(ns, 'web');
    const live = h.deployment(ns, 'web');
    assert.equal(rev2!.description, setImageDescription(live, 'nginx:1.25', 'nginx:1.26'));
    assert.equal(rev2!.manifest, rev1Manifest.replace('image: "nginx:1.25"', 'image: "nginx:1.26"'), 'the rendered manifest with only the image changed');
    assert.doesNotMatch(rev2!.manifest, /imagePullPolicy|terminationMessagePath|dnsPolicy|status:|resourceVersion|managedFields|uid:/, 'no defaults, no status');
    for (const field of ['chart', 'config', 'hooks', 'namespace', 'apply_method'] as const) {
      assert.deepEqual(rev2!.release[field], rev1!.release[field], `${field} carried over`);
    }
    assert.equal(rev2!.release.info.notes, rev1!.release.info.notes, 'notes carried over');
    assert.equal(rev2!.release.info.first_deployed, rev1!.release.info.first_deployed, 'first_deployed kept verbatim');
    assert.deepEqual(
      Object.fromEntries(Object.entries(rev2!.labels).filter(([k]) => k.startsWith(PREFIX))),
      {
        [`${PREFIX}recorded-by`]: 'tracegate',
        [`${PREFIX}recorded-revision`]: '2',
        [`${PREFIX}verified`]: 'true',
        [`${PREFIX}tenant`]: 'shop',
        [`${PREFIX}commit`]: 'c0ffee1',
        [`${PREFIX}approver`]: 'bob',
        [`${PREFIX}changed-by`]: 'admin',
        [`${PREFIX}field-manager`]: 'kubectl-set',
        [`${PREFIX}change-id`]: changeIdOf(live),
        // The approver is only as typed: no signed statement proved it.
        [`${PREFIX}approval`]: 'unverified',
      },
    );
    assert.equal(rev2!.labels['status'], 'deployed');
    assert.equal(rev1!.labels['status'], 'superseded', 'label and JSON status agree');
  });

  it('helm 4 and helm 3 list the recorded revision; helm get manifest shows it', async () => {
    const description = h.revisions(ns, 'web')[1]!.description;
    for (const bin of [h.tools.helm, h.tools.helm3]) {
      const history = (await h.ok(bin, ['history', 'web', '-n', ns])).stdout;
      assert.match(history, historyRow(1, 'superseded', 'Install complete'));
      assert.match(history, historyRow(2, 'deployed', description));
      const manifest = (await h.ok(bin, ['get', 'manifest', 'web', '-n', ns])).stdout;
      assert.equal(manifest.trimEnd(), rev1Manifest.replace('image: "nginx:1.25"', 'image: "nginx:1.26"').trimEnd());
      const first = (await h.ok(bin, ['get', 'manifest', 'web', '-n', ns, '--revision', '1'])).stdout;
      assert.equal(first.trimEnd(), rev1Manifest.trimEnd());
    }
    const status = (await h.ok(h.tools.helm, ['status', 'web', '-n', ns])).stdout;
    assert.match(status, /REVISION: 2/);
    assert.match(status, new RegExp(`DESCRIPTION: ${escape(description)}`));
  });

  it('helm 4 rollback to the server-side-applied revision 1 conflicts with kubectl-set (§5.3); the recorder invents nothing', async () => {
    const res = await h.run(h.tools.helm, ['rollback', 'web', '1', '-n', ns]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /conflict occurred while applying object helm4\/web apps\/v1, Kind=Deployment: Apply failed with 1 conflict: conflict with "kubectl-set"/);
    assert.deepEqual(table(ns, 'web'), ['1 superseded', '2 superseded', '3 failed'], 'Helm leaves no deployed revision');
    assert.equal(imageOf(h.deployment(ns, 'web')), 'nginx:1.26', 'nothing was applied');
    // Live still runs revision 2: appending to the failed revision's manifest would record the change again.
    assert.equal(await decide(rec, ns, 'web'), 'none');
    assert.equal(h.revisions(ns, 'web').length, 3);
  });

  it('helm 4 rollback --server-side=false restores revision 1; the recorder records nothing more', async () => {
    await h.ok(h.tools.helm, ['rollback', 'web', '1', '-n', ns, '--server-side=false']);
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web'), ['1 superseded', '2 superseded', '3 failed', '4 deployed']);
    const rev4 = h.revisions(ns, 'web')[3]!;
    assert.equal(rev4.description, 'Rollback to 1');
    assert.equal(rev4.release.apply_method, 'csa');
    assert.equal(rev4.manifest, rev1Manifest, 'Helm copies the target manifest verbatim');
    const live = h.deployment(ns, 'web');
    assert.equal(imageOf(live), 'nginx:1.25');
    assert.ok(runsManifest(live, rev1Manifest), 'the Deployment is revision 1 again');
    assert.equal(await decide(rec, ns, 'web'), 'none');
  });

  it('helm 4 rollback --force-conflicts restores a recorded revision; nothing more is recorded', async () => {
    await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.27', '-n', ns]);
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web').slice(3), ['4 superseded', '5 deployed']);
    assert.equal(h.revisions(ns, 'web')[4]!.description, setImageDescription(h.deployment(ns, 'web'), 'nginx:1.25', 'nginx:1.27'));
    // Revision 2 was recorded by tracegate from helm 4's ssa revision 1, so it carries apply_method ssa too.
    const conflict = await h.run(h.tools.helm, ['rollback', 'web', '2', '-n', ns]);
    assert.equal(conflict.code, 1);
    await h.ok(h.tools.helm, ['rollback', 'web', '2', '-n', ns, '--force-conflicts']);
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web').slice(4), ['5 superseded', '6 failed', '7 deployed']);
    const revs = h.revisions(ns, 'web');
    assert.equal(revs[6]!.description, 'Rollback to 2');
    const live = h.deployment(ns, 'web');
    assert.equal(imageOf(live), 'nginx:1.26');
    assert.ok(runsManifest(live, revs[1]!.manifest));
    assert.equal(await decide(rec, ns, 'web'), 'none');
    assert.equal(h.revisions(ns, 'web').length, 7);
  });

  it('helm upgrade after a recorded change reuses the carried-over values, so it re-renders the chart image (§6.3, §7.7)', async () => {
    await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.28', '-n', ns]);
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web').slice(6), ['7 superseded', '8 deployed']);
    // Server-side apply by default: kubectl-set owns the image, so the upgrade conflicts as the rollback did.
    const conflict = await h.run(h.tools.helm, ['upgrade', 'web', CHART_DIR, '-n', ns]);
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /UPGRADE FAILED: conflict occurred while applying object/);
    assert.deepEqual(table(ns, 'web').slice(7), ['8 deployed', '9 failed'], 'a failed upgrade leaves the current revision deployed');
    assert.equal(await decide(rec, ns, 'web'), 'none', 'the failed upgrade applied nothing');
    const upgrade = await h.ok(h.tools.helm, ['upgrade', 'web', CHART_DIR, '-n', ns, '--force-conflicts', '--debug']);
    assert.match(upgrade.stdout, /STATUS: deployed/);
    assert.match(upgrade.stderr, /msg="copying values from old release" name=web version=8/, 'the values of the recorded revision');
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web').slice(7), ['8 superseded', '9 failed', '10 deployed']);
    const revs = h.revisions(ns, 'web');
    assert.equal(revs[9]!.description, 'Upgrade complete');
    assert.deepEqual(revs[7]!.release.config, { greeting: 'hi' }, 'the recorded revision carries the install\'s values');
    assert.deepEqual(revs[9]!.release.config, { greeting: 'hi' }, 'and the upgrade reused them');
    assert.equal((h.server.store.get('configmaps', ns, 'web-config') as Any)['data']['greeting'], 'hi');
    assert.equal(imageOf(h.deployment(ns, 'web')), 'nginx:1.25', 'the recorded image was not in the values: the chart default is back');
    assert.equal(await decide(rec, ns, 'web'), 'none');
    assert.equal(h.revisions(ns, 'web').length, 10);
  });
});

describe('helm 3: install (client-side apply), a recorded change, rollback, upgrade; tracegate reads what Helm wrote', () => {
  const ns = 'helm3';
  let rec: HarnessRecorder;
  let rev1Manifest: string;

  before(async () => {
    h.namespace(ns, 'shop');
    rec = await h.startRecorder({ namespaces: [ns] });
    await h.ok(h.tools.helm3, ['install', 'web', CHART_DIR, '-n', ns]);
    await rec.settled(ns, 'web');
    rev1Manifest = h.revisions(ns, 'web')[0]!.manifest;
  });

  it('records kubectl set image on a helm 3 release; helm 3 and helm 4 read it', async () => {
    assert.equal(h.revisions(ns, 'web')[0]!.release.apply_method, undefined, 'helm 3 writes no apply_method');
    await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.26', '-n', ns]);
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web'), ['1 superseded', '2 deployed']);
    const rev2 = h.revisions(ns, 'web')[1]!;
    assert.equal(rev2.description, setImageDescription(h.deployment(ns, 'web'), 'nginx:1.25', 'nginx:1.26'));
    assert.equal(rev2.release.info.deleted, '', 'helm 3\'s always-present info.deleted is carried over');
    for (const bin of [h.tools.helm3, h.tools.helm]) {
      const history = (await h.ok(bin, ['history', 'web', '-n', ns])).stdout;
      assert.match(history, historyRow(2, 'deployed', rev2.description));
      const manifest = (await h.ok(bin, ['get', 'manifest', 'web', '-n', ns])).stdout;
      assert.equal(manifest.trimEnd(), rev1Manifest.replace('image: "nginx:1.25"', 'image: "nginx:1.26"').trimEnd());
    }
  });

  it('helm 3 rollback web 1 succeeds (strategic merge patch, no conflict) and the recorder records nothing more', async () => {
    const res = await h.ok(h.tools.helm3, ['rollback', 'web', '1', '-n', ns]);
    assert.match(res.stdout, /Rollback was a success/);
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web'), ['1 superseded', '2 superseded', '3 deployed']);
    assert.equal(h.revisions(ns, 'web')[2]!.description, 'Rollback to 1');
    const live = h.deployment(ns, 'web');
    assert.ok(runsManifest(live, rev1Manifest));
    assert.equal(imageOf(live), 'nginx:1.25');
    assert.equal(await decide(rec, ns, 'web'), 'none');
  });

  it('helm 3 upgrade with values matching the recorded change sends no Deployment patch; a later plain upgrade reuses those values', async () => {
    await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.27', '-n', ns]);
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web').slice(2), ['3 superseded', '4 deployed']);
    const before = h.server.requests.length;
    await h.ok(h.tools.helm3, ['upgrade', 'web', CHART_DIR, '-n', ns, '--set', 'image.tag=1.27']);
    const patches = h.server.requests.slice(before).filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/web'));
    assert.deepEqual(patches, [], 'the live Deployment already runs what the upgrade renders');
    const plain = await h.ok(h.tools.helm3, ['upgrade', 'web', CHART_DIR, '-n', ns, '--debug']);
    assert.match(plain.stderr, /copying values from web \(v5\) to new release/, 'as in helm-release-storage.md §6.3');
    await rec.settled(ns, 'web');
    assert.deepEqual(table(ns, 'web').slice(3), ['4 superseded', '5 superseded', '6 deployed']);
    assert.equal(imageOf(h.deployment(ns, 'web')), 'nginx:1.27');
    assert.equal(await decide(rec, ns, 'web'), 'none');
  });

  it('tracegate history shows the revisions Helm wrote next to the recorded ones', async () => {
    const res = await h.cli(['history', `${ns}/web`, '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as Any;
    assert.deepEqual(out.release, { namespace: ns, name: 'web', adopted: false });
    assert.deepEqual(
      (out.revisions as Any[]).map((r) => [r.revision, r.status, r.description.startsWith('image web:') ? 'recorded' : r.description, r.chart]),
      [
        [1, 'superseded', 'Install complete', 'web-0.1.0'],
        [2, 'superseded', 'recorded', 'web-0.1.0'],
        [3, 'superseded', 'Rollback to 1', 'web-0.1.0'],
        [4, 'superseded', 'recorded', 'web-0.1.0'],
        [5, 'superseded', 'Upgrade complete', 'web-0.1.0'],
        [6, 'deployed', 'Upgrade complete', 'web-0.1.0'],
      ],
    );
    const [install, recorded, rollback] = out.revisions as Any[];
    // Helm's own revisions are attributed to Helm's caller, from the gate's stamps when Helm applied them.
    assert.deepEqual([install!.verdict, install!.user, install!.fieldManager], ['verified', 'admin', 'helm']);
    assert.deepEqual([rollback!.verdict, rollback!.user], ['verified', 'admin']);
    assert.equal(recorded!.approver, 'bob');
  });
});

describe('adoption: a Deployment of no release becomes one', () => {
  const ns = 'adopt';
  let rec: HarnessRecorder;

  before(async () => {
    h.namespace(ns, 'shop');
    rec = await h.startRecorder({ namespaces: [ns] });
  });

  it('kubectl create deployment is adopted as revision 1 with a clean manifest and a minimal chart', async () => {
    await h.ok(h.tools.kubectl, ['create', 'deployment', 'shop', '--image=nginx:1.25', '--port=80', '-n', ns]);
    await rec.settled(ns, 'shop');
    const [rev1, ...rest] = h.revisions(ns, 'shop');
    assert.equal(rest.length, 0);
    const live = h.deployment(ns, 'shop');
    assert.equal(rev1!.status, 'deployed');
    assert.equal(rev1!.description, `Adopted by tracegate: image nginx: nginx:1.25 by admin via kubectl-create (commit c0ffee1, approved by bob, change ${changeIdOf(live)}) (recorded)`);
    assert.equal(rev1!.release.chart?.metadata?.annotations?.['tracegate.io/adopted'], 'true');
    assert.match(rev1!.manifest, /^---\n# Source: shop\/templates\/deployment\.yaml\n/);
    assert.doesNotMatch(rev1!.manifest, /tracegate\.io\/|status:|uid:|managedFields|terminationMessagePath|revisionHistoryLimit|imagePullPolicy/);
    assert.deepEqual(manifestDeployment(rev1!.manifest, 'shop')['spec']['template']['spec']['containers'], [{ name: 'nginx', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }]);
  });

  it('a later kubectl set image appends revision 2; helm history, get manifest and rollback work on the adopted release', async () => {
    await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/shop', 'nginx=nginx:1.26', '-n', ns]);
    await rec.settled(ns, 'shop');
    assert.deepEqual(table(ns, 'shop'), ['1 superseded', '2 deployed']);
    const [rev1, rev2] = h.revisions(ns, 'shop');
    assert.equal(rev2!.description, setImageDescription(h.deployment(ns, 'shop'), 'nginx:1.25', 'nginx:1.26', 'nginx'));
    assert.equal(rev2!.manifest, rev1!.manifest.replace('image: nginx:1.25', 'image: nginx:1.26'));
    for (const bin of [h.tools.helm, h.tools.helm3]) {
      const history = (await h.ok(bin, ['history', 'shop', '-n', ns])).stdout;
      assert.match(history, historyRow(1, 'superseded', rev1!.description));
      assert.match(history, historyRow(2, 'deployed', rev2!.description));
      assert.match(history, /shop-0\.0\.0/);
    }
    // An adopted revision has no apply_method: helm 4 rolls it back client-side, without a conflict.
    await h.ok(h.tools.helm, ['rollback', 'shop', '1', '-n', ns]);
    await rec.settled(ns, 'shop');
    assert.deepEqual(table(ns, 'shop'), ['1 superseded', '2 superseded', '3 deployed']);
    let live = h.deployment(ns, 'shop');
    assert.equal(imageOf(live), 'nginx:1.25');
    assert.ok(runsManifest(live, rev1!.manifest));
    // Helm's rollback stamps its ownership: the Deployment now names the release it was adopted into.
    assert.equal(live['metadata']['annotations']['meta.helm.sh/release-name'], 'shop');
    assert.equal(live['metadata']['labels']['app.kubernetes.io/managed-by'], 'Helm');
    assert.equal(await decide(rec, ns, 'shop'), 'none');

    await h.ok(h.tools.helm3, ['rollback', 'shop', '2', '-n', ns]);
    await rec.settled(ns, 'shop');
    assert.deepEqual(table(ns, 'shop'), ['1 superseded', '2 superseded', '3 superseded', '4 deployed']);
    live = h.deployment(ns, 'shop');
    assert.equal(imageOf(live), 'nginx:1.26');
    assert.equal(await decide(rec, ns, 'shop'), 'none');
  });
});

describe('unverified changes: the gate was bypassed', () => {
  const ns = 'bypass';
  let rec: HarnessRecorder;

  before(async () => {
    h.namespace(ns, 'shop');
    rec = await h.startRecorder({ namespaces: [ns] });
    await h.ok(h.tools.helm, ['install', 'web', CHART_DIR, '-n', ns]);
    await rec.settled(ns, 'web');
  });

  after(() => {
    h.gate.mode = 'stamp';
  });

  it('a change carrying a stale change id is recorded UNVERIFIED, labelled verified=false, logged as a warning and counted', async () => {
    await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.26', '-n', ns]);
    await rec.settled(ns, 'web');
    const before = await rec.metric('tracegate_recorder_unverified_changes_total');
    h.gate.mode = 'bypass';
    await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.27', '-n', ns]);
    await rec.settled(ns, 'web');
    const live = h.deployment(ns, 'web');
    assert.equal(changeIdOf(live), h.revisions(ns, 'web')[1]!.labels[`${PREFIX}change-id`], 'the object still carries the previous change id');
    assert.deepEqual(table(ns, 'web'), ['1 superseded', '2 superseded', '3 deployed']);
    const rev3 = h.revisions(ns, 'web')[2]!;
    assert.equal(rev3.description, 'UNVERIFIED: changed without passing the tracegate gate. image web: nginx:1.26 → nginx:1.27 via kubectl-set (per managedFields) (recorded; chart values unchanged)');
    assert.equal(rev3.labels[`${PREFIX}verified`], 'false');
    assert.equal(rev3.labels[`${PREFIX}commit`], undefined, 'the previous change\'s commit is not attributed to this one');
    assert.equal(await rec.metric('tracegate_recorder_unverified_changes_total'), before + 1);
    const warning = rec.logs.records().find((r) => r.level === 'warn' && r.revision === 3);
    assert.ok(warning, 'a warning log line');
    assert.match(String(warning.msg), /UNVERIFIED/);
    assert.equal(warning["verified"], false);
    assert.equal(warning.release, `${ns}/web`);
    const history = (await h.ok(h.tools.helm, ['history', 'web', '-n', ns])).stdout;
    assert.match(history, historyRow(3, 'deployed', rev3.description));
  });

  it('a Deployment created with no change id at all is adopted UNVERIFIED', async () => {
    const before = await rec.metric('tracegate_recorder_unverified_changes_total');
    await h.ok(h.tools.kubectl, ['create', 'deployment', 'sneaky', '--image=nginx:1.25', '-n', ns]);
    await rec.settled(ns, 'sneaky');
    const [rev1] = h.revisions(ns, 'sneaky');
    assert.equal(h.deployment(ns, 'sneaky')['metadata']['annotations']?.[keys.changeId], undefined);
    assert.equal(rev1!.description, 'UNVERIFIED: changed without passing the tracegate gate. Adopted by tracegate: image nginx: nginx:1.25 via kubectl-create (per managedFields) (recorded)');
    assert.equal(rev1!.labels[`${PREFIX}verified`], 'false');
    assert.equal(await rec.metric('tracegate_recorder_unverified_changes_total'), before + 1);
    assert.equal(await rec.metric('tracegate_recorder_revisions_total'), 3, 'two recorded changes and one adoption in this namespace');
  });
});
