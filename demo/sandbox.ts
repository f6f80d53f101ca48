/**
 * `npm run sandbox`: the one-process cluster the demo uses — the test API server, the real gate behind
 * the install's webhook configurations, the recorder — left running for people to try every story by
 * hand with the real kubectl and helm. Writes `.sandbox/kubeconfig` (one context per user),
 * `.sandbox/env` (absolute paths of the tools) and `.sandbox/bin` (kubectl, helm, helm3, tracegate on
 * PATH), prints `sandbox ready` and how to use it, and runs until Ctrl-C or SIGTERM.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { readSigningKey } from '../src/approval/sign.js';
import type { CliIo } from '../src/cli/io.js';
import { runUiCommand } from '../src/cli/ui.js';
import { bundledPoliciesDir, packageRoot } from '../src/paths.js';
import { startStoryCluster, type As } from '../test/support/cluster.js';

const DIR = join(packageRoot, '.sandbox');

/** The sandbox's people and machines: context name → identity (README, "Sandbox"). */
export const SANDBOX_USERS: Readonly<Record<string, As & { about: string }>> = {
  admin: { about: 'cluster admin (system:masters)' },
  alice: { user: 'alice', groups: ['team-a'], about: 'developer in team-a' },
  bob: { user: 'bob', groups: ['team-b'], about: 'developer in team-b' },
  ci: { user: 'system:serviceaccount:ci:deployer', groups: ['system:serviceaccounts', 'system:serviceaccounts:ci'], about: 'the CI deployer (helm from a pipeline)' },
  oncall: { user: 'oncall', groups: ['team-a', 'tracegate:break-glass'], about: 'on-call engineer in the break-glass group' },
};

type Kubeconfig = { clusters: { name: string; cluster: unknown }[]; users: { name: string; user: unknown }[]; contexts: { name: string; context: Record<string, unknown> }[] };

/** One kubeconfig with a context per user (each user's own file renamed and merged). */
async function combinedKubeconfig(files: Record<string, string>): Promise<string> {
  const out = { apiVersion: 'v1', kind: 'Config', clusters: [] as unknown[], users: [] as unknown[], contexts: [] as unknown[], 'current-context': 'admin', preferences: {} };
  for (const [name, file] of Object.entries(files)) {
    const kc = parse(await readFile(file, 'utf8')) as Kubeconfig;
    // Over plain HTTP the identity rides in the server URL, so every user has a cluster entry of its own.
    out.clusters.push({ name: `sandbox-${name}`, cluster: kc.clusters[0]!.cluster });
    out.users.push({ name, user: kc.users[0]!.user });
    out.contexts.push({ name, context: { cluster: `sandbox-${name}`, user: name, namespace: name === 'bob' ? 'team-b' : 'team-a' } });
  }
  return stringify(out);
}

/** A full audit pass a minute: changes in between are audited as they happen anyway. */
const AUDIT_INTERVAL_MS = 60_000;

/** A free local port for the web view (its URL is printed, so it must be known before it listens). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  const { port } = probe.address() as AddressInfo;
  await new Promise((ok) => probe.close(ok));
  return port;
}

/**
 * The reviewer's web view (`tracegate ui`, in this process) with the web view's own identity, and a
 * bearer token per sandbox user in `.sandbox/tokens/<context>` to sign in with.
 */
async function startSandboxUi(cluster: Awaited<ReturnType<typeof startStoryCluster>>): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const kubeconfig = await cluster.kubeconfig({ user: 'system:serviceaccount:tracegate:tracegate-ui', groups: ['system:serviceaccounts'] });
  const signals = new EventEmitter();
  const io: CliIo = { stdout: () => undefined, stderr: (t) => void process.stderr.write(t), readStdin: async () => '', env: {}, cwd: packageRoot };
  const args = ['--listen', `127.0.0.1:${port}`, '--kubeconfig', kubeconfig, '--cert-dir', join(DIR, 'ui-certs'), '--policy-source', 'cluster', '--log-level', 'warn'];
  void runUiCommand(args, io, signals);
  await mkdir(join(DIR, 'tokens'));
  for (const [name, as] of Object.entries(SANDBOX_USERS)) {
    await writeFile(join(DIR, 'tokens', name), `${cluster.server.token(as.user ?? 'admin', as.groups ?? ['system:masters'])}\n`, { mode: 0o600 });
  }
  return { url: `https://127.0.0.1:${port}/`, stop: () => void signals.emit('SIGTERM') };
}

