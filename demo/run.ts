/**
 * `npm run demo`: tracegate's users' stories played against a cluster started in this process — the
 * test API server, the real gate behind the webhook configurations of `manifests/`, and the recorder —
 * driven by the real kubectl and helm binaries. Each step prints the command as its user would type
 * it, the tool's real output, and one line of explanation. Everything is stopped and removed at the end.
 */
import { relative } from 'node:path';
import { ApiException, AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { packageRoot } from '../src/paths.js';
import { startStoryCluster, type As, type StoryCluster } from '../test/support/cluster.js';
import type { ToolResult } from '../test/support/tools.js';

const NS = 'team-a';
const CHART = `${packageRoot}/test/fixtures/charts/story`;
const CHART_SHOWN = relative(packageRoot, CHART);
const TEAM_A_POLICY = `${packageRoot}/test/e2e/fixtures/team-a-registry.yaml`;

/** The people and machines of the stories, with the prompt each is shown with. */
const CI: As & { prompt: string } = { user: 'system:serviceaccount:ci:deployer', prompt: 'ci' };
const ALICE: As & { prompt: string } = { user: 'alice', groups: ['team-a:developers'], prompt: 'alice' };
const CAROL: As & { prompt: string } = { user: 'carol', groups: ['team-a:developers', 'tracegate:break-glass'], prompt: 'carol (on call)' };
const BOT: As & { prompt: string } = { user: 'system:serviceaccount:orchestrator:bot', prompt: 'orchestrator' };
const BOB_DELETES: As & { prompt: string } = { user: 'bob', groups: ['team-a:developers'], prompt: 'bob' };

function image(tag: string): string {
  return `registry.example.com/team-a/web:${tag}`;
}

/** Quotes an argument the way a user would type it in a POSIX shell. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function print(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** Tool output as shown: helm pads table cells with trailing blanks, which say nothing. */
function shown(res: ToolResult): string {
  return `${res.stdout}${res.stderr}`.replace(/[ \t]+$/gm, '').replace(/\n+$/, '');
}

function section(title: string): void {
  print();
  print(`━━ ${title}`);
}

function explain(line: string): void {
  print(`# → ${line}`);
}

/** Prints the command, runs it, prints its real output. */
async function run(who: { prompt: string }, tool: 'kubectl' | 'helm' | 'helm3' | 'tracegate', args: string[], go: () => Promise<ToolResult>): Promise<ToolResult> {
  const name = tool === 'helm3' ? 'helm' : tool;
  print();
  print(`${who.prompt}$ ${[name, ...args].map(shellQuote).join(' ')}${tool === 'helm3' ? '    # helm v3' : ''}`);
  const res = await go();
  const text = shown(res);
  if (text) print(text);
  return res;
}

function kubectl(c: StoryCluster, who: As & { prompt: string }, args: string[]): Promise<ToolResult> {
  return run(who, 'kubectl', args, () => c.kubectl(args, who));
}

function helm(c: StoryCluster, who: As & { prompt: string }, args: string[], helm3 = false): Promise<ToolResult> {
  const shownArgs = args.map((a) => (a === CHART ? CHART_SHOWN : a));
  return run(who, helm3 ? 'helm3' : 'helm', shownArgs, () => c.helm(args, { ...who, helm3 }));
}

function tracegate(c: StoryCluster, who: As & { prompt: string }, args: string[]): Promise<ToolResult> {
  return run(who, 'tracegate', args, () => c.tracegate(args, who));
}

/** The pod template's containers, as `kubectl get -o custom-columns` shows them. */
const CONTAINER_COLUMNS = 'custom-columns=CONTAINERS:.spec.template.spec.containers[*].name,IMAGES:.spec.template.spec.containers[*].image';
/** A sidecar every bundled policy accepts, added with `kubectl patch`. */
const SIDECAR = JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'registry.example.com/team-a/proxy:2.0.0', resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } } }] } } } });

/** The columns of the gate's stamp on a Deployment, as `kubectl get -o custom-columns` shows them. */
const STAMP_COLUMNS = `custom-columns=IMAGE:.spec.template.spec.containers[0].image,TENANT:.metadata.annotations.tracegate\\.io/tenant,COMMIT:.metadata.annotations.tracegate\\.io/commit,APPROVER:.metadata.annotations.tracegate\\.io/approver,CHANGED-BY:.metadata.annotations.tracegate\\.io/changed-by,CHANGE-ID:.metadata.annotations.tracegate\\.io/change-id`;

