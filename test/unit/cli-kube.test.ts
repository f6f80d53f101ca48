/** Workload references as users type them, and kubeconfig loading as kubectl does it. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { loadKubeConfig, parseWorkloadRef } from '../../src/cli/kube-client.js';
import type { CliIo } from '../../src/cli/io.js';
import { isTracegateError } from '../../src/errors.js';
import { loadKubeconfig } from '../../src/kube/load-kubeconfig.js';

describe('parseWorkloadRef', () => {
  const parse = (s: string, ns?: string) => {
    const r = parseWorkloadRef(s, ns);
    return r && `${r.namespace}/${r.kind.kind}/${r.name}`;
  };
  it('reads ns/name as a Deployment, and kinds in any spelling kubectl accepts', () => {
    assert.equal(parse('team-a/web'), 'team-a/Deployment/web');
    assert.equal(parse('team-a/statefulset/db'), 'team-a/StatefulSet/db');
    assert.equal(parse('team-a/sts/db'), 'team-a/StatefulSet/db');
    assert.equal(parse('cronjobs/nightly', 'team-b'), 'team-b/CronJob/nightly');
    assert.equal(parse('web', 'team-b'), 'team-b/Deployment/web');
    assert.equal(parse('rc/legacy'), 'default/ReplicationController/legacy');
  });
  it('refuses what is not a reference', () => {
    for (const bad of ['', 'a/b/c/d', 'Team/web', 'team-a/pod/x/y', 'team-a/Nope/x', '../x', 'team-a/WEB']) assert.equal(parse(bad), undefined, bad);
  });
});

describe('loadKubeconfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-kc-'));
  const config = (name: string, server: string, ctx: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "${server}"}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: ${ctx}\n  context: {cluster: c, user: u}\ncurrent-context: ${ctx}\n`);
    return file;
  };
  const a = config('a', 'https://a.example:6443', 'ctx-a');
  const b = config('b', 'https://b.example:6443', 'ctx-b');
  const empty = mkdtempSync(join(tmpdir(), 'tg-home-'));

  it('skips missing files in $KUBECONFIG and lets the first file win, as kubectl does', () => {
    const kc = loadKubeconfig({ env: { KUBECONFIG: [join(dir, 'missing.yaml'), a, b].join(delimiter) }, cwd: dir, home: empty });
    assert.equal(kc.getCurrentContext(), 'ctx-a');
    assert.equal(kc.getCurrentCluster()?.server, 'https://a.example:6443', 'cluster c is defined twice: the first file wins');
    assert.deepEqual(kc.getContexts().map((c) => c.name).sort(), ['ctx-a', 'ctx-b']);
  });

  it('--context picks another context of the merged files, as kubectl --context; an unknown one is an error', () => {
    const io: CliIo = { stdout: () => undefined, stderr: () => undefined, readStdin: async () => '', env: { KUBECONFIG: [a, b].join(delimiter), HOME: empty }, cwd: dir };
    assert.equal(loadKubeConfig(undefined, io).getCurrentContext(), 'ctx-a');
    assert.equal(loadKubeConfig(undefined, io, 'ctx-b').getCurrentContext(), 'ctx-b');
    assert.throws(() => loadKubeConfig(undefined, io, 'ctx-\u001b[2Jz'), (e: unknown) => isTracegateError(e, 'USAGE') && /--context "ctx-\\u001b\[2Jz": the kubeconfig has no such context/.test(e.message));
  });

  it('takes --kubeconfig over the environment, relative to the working directory', () => {
    assert.equal(loadKubeconfig({ file: 'b.yaml', env: { KUBECONFIG: a }, cwd: dir, home: empty }).getCurrentContext(), 'ctx-b');
  });

  it('says in one line what is missing', () => {
    const err = (() => {
      try {
        loadKubeconfig({ env: { KUBECONFIG: join(dir, 'nope.yaml') }, cwd: dir, home: empty });
      } catch (e) {
        return e;
      }
    })();
    assert.ok(isTracegateError(err, 'KUBE_API'));
    assert.match(err.message, /none of the kubeconfig files in \$KUBECONFIG exists/);
    assert.throws(() => loadKubeconfig({ env: {}, cwd: dir, home: empty }), /no kubeconfig found .* not running in a pod/);
    writeFileSync(join(dir, 'broken.yaml'), 'clusters: [');
    assert.throws(() => loadKubeconfig({ file: 'broken.yaml', env: {}, cwd: dir, home: empty }), (e: unknown) => isTracegateError(e, 'KUBE_API') && !e.message.includes('\n'));
  });
});
