/**
 * Release manifests: byte-for-byte split/join of Helm manifests, field-level template changes computed
 * from live objects (apiserver defaults never leak), minimal patches into the stored manifest, and the
 * adoption manifest for workloads outside any release. Live objects follow what the apiserver stores
 * (fixtures/admission/constructed/11-*); two cases use the real kubectl to make the edit.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { parseAllDocuments, parseDocument } from 'yaml';
import type { KubeObject, PodTemplate } from '../../src/k8s/types.js';
import { adoptionManifest } from '../../src/recorder/adoption.js';
import { templateChange } from '../../src/recorder/template-change.js';
import { findWorkloadDoc, patchWorkload } from '../../src/recorder/workload-patch.js';
import { withoutTemplateDefaults } from '../../src/workload/defaults.js';
import { joinManifest, splitManifest } from '../../src/yaml/manifest-doc.js';
import { createKubectlLocal, type KubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools } from '../support/tools.js';

/** A Helm manifest as `helm get manifest` prints it, with layouts the yaml package does not reproduce. */
const MANIFEST = [
  '---',
  '# Source: web/templates/service.yaml',
  'apiVersion: v1',
  'kind: Service',
  'metadata:',
  '  name: web',
  'spec:',
  '  ports:',
  '    - port: 80   # plain http',
  '      targetPort: http',
  '---',
  '# Source: web/templates/configmap.yaml',
  'apiVersion: v1',
  'kind: ConfigMap',
  'metadata:',
  '  name: web',
  'data:',
  '  nginx.conf: |',
  '    server {',
  '      listen 8080;',
  '    }',
  '---',
  '# Source: web/templates/deployment.yaml',
  '# rendered from values.yaml; edit the chart, not this',
  'apiVersion: apps/v1',
  'kind: Deployment',
  'metadata:',
  '  name: web',
  '  labels:',
  '    app: web',
  'spec:',
  '  replicas: 3',
  '  selector:',
  '    matchLabels:',
  '      app: web',
  '  template:',
  '    metadata:',
  '      labels:',
  '        app: web',
  '',
  '    spec:',
  '      serviceAccountName: web',
  '      containers:',
  '      - name: web',
  '        image: "registry.example.com/shop/web:1.4.2"    # bumped by CI',
  '        args: ["--port", "8080"]',
  '        ports:',
  '          - name: http',
  '            containerPort: 8080',
  '        env:',
  '          - name: MODE',
  "            value: 'prod'",
  '          - name: LOG_LEVEL',
  '            value: info',
  '        resources: {}',
  '        livenessProbe:',
  '          httpGet:',
  '            path: /',
  '            port: http',
  '',
].join('\n');

/** The Deployment's pod template as the apiserver stores it for MANIFEST, defaults included. */
function liveTemplate(): PodTemplate {
  const probe = { httpGet: { path: '/', port: 'http', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 };
  return {
    metadata: { creationTimestamp: null, labels: { app: 'web' } },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'registry.example.com/shop/web:1.4.2',
          args: ['--port', '8080'],
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [
            { name: 'MODE', value: 'prod' },
            { name: 'LOG_LEVEL', value: 'info' },
          ],
          resources: {},
          livenessProbe: probe,
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'web',
      serviceAccount: 'web',
      securityContext: {},
      schedulerName: 'default-scheduler',
    } as PodTemplate['spec'],
  };
}

/** The whole live Deployment, with identity, status and bookkeeping the manifest must never get. */
function liveDeployment(template: PodTemplate = liveTemplate()): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'shop',
      uid: '5f0c3a52-8b8e-4d0e-9a61-0d6b1c9e2a7f',
      resourceVersion: '184467',
      generation: 2,
      creationTimestamp: '2026-03-02T09:14:07Z',
      labels: { app: 'web', team: 'shop' },
      annotations: {
        'deployment.kubernetes.io/revision': '2',
        'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"apps/v1"}',
        'tracegate.io/change-id': 'abc.def',
        'tracegate.io/commit': '0123abc',
        'kubernetes.io/change-cause': 'alice: image web: a → b',
        'example.com/owner': 'team-shop',
      },
      managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'apps/v1', time: '2026-03-02T09:14:07Z' }],
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
    status: { observedGeneration: 2, replicas: 3, readyReplicas: 3, availableReplicas: 3 },
  };
}

/** Applies `edit` to a copy of the live template. */
function edited(edit: (t: PodTemplate & { spec: Record<string, unknown> }) => void): PodTemplate {
  const t = structuredClone(liveTemplate()) as PodTemplate & { spec: Record<string, unknown> };
  edit(t);
  return t;
}