/** The key id the sandbox's approver key is trusted under. */
const APPROVER_KID = 'sandbox-approver';

/**
 * Signed approvals in the sandbox: an Ed25519 approver key (bob's, in `.sandbox/approver.pem`) that
 * every tenant trusts (`.sandbox/approval-keys/_shared.jwks.json`, as a mounted ConfigMap holds it),
 * and the bundled provenance policy again, requiring signed approvals in prod-a and prod-b.
 */
async function approvalSetup(): Promise<{ keys: string; policy: string }> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await writeFile(join(DIR, 'approver.pem'), pem, { mode: 0o600 });
  const keys = join(DIR, 'approval-keys');
  await mkdir(keys);
  const { publicJwk } = await readSigningKey(pem, 'approver.pem', APPROVER_KID);
  await writeFile(join(keys, '_shared.jwks.json'), `${JSON.stringify({ keys: [publicJwk] }, null, 2)}\n`);
  const doc = parse(await readFile(join(bundledPoliciesDir, 'provenance.yaml'), 'utf8')) as { metadata: Record<string, unknown>; spec: { match: Record<string, unknown>; rules: { provenance: Record<string, unknown> }[] } };
  doc.metadata.name = 'provenance-signed';
  doc.metadata.description = 'In production namespaces, the approver and commit of a change are proved by a signed approval.';
  doc.spec.match.namespaces = ['prod-*'];
  doc.spec.rules[0]!.provenance.signedApproval = { require: 'signed' };
  const policy = join(DIR, 'provenance-signed.yaml');
  await writeFile(policy, stringify(doc));
  return { keys, policy };
}