async function play(c: StoryCluster): Promise<void> {
  section('1. An orchestrator creates a Deployment through the API, without provenance');
  print();
  print(`${BOT.prompt}$ node deploy-jobs.js    # new AppsV1Api(…).createNamespacedDeployment({ namespace: 'team-a', body })`);
  const kc = new KubeConfig();
  kc.loadFromFile(await c.kubeconfig(BOT));
  const body = {
    metadata: { name: 'jobs' },
    spec: {
      selector: { matchLabels: { app: 'jobs' } },
      template: {
        metadata: { labels: { app: 'jobs' } },
        spec: { containers: [{ name: 'jobs', image: 'registry.example.com/team-a/jobs:2.0.1', resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } } }] },
      },
    },
  };
  try {
    await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({ namespace: NS, body });
    print('created');
  } catch (err) {
    const status = err instanceof ApiException ? (JSON.parse(String(err.body)) as { code: number; reason: string; message: string }) : undefined;
    print(status ? `HTTP ${status.code} ${status.reason}: ${status.message}` : String(err));
  }
  explain('refused by validate.tracegate.io; the message names the two annotations to add, and who may not approve.');

  section('2. CI deploys with helm; commit and approver travel as chart values');
  await helm(c, CI, ['upgrade', '--install', 'web', CHART, '-n', NS, '--set-string', 'annotations.ci/commit=3f2a9c1', '--set-string', 'annotations.approvedBy=bob']);
  await kubectl(c, CI, ['get', 'deployment', 'web', '-n', NS, '-o', STAMP_COLUMNS]);
  explain('admitted; the mutating webhook normalised ci/commit and approvedBy and stamped tenant, user and a change id.');

  section('3. An engineer changes the image with kubectl');
  await kubectl(c, ALICE, ['set', 'image', 'deployment/web', `web=${image('1.5.0')}`, '-n', NS]);
  explain('refused: a script-driven edit (kubectl-set) needs a commit of its own and an approver other than alice.');
  await kubectl(c, ALICE, ['annotate', 'deployment/web', 'ci/commit=8f2c1e7', 'approvedBy=bob', '-n', NS, '--overwrite']);
  await kubectl(c, ALICE, ['set', 'image', 'deployment/web', `web=${image('1.5.0')}`, '-n', NS]);
  explain('admitted: the provenance arrived first (a metadata-only edit), the image change then carried it.');

  section('4. Break-glass: the on-call engineer hotfixes without an approver');
  await kubectl(c, CAROL, ['annotate', 'deployment/web', 'tracegate.io/break-glass=INC-4711 checkout down', '-n', NS, '--overwrite']);
  await kubectl(c, CAROL, ['set', 'image', 'deployment/web', `web=${image('1.5.1-hotfix')}`, '-n', NS]);
  await kubectl(c, CAROL, ['annotate', 'deployment/web', 'tracegate.io/break-glass-', '-n', NS]);
  explain('admitted because carol is in tracegate:break-glass — kubectl prints the warning, and the history flags it.');

  section('5. Restarts and scaling are never blocked');
  await kubectl(c, ALICE, ['rollout', 'restart', 'deployment/web', '-n', NS]);
  await kubectl(c, ALICE, ['scale', 'deployment/web', '--replicas=4', '-n', NS]);
  explain('neither changes what runs: no provenance needed, no revision recorded (the HPA scales the same way).');

  section('6. Every problem of a deploy in one message');
  await kubectl(c, ALICE, ['create', 'deployment', 'shop', '--image=registry.example.com/team-a/web:latest', '--image=registry.example.com/team-a/worker', '--image=registry.example.com.evil.io/team-a/cache:1.0', '-n', NS]);
  explain(':latest, an untagged image, a look-alike registry, missing requests and limits, no provenance — fixed in one round.');

  section('7. A tenant label cannot be spoofed');
  const spoof = JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'spoof', namespace: NS, annotations: { 'tracegate.io/tenant': 'team-b', 'ci/commit': 'd00d1e5', approvedBy: 'bob' } },
    spec: { selector: { matchLabels: { app: 'spoof' } }, template: { metadata: { labels: { app: 'spoof' } }, spec: { containers: [{ name: 'spoof', image: image('1.0.0'), resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } } }] } } },
  });
  print();
  print(`${ALICE.prompt}$ kubectl apply -f spoof.yaml    # annotations: tracegate.io/tenant: team-b, in namespace team-a`);
  print(shown(await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: spoof })));
  explain('the tenant comes from the namespace; a disagreeing annotation is refused, never trusted.');

  section('8. Only the gate writes its stamps');
  await kubectl(c, ALICE, ['annotate', 'deployment/web', 'tracegate.io/changed-by=bob', 'tracegate.io/change-approver=cto', '-n', NS, '--overwrite']);
  await kubectl(c, ALICE, ['get', 'deployment', 'web', '-n', NS, '-o', 'custom-columns=CHANGED-BY:.metadata.annotations.tracegate\\.io/changed-by,CHANGE-APPROVER:.metadata.annotations.tracegate\\.io/change-approver']);
  explain('the edit is admitted, but the gate writes its stamps back: only the gate makes them, and their MAC proves it.');

  section('9. No kind is a side door');
  const sts = JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db', namespace: NS },
    spec: { serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: image('latest') }] } } },
  });
  print();
  print(`${ALICE.prompt}$ kubectl apply -f db.yaml    # a StatefulSet with :latest, no resources, no provenance`);
  print(shown(await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: sts })));
  explain('StatefulSets, DaemonSets, Jobs, CronJobs, bare Pods and kubectl debug are judged like Deployments.');

  section('10. One history for every change — helm, kubectl, break-glass');
  await c.recorded(NS, 'web');
  await helm(c, CI, ['history', 'web', '-n', NS]);
  explain('Helm wrote revision 1; the recorder appended the kubectl changes with who, what, commit and approver.');
  await tracegate(c, CI, ['history', `${NS}/web`]);
  explain('the same history with a verdict and provenance for every revision — Helm\'s own install is CI\'s, as the gate stamped it.');

  section('11. Rollback exactly: whatever changed since, the revision comes back field for field');
  await kubectl(c, ALICE, ['annotate', 'deployment/web', 'ci/commit=5c1d2e9', 'approvedBy=bob', '-n', NS, '--overwrite']);
  await kubectl(c, ALICE, ['patch', 'deployment/web', '-n', NS, '--type', 'strategic', '-p', SIDECAR]);
  await c.recorded(NS, 'web');
  await kubectl(c, CI, ['get', 'deployment', 'web', '-n', NS, '-o', CONTAINER_COLUMNS]);
  explain('kubectl set image and kubectl patch each own fields now (managedFields): a server-side apply of revision 1 would keep the sidecar.');
  await tracegate(c, CI, ['rollback', `${NS}/web`, '1']);
  await kubectl(c, CI, ['get', 'deployment', 'web', '-n', NS, '-o', CONTAINER_COLUMNS]);
  explain('exactly revision 1\'s pod template (a guarded update, read back and compared), recorded as "Rollback to 1" with revision 1\'s commit.');
  await kubectl(c, ALICE, ['annotate', 'deployment/web', 'ci/commit=6d2e3f0', 'approvedBy=bob', '-n', NS, '--overwrite']);
  await kubectl(c, ALICE, ['patch', 'deployment/web', '-n', NS, '--type', 'strategic', '-p', SIDECAR]);
  await c.recorded(NS, 'web');
  await helm(c, CI, ['rollback', 'web', '2', '-n', NS], true);
  await c.recorded(NS, 'web');
  await kubectl(c, CI, ['get', 'deployment', 'web', '-n', NS, '-o', CONTAINER_COLUMNS]);
  explain('helm rollback too: Helm\'s three-way merge keeps the sidecar it never saw; the recorder finishes the rollback to exactly revision 2.');

  section('12. The gate is down');
  await c.stopGate();
  print();
  print('# (every gate replica is gone: the tracegate Service has no endpoints)');
  await kubectl(c, ALICE, ['set', 'image', 'deployment/web', `web=${image('1.6.0')}`, '-n', NS]);
  explain('validate.tracegate.io has failurePolicy Fail: no unjudged change gets in …');
  await kubectl(c, ALICE, ['scale', 'deployment/web', '--replicas=2', '-n', NS]);
  await kubectl(c, ALICE, ['create', 'deployment', 'recovery', '--image=registry.k8s.io/pause:3.10', '-n', 'kube-system']);
  explain('… but scaling (observe-only, Ignore) and kube-system (never intercepted) keep working.');

  print();
  print('# (an operator switches validate.tracegate.io to failurePolicy: Ignore during the outage — done in the test apiserver\'s webhook chain)');
  const copy = structuredClone(c.configs);
  for (const v of copy.validating) for (const w of v.webhooks) w.failurePolicy = 'Ignore';
  c.useConfigs(copy);
  await kubectl(c, ALICE, ['set', 'image', 'deployment/web', `web=${image('1.6.0')}`, '-n', NS]);
  await c.recorded(NS, 'web');
  await helm(c, CI, ['history', 'web', '-n', NS, '--max', '2']);
  explain('what slipped through is still recorded — flagged UNVERIFIED for compliance to review.');
  c.useConfigs(c.configs);
  await c.startGate();

  section('13. Deleted, and still on record');
  await kubectl(c, BOB_DELETES, ['delete', 'deployment/web', '-n', NS]);
  await c.waitFor('the deletion in the trail', async () => (await c.tracegate(['history', `${NS}/web`, '-o', 'json'], CI)).stdout.includes('"status": "deleted"'));
  await helm(c, CI, ['history', 'web', '-n', NS, '--max', '2']);
  await tracegate(c, CI, ['history', `${NS}/web`]);
  explain('the release shows it uninstalled, by whom (the gate saw the DELETE); the trail keeps every change, also what Helm prunes.');
}

const started = Date.now();
print('tracegate demo: a Kubernetes API server, the tracegate gate behind the webhook configurations of');
print('manifests/ (certificates from `tracegate certs --kustomize`) and the recorder, all in this process;');
print('the real kubectl and helm binaries as the users. Namespace team-a belongs to tenant team-a, which');
print('may only pull from registry.example.com/team-a/.');
const c = await startStoryCluster({ namespaces: [{ name: NS, tenant: 'team-a' }, { name: 'team-b', tenant: 'team-b' }], extraPolicies: [TEAM_A_POLICY] });
try {
  await play(c);
} finally {
  await c.close();
}
print();
print(`━━ done in ${((Date.now() - started) / 1000).toFixed(1)} s; everything stopped and removed.`);