function web(t: PodTemplate): Record<string, unknown> {
  const c = t.spec?.containers?.[0];
  assert.ok(c);
  return c;
}

/** Lines only in `a` and lines only in `b`, by longest common subsequence. */
function diffLines(a: string, b: string): { removed: string[]; added: string[] } {
  const x = a.split('\n');
  const y = b.split('\n');
  const len: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      len[i]![j] = x[i] === y[j] ? len[i + 1]![j + 1]! + 1 : Math.max(len[i + 1]![j]!, len[i]![j + 1]!);
    }
  }
  const removed: string[] = [];
  const added: string[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    if (x[i] === y[j]) [i, j] = [i + 1, j + 1];
    else if (len[i + 1]![j]! >= len[i]![j + 1]!) removed.push(x[i++]!);
    else added.push(y[j++]!);
  }
  removed.push(...x.slice(i));
  added.push(...y.slice(j));
  return { removed, added };
}

function deploymentOf(manifest: string): Record<string, any> {
  const docs = parseAllDocuments(manifest);
  assert.ok(Array.isArray(docs));
  const dep = docs.map((d) => d.toJS() as Record<string, any>).find((d) => d?.kind === 'Deployment');
  assert.ok(dep, 'manifest has a Deployment');
  return dep;
}

const DEFAULT_KEYS = [
  'terminationMessagePath',
  'terminationMessagePolicy',
  'imagePullPolicy',
  'restartPolicy',
  'dnsPolicy',
  'schedulerName',
  'securityContext',
  'terminationGracePeriodSeconds',
  'revisionHistoryLimit',
  'progressDeadlineSeconds',
  'creationTimestamp',
  'serviceAccount',
  'protocol',
  'timeoutSeconds',
  'periodSeconds',
  'successThreshold',
  'failureThreshold',
  'scheme',
];

function assertNoDefaults(text: string): void {
  for (const key of DEFAULT_KEYS) assert.doesNotMatch(text, new RegExp(`\\b${key}:`), `${key} leaked into:\n${text}`);
}

describe('splitManifest / joinManifest', () => {
  it('round-trips a Helm manifest byte for byte and reads the # Source headers', () => {
    const parts = splitManifest(MANIFEST);
    assert.deepEqual(
      parts.map((p) => p.source),
      ['web/templates/service.yaml', 'web/templates/configmap.yaml', 'web/templates/deployment.yaml'],
    );
    assert.equal(parts[0]?.header, '---\n# Source: web/templates/service.yaml\n');
    assert.equal(parts[2]?.doc.get('kind'), 'Deployment');
    assert.equal(joinManifest(parts), MANIFEST);
  });

  it('round-trips odd framings too: preamble, no header, CRLF, empty, broken YAML, no final newline', () => {
    const cases = [
      '',
      'kind: ConfigMap\n',
      '# just a comment\n---\n# Source: c/templates/a.yaml\nkind: A\n',
      '---\nkind: A\n---\nkind: B',
      '---\r\n# Source: c/templates/a.yaml\r\nkind: A\r\nmetadata:\r\n  name: a\r\n',
      '---\n# Source: c/templates/a.yaml\nkey: [unclosed\n---\n# Source: c/templates/b.yaml\nkind: B\n',
      '---\n# Source: c/templates/a.yaml\n\n\nkind: A\n\n',
    ];
    for (const text of cases) assert.equal(joinManifest(splitManifest(text)), text, JSON.stringify(text));
    assert.ok((splitManifest(cases[5]!)[0]?.doc.errors.length ?? 0) > 0);
  });

  it('re-serialises only the document that changed', () => {
    const parts = splitManifest(MANIFEST);
    parts[1]?.doc.setIn(['data', 'extra'], 'x');
    const out = joinManifest(parts);
    const [svc, cm, dep] = splitManifest(out);
    assert.equal(svc?.body, parts[0]?.body);
    assert.equal(dep?.body, parts[2]?.body);
    assert.deepEqual(diffLines(MANIFEST, out), { removed: [], added: ['  extra: x'] });
    assert.equal(cm?.doc.getIn(['data', 'nginx.conf']), 'server {\n  listen 8080;\n}\n');
  });
});