async function main(): Promise<void> {
  await rm(DIR, { recursive: true, force: true });
  await mkdir(join(DIR, 'bin'), { recursive: true });
  const approvals = await approvalSetup();
  const cluster = await startStoryCluster({
    namespaces: [
      { name: 'team-a', tenant: 'team-a' },
      { name: 'team-b', tenant: 'team-b' },
      { name: 'prod-a', tenant: 'team-a' },
      { name: 'prod-b', tenant: 'team-b' },
    ],
    pods: true,
    extraPolicies: [approvals.policy],
    approvalKeys: approvals.keys,
    // As the chart installs it: the policies are TracegatePolicy objects, followed live by the gate and audited.
    policySource: 'cluster',
    audit: { intervalMs: AUDIT_INTERVAL_MS },
  });
  const ui = await startSandboxUi(cluster);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the sandbox…\n`);
    ui.stop();
    await cluster.close();
    await rm(DIR, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const files: Record<string, string> = {};
  for (const [name, as] of Object.entries(SANDBOX_USERS)) files[name] = await cluster.kubeconfig(as);
  const kubeconfig = join(DIR, 'kubeconfig');
  await writeFile(kubeconfig, await combinedKubeconfig(files), { mode: 0o600 });
  const { kubectl, helm, helm3 } = cluster.tools;
  await symlink(kubectl, join(DIR, 'bin', 'kubectl'));
  await symlink(helm, join(DIR, 'bin', 'helm'));
  await symlink(helm3, join(DIR, 'bin', 'helm3'));
  await symlink(join(packageRoot, 'bin', 'tracegate.js'), join(DIR, 'bin', 'tracegate'));
  const env = [
    `export KUBECONFIG='${kubeconfig}'`,
    `export KUBECTL='${kubectl}'`,
    `export HELM='${helm}'`,
    `export HELM3='${helm3}'`,
    `export TRACEGATE='${join(packageRoot, 'bin', 'tracegate.js')}'`,
    `export PATH='${join(DIR, 'bin')}':"$PATH"`,
    '',
  ].join('\n');
  await writeFile(join(DIR, 'env'), env);

  const users = Object.entries(SANDBOX_USERS)
    .map(([name, as]) => `  ${name.padEnd(7)} ${(as.user ?? 'admin').padEnd(34)} ${as.about}`)
    .join('\n');
  process.stdout.write(`sandbox ready

A Kubernetes API server with the tracegate gate behind its webhooks and the recorder, in this process.
Namespaces team-a and team-b belong to the tenants of the same names; the bundled policies apply.
prod-a (tenant team-a) and prod-b (tenant team-b) also require signed approvals: bob's key is
.sandbox/approver.pem, which every tenant trusts (.sandbox/approval-keys/_shared.jwks.json).

  source .sandbox/env                                   # KUBECONFIG, KUBECTL, HELM, HELM3; kubectl, helm, helm3, tracegate on PATH
  kubectl --context alice create deployment web --image=nginx:latest       # denied: every problem listed
  kubectl --context ci apply -f test/fixtures/manifests/sandbox-api.yaml          # admitted and stamped
  helm --kube-context ci -n team-a install web test/fixtures/charts/story --set-string annotations.ci/commit=3f2a9c1 --set-string annotations.approvedBy=bob
  helm --kube-context ci -n team-a history web
  tracegate history team-a/web

Signed approvals (prod-a):
  helm template web test/fixtures/charts/story -n prod-a > .sandbox/web.yaml
  tracegate approve -f .sandbox/web.yaml --name web -n prod-a --key .sandbox/approver.pem --kid ${APPROVER_KID} --approver bob --commit 3f2a9c1 > .sandbox/approval
  helm --kube-context ci -n prod-a install web test/fixtures/charts/story --set-string "annotations.tracegate\\.io/approval=$(cut -d= -f2- .sandbox/approval)"
  kubectl --context ci -n prod-a set image deployment/web web=registry.example.com/team-a/web:1.5.1 --dry-run=client -o yaml > .sandbox/next.yaml
  kubectl --context ci -n prod-a annotate deployment/web --overwrite "$(tracegate approve -f .sandbox/next.yaml --key .sandbox/approver.pem --kid ${APPROVER_KID} --approver bob --commit 8f2c1e7)"
  kubectl --context ci -n prod-a set image deployment/web web=registry.example.com/team-a/web:1.5.1      # admitted: approver verified
  helm --kube-context ci -n prod-a history web                                       # revision 2: approved by bob (signed approval verified)
  tracegate history prod-a/web                                                      # APPROVAL verified, both revisions
  tracegate verify --jwks .sandbox/approval-keys/_shared.jwks.json --revision 2 prod-a/web
  kubectl --context alice -n prod-a annotate deployment/web ci/commit=c0ffee1 approvedBy=not-a-person --overwrite
  kubectl --context alice -n prod-a set image deployment/web web=registry.example.com/team-a/web:1.6.0    # denied: no verified approval
  helm --kube-context ci -n prod-b install web test/fixtures/charts/story --set-string "annotations.tracegate\\.io/approval=$(cut -d= -f2- .sandbox/approval)"   # replayed: denied

Policies are TracegatePolicy objects, as the chart installs them: a change applies without a restart.
  kubectl get tracegatepolicies                                                   # the set in force (and each one's Ready condition)
  kubectl apply -f test/fixtures/policies/sandbox/warn-latest.tracegatepolicy.yaml        # no-latest becomes a warning, at once:
  kubectl --context alice create deployment web2 --image=registry.example.com/team-a/web:latest   # now admitted with a Warning (other rules still apply)
  kubectl apply -f test/fixtures/policies/sandbox/malformed.tracegatepolicy.yaml          # refused by the CRD's schema
  kubectl get policyreports -A                                                    # the background audit: every workload × rule
  helm install tracegate charts/tracegate -n tracegate                           # the chart installs with the real helm (it adopts
                                                                                  # the sandbox's policy objects, which carry Helm's marks)

The compliance reviewer (after the stories above, with web in team-a):
  kubectl --context alice annotate deployment/web ci/commit=8f2c1e7 approvedBy=bob --overwrite
  kubectl --context alice set image deployment/web web=registry.example.com/team-a/web:1.5.0
  tracegate rollback team-a/web 1 --context oncall --break-glass "INC-4711: 1.5.0 crashes at start"   # past the gate, recorded BREAK-GLASS
  tracegate report --tenant team-a -o csv                                         # the change history as CSV, with its digest

The reviewer's web view: ${ui.url}tenants/team-a — the BREAK-GLASS row highlighted (sign in with a token: cat .sandbox/tokens/alice;
its certificate's CA is .sandbox/ui-certs/ca.crt — curl --cacert, or accept the browser's warning).
The sandbox has no RBAC, so every token sees every tenant there; the chart's RBAC is what limits it.

Contexts (kubectl --context NAME, helm --kube-context NAME):
${users}

Ctrl-C (or SIGTERM) stops everything and removes .sandbox/.
`);
}

await main();
