/**
 * `npm run sandbox`: the one-process cluster the demo uses — the test API server, the real gate behind
 * the install's webhook configurations, the recorder — left running for people to try every story by
 * hand with the real kubectl and helm. Writes `.sandbox/kubeconfig` (one context per user),
 * `.sandbox/env` (absolute paths of the tools) and `.sandbox/bin` (kubectl, helm, helm3, tracegate on
 * PATH), prints `sandbox ready` and how to use it, and runs until Ctrl-C or SIGTERM.
 */
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { packageRoot } from '../src/paths.js';
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

async function main(): Promise<void> {
  const cluster = await startStoryCluster({ namespaces: [{ name: 'team-a', tenant: 'team-a' }, { name: 'team-b', tenant: 'team-b' }], pods: true });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the sandbox…\n`);
    await cluster.close();
    await rm(DIR, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  await rm(DIR, { recursive: true, force: true });
  await mkdir(join(DIR, 'bin'), { recursive: true });
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

  source .sandbox/env                                   # KUBECONFIG, KUBECTL, HELM, HELM3; kubectl, helm, helm3, tracegate on PATH
  kubectl --context alice create deployment web --image=nginx:latest       # denied: every problem listed
  kubectl --context ci -n team-a apply -f test/fixtures/manifests/good-deployment.yaml
  helm --kube-context ci -n team-a install web test/fixtures/charts/story --set-string annotations.ci/commit=3f2a9c1 --set-string annotations.approvedBy=bob
  helm --kube-context ci -n team-a history web
  tracegate history team-a/web

Contexts (kubectl --context NAME, helm --kube-context NAME):
${users}

Ctrl-C (or SIGTERM) stops everything and removes .sandbox/.
`);
}

await main();