describe('findWorkloadDoc', () => {
  it('matches kind and name, and a namespace only when the document names one', () => {
    const parts = splitManifest(`${MANIFEST}---\n# Source: web/templates/other.yaml\nkind: Deployment\nmetadata:\n  name: api\n  namespace: ops\n`);
    assert.equal(findWorkloadDoc(parts, 'Deployment', 'web')?.source, 'web/templates/deployment.yaml');
    assert.equal(findWorkloadDoc(parts, 'Deployment', 'web', 'any-namespace')?.source, 'web/templates/deployment.yaml');
    assert.equal(findWorkloadDoc(parts, 'Service', 'web')?.source, 'web/templates/service.yaml');
    assert.equal(findWorkloadDoc(parts, 'Deployment', 'api', 'ops')?.source, 'web/templates/other.yaml');
    assert.equal(findWorkloadDoc(parts, 'Deployment', 'api', 'shop'), undefined);
    assert.equal(findWorkloadDoc(parts, 'StatefulSet', 'web'), undefined);
  });
});

describe('templateChange', () => {
  it('is empty for equal templates and for a rollout restart', () => {
    assert.deepEqual(templateChange(liveTemplate(), liveTemplate()).changes, []);
    const restarted = edited((t) => {
      t.metadata = { ...t.metadata, annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-03-02T10:00:00Z' } };
    });
    assert.deepEqual(templateChange(liveTemplate(), restarted).changes, []);
  });

  it('reports an image change as one field, ignoring every default around it', () => {
    const after = edited((t) => {
      web(t).image = 'registry.example.com/shop/web:1.4.3';
    });
    assert.deepEqual(templateChange(liveTemplate(), after).changes, [
      { op: 'set', path: ['spec', 'containers', { key: 'name', value: 'web' }, 'image'], value: 'registry.example.com/shop/web:1.4.3' },
    ]);
  });

  it('strips apiserver defaults from what it adds (a new container, a new probe)', () => {
    const after = edited((t) => {
      t.spec.containers?.push({
        name: 'proxy',
        image: 'envoyproxy/envoy:v1.30.1',
        ports: [{ containerPort: 9901, protocol: 'TCP' }],
        readinessProbe: { tcpSocket: { port: 9901 }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'IfNotPresent',
      });
    });
    assert.deepEqual(templateChange(liveTemplate(), after).changes, [
      {
        op: 'set',
        path: ['spec', 'containers', { key: 'name', value: 'proxy' }],
        value: { name: 'proxy', image: 'envoyproxy/envoy:v1.30.1', ports: [{ containerPort: 9901 }], readinessProbe: { tcpSocket: { port: 9901 } } },
        after: 'web',
      },
    ]);
  });

  it('keeps a non-default imagePullPolicy and a default one that the image no longer implies', () => {
    const always = edited((t) => {
      web(t).imagePullPolicy = 'Always';
    });
    assert.deepEqual(
      templateChange(liveTemplate(), always).changes.map((c) => [c.op, c.value]),
      [['set', 'Always']],
    );
    const withoutDefaults = withoutTemplateDefaults(edited((t) => {
      web(t).image = 'nginx';
      web(t).imagePullPolicy = 'Always';
    }));
    assert.equal((withoutDefaults.spec as any).containers[0].imagePullPolicy, undefined, 'Always is the default for an untagged image');
  });
});

describe('patchWorkload', () => {
  function patch(after: PodTemplate, manifest = MANIFEST) {
    return patchWorkload(manifest, 'Deployment', 'web', templateChange(liveTemplate(), after));
  }

  it('patches an image change into exactly the image line, keeping quotes and the comment', () => {
    const r = patch(edited((t) => {
      web(t).image = 'registry.example.com/shop/web:1.4.3';
    }));
    assert.deepEqual(r.applied, ['set spec.template.spec.containers[name=web].image']);
    assert.deepEqual(r.skipped, []);
    assert.deepEqual(diffLines(MANIFEST, r.manifest), {
      removed: ['        image: "registry.example.com/shop/web:1.4.2"    # bumped by CI'],
      added: ['        image: "registry.example.com/shop/web:1.4.3"    # bumped by CI'],
    });
  });

  it('patches a resources change into `resources: {}` and touches nothing else', () => {
    const r = patch(edited((t) => {
      web(t).resources = { requests: { cpu: '250m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } };
    }));
    assert.deepEqual(r.skipped, []);
    const d = diffLines(MANIFEST, r.manifest);
    assert.deepEqual(d.removed, ['        resources: {}']);
    assert.deepEqual(d.added, [
      '        resources:',
      '          requests:',
      '            cpu: 250m',
      '            memory: 128Mi',
      '          limits:',
      '            cpu: "1"',
      '            memory: 256Mi',
    ]);
    assert.deepEqual(deploymentOf(r.manifest).spec.template.spec.containers[0].resources.limits, { cpu: '1', memory: '256Mi' });
  });

  it('changes one quantity in place when resources already exist', () => {
    const withLimits = (cpu: string) =>
      edited((t) => {
        web(t).resources = { limits: { cpu, memory: '256Mi' } };
      });
    const base = patchWorkload(MANIFEST, 'Deployment', 'web', templateChange(liveTemplate(), withLimits('500m'))).manifest;
    const r = patchWorkload(base, 'Deployment', 'web', templateChange(withLimits('500m'), withLimits('750m')));
    assert.deepEqual(diffLines(base, r.manifest), { removed: ['            cpu: 500m'], added: ['            cpu: 750m'] });
  });

  it('patches env entries by name: change, add after its neighbour, remove; quotes YAML-1.1 lookalikes', () => {
    const r = patch(edited((t) => {
      web(t).env = [
        { name: 'MODE', value: 'yes' },
        { name: 'UMASK', value: '0755' },
      ];
    }));
    assert.deepEqual(r.skipped, []);
    const env = deploymentOf(r.manifest).spec.template.spec.containers[0].env;
    assert.deepEqual(env, [
      { name: 'MODE', value: 'yes' },
      { name: 'UMASK', value: '0755' },
    ]);
    assert.match(r.manifest, /value: 'yes'/);
    assert.match(r.manifest, /value: "0755"/);
    assert.doesNotMatch(r.manifest, /LOG_LEVEL/);
  });

  it('replaces command and args', () => {
    const r = patch(edited((t) => {
      web(t).command = ['/bin/web'];
      web(t).args = ['--port', '9090', '--verbose'];
    }));
    const c = deploymentOf(r.manifest).spec.template.spec.containers[0];
    assert.deepEqual(c.command, ['/bin/web']);
    assert.deepEqual(c.args, ['--port', '9090', '--verbose']);
  });

  it('adds a container after its neighbour, without defaults, and removes one', () => {
    const added = edited((t) => {
      t.spec.containers?.push({
        name: 'proxy',
        image: 'envoyproxy/envoy:v1.30.1',
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'IfNotPresent',
      });
    });
    const r = patch(added);
    const containers = deploymentOf(r.manifest).spec.template.spec.containers;
    assert.deepEqual(containers.map((c: { name: string }) => c.name), ['web', 'proxy']);
    assert.deepEqual(containers[1], { name: 'proxy', image: 'envoyproxy/envoy:v1.30.1' });
    assertNoDefaults(r.manifest);
    const removed = patchWorkload(r.manifest, 'Deployment', 'web', templateChange(added, liveTemplate()));
    assert.equal(removed.manifest.replace(/\n/g, '').includes('proxy'), false);
    assert.deepEqual(deploymentOf(removed.manifest), deploymentOf(MANIFEST));
  });

  it('makes several structural changes at once and leaves every other line as it was', () => {
    const r = patch(edited((t) => {
      delete web(t).livenessProbe;
      t.spec.containers?.push({ name: 'proxy', image: 'envoyproxy/envoy:v1.30.1' });
      t.spec.volumes = [{ name: 'tmp', emptyDir: {} }];
      web(t).args = ['--port', '8080', '--verbose'];
    }));
    assert.deepEqual(r.skipped, []);
    assert.deepEqual(diffLines(MANIFEST, r.manifest), {
      removed: ['        args: ["--port", "8080"]', '        livenessProbe:', '          httpGet:', '            path: /', '            port: http'],
      added: [
        '        args: ["--port", "8080", "--verbose"]',
        '      - name: proxy',
        '        image: envoyproxy/envoy:v1.30.1',
        '      volumes:',
        '      - name: tmp',
        '        emptyDir: {}',
      ],
    });
  });

  it('keeps the comment above a rewritten key once, and takes a removed container\'s comment with it', () => {
    const manifest = [
      '---',
      '# Source: w/templates/d.yaml',
      'kind: Deployment',
      'metadata:',
      '  name: web',
      'spec:',
      '  template:',
      '    spec:',
      '      containers:',
      '        - name: web',
      '          image: a:1',
      '          # from values.resources',
      '          resources: {}',
      '        # the sidecar',
      '        - name: side',
      '          image: b:1',
      '',
    ].join('\n');
    const tpl = (resources: Record<string, Record<string, string>>, side: boolean): PodTemplate => ({
      spec: { containers: [{ name: 'web', image: 'a:1', resources }, ...(side ? [{ name: 'side', image: 'b:1' }] : [])] },
    });
    const r = patchWorkload(manifest, 'Deployment', 'web', templateChange(tpl({}, true), tpl({ limits: { memory: '1Gi' } }, false)));
    assert.deepEqual(diffLines(manifest, r.manifest), {
      removed: ['          resources: {}', '        # the sidecar', '        - name: side', '          image: b:1'],
      added: ['          resources:', '            limits:', '              memory: 1Gi'],
    });
  });

  it('keeps CRLF line endings', () => {
    const crlf = MANIFEST.replace(/\n/g, '\r\n');
    const r = patch(edited((t) => {
      web(t).image = 'registry.example.com/shop/web:1.4.3';
      web(t).resources = { limits: { cpu: '1' } };
    }));
    const rc = patchWorkload(crlf, 'Deployment', 'web', templateChange(liveTemplate(), edited((t) => {
      web(t).image = 'registry.example.com/shop/web:1.4.3';
      web(t).resources = { limits: { cpu: '1' } };
    })));
    assert.equal(rc.manifest, r.manifest.replace(/\n/g, '\r\n'));
  });

  it('patches template labels and annotations, never restartedAt', () => {
    const r = patch(edited((t) => {
      t.metadata = {
        ...t.metadata,
        labels: { app: 'web', track: 'canary' },
        annotations: { 'example.com/config-hash': 'abc', 'kubectl.kubernetes.io/restartedAt': '2026-03-02T10:00:00Z' },
      };
    }));
    const meta = deploymentOf(r.manifest).spec.template.metadata;
    assert.deepEqual(meta, { labels: { app: 'web', track: 'canary' }, annotations: { 'example.com/config-hash': 'abc' } });
  });

  it('never lets defaults leak, whatever changed', () => {
    const r = patch(edited((t) => {
      web(t).image = 'registry.example.com/shop/web:2.0.0';
      web(t).resources = { limits: { cpu: '1' } };
      web(t).readinessProbe = { httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 };
      t.spec.volumes = [{ name: 'cfg', configMap: { name: 'web', defaultMode: 420 } }];
      web(t).volumeMounts = [{ name: 'cfg', mountPath: '/etc/web' }];
    }));
    assert.deepEqual(r.skipped, []);
    assertNoDefaults(r.manifest);
    assert.doesNotMatch(r.manifest, /defaultMode/);
    const spec = deploymentOf(r.manifest).spec.template.spec;
    assert.deepEqual(spec.volumes, [{ name: 'cfg', configMap: { name: 'web' } }]);
    assert.deepEqual(spec.containers[0].readinessProbe, { httpGet: { path: '/ready', port: 'http' } });
  });

  it('returns a manifest without the workload unchanged, every change skipped with the reason', () => {
    const manifest = MANIFEST.replace('kind: Deployment\nmetadata:\n  name: web', 'kind: Deployment\nmetadata:\n  name: api');
    assert.notEqual(manifest, MANIFEST);
    const r = patchWorkload(manifest, 'Deployment', 'web', templateChange(liveTemplate(), edited((t) => {
      web(t).image = 'x:1';
    })));
    assert.equal(r.manifest, manifest);
    assert.deepEqual(r.applied, []);
    assert.deepEqual(r.skipped, ['set spec.template.spec.containers[name=web].image: no Deployment web in the manifest']);
  });

  it('leaves no trace of a change it skips (an env entry the manifest never had)', () => {
    const manifest = '---\n# Source: w/templates/d.yaml\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: a:1\n';
    const tpl = (value: string): PodTemplate => ({ spec: { containers: [{ name: 'web', image: 'a:1', env: [{ name: 'X', value }] }] } });
    const r = patchWorkload(manifest, 'Deployment', 'web', templateChange(tpl('1'), tpl('2')));
    assert.deepEqual(r.applied, []);
    assert.deepEqual(r.skipped, ['set spec.template.spec.containers[name=web].env[name=X].value: spec.template.spec.containers[name=web].env is not in the manifest']);
    assert.equal(r.manifest, manifest);
  });

  it('refuses kinds without a pod template', () => {
    const r = patchWorkload(MANIFEST, 'Service', 'web', templateChange(liveTemplate(), edited((t) => {
      web(t).image = 'x:1';
    })));
    assert.equal(r.manifest, MANIFEST);
    assert.match(r.skipped[0] ?? '', /has no pod template/);
  });

  it('skips a change to a container the manifest does not have, and applies the rest', () => {
    const before = edited((t) => {
      t.spec.containers?.push({ name: 'sidecar', image: 'busybox:1.36' });
    });
    const after = edited((t) => {
      t.spec.containers?.push({ name: 'sidecar', image: 'busybox:1.37' });
      web(t).image = 'registry.example.com/shop/web:1.4.3';
    });
    const r = patchWorkload(MANIFEST, 'Deployment', 'web', templateChange(before, after));
    assert.deepEqual(r.applied, ['set spec.template.spec.containers[name=web].image']);
    assert.equal(r.skipped.length, 1);
    assert.match(r.skipped[0] ?? '', /containers\[name=sidecar\].*not in the manifest/);
  });
});

describe('patchWorkload on edits made by the real kubectl', () => {
  let k: KubectlLocal;
  before(async () => {
    k = createKubectlLocal(await ensureRealTools());
  });

  it('kubectl set image: one line', async () => {
    const live = liveDeployment();
    const after = await k.setImage(live, { web: 'registry.example.com/shop/web:1.4.3' });
    const r = patchWorkload(MANIFEST, 'Deployment', 'web', templateChange(live.spec?.template as PodTemplate, after.spec?.template as PodTemplate));
    assert.deepEqual(diffLines(MANIFEST, r.manifest).added, ['        image: "registry.example.com/shop/web:1.4.3"    # bumped by CI']);
  });

  it('kubectl set resources: only resources lines, no defaults', async () => {
    const live = liveDeployment();
    const after = await k.setResources(live, { container: 'web', requests: 'cpu=100m,memory=64Mi', limits: 'cpu=200m' });
    const r = patchWorkload(MANIFEST, 'Deployment', 'web', templateChange(live.spec?.template as PodTemplate, after.spec?.template as PodTemplate));
    const d = diffLines(MANIFEST, r.manifest);
    assert.deepEqual(d.removed, ['        resources: {}']);
    assert.ok(d.added.every((l) => /^ {8,}(resources:|requests:|limits:|cpu: |memory: )/.test(l)), d.added.join('\n'));
    assertNoDefaults(r.manifest);
  });
});

describe('adoptionManifest', () => {
  it('writes a clean one-document manifest: no status, identity, managedFields or defaults', () => {
    const text = adoptionManifest(liveDeployment(), { chart: 'web' });
    assert.ok(text.startsWith('---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\n'), text);
    for (const key of ['status', 'managedFields', 'uid', 'resourceVersion', 'generation', 'namespace', 'strategy']) {
      assert.doesNotMatch(text, new RegExp(`\\b${key}:`), `${key} in:\n${text}`);
    }
    assertNoDefaults(text);
    const doc = parseDocument(text.split('\n').slice(2).join('\n'));
    assert.deepEqual(doc.errors, []);
    assert.deepEqual(doc.toJS(), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', labels: { app: 'web', team: 'shop' }, annotations: { 'example.com/owner': 'team-shop' } },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'registry.example.com/shop/web:1.4.2',
                args: ['--port', '8080'],
                ports: [{ name: 'http', containerPort: 8080 }],
                env: [
                  { name: 'MODE', value: 'prod' },
                  { name: 'LOG_LEVEL', value: 'info' },
                ],
                livenessProbe: { httpGet: { path: '/', port: 'http' } },
              },
            ],
            serviceAccountName: 'web',
          },
        },
      },
    });
  });

  it('keeps non-default strategy and history settings, and is a manifest patchWorkload can work on', () => {
    const live = liveDeployment();
    live.spec = { ...live.spec, strategy: { type: 'Recreate' }, revisionHistoryLimit: 3 };
    const text = adoptionManifest(live);
    const dep = deploymentOf(text);
    assert.deepEqual(dep.spec.strategy, { type: 'Recreate' });
    assert.equal(dep.spec.revisionHistoryLimit, 3);
    assert.equal(joinManifest(splitManifest(text)), text);
    const r = patchWorkload(text, 'Deployment', 'web', templateChange(liveTemplate(), edited((t) => {
      web(t).image = 'registry.example.com/shop/web:1.4.3';
    })));
    assert.deepEqual(diffLines(text, r.manifest), {
      removed: ['          image: registry.example.com/shop/web:1.4.2'],
      added: ['          image: registry.example.com/shop/web:1.4.3'],
    });
  });
});
