/**
 * What a newcomer meets first: --version, a mistyped command (even one named like an Object method), a
 * busy port, and a cluster command without a cluster — each a one-line answer with an exit code from
 * the error table, never a stack.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runHistoryCommand } from '../../src/cli/history.js';
import { createCli, packageVersion } from '../../src/cli/main.js';
import { runServeCommand } from '../../src/cli/serve.js';
import { errorTable } from '../../src/errors.js';
import { packageRoot } from '../../src/paths.js';

async function run(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const cli = createCli({ serve: (a, io) => runServeCommand(a, io), history: runHistoryCommand });
  const code = await cli(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readStdin: async () => '', env, cwd: packageRoot });
  return { code, stdout, stderr };
}

describe('newcomer papercuts', () => {
  it('--version prints the version', async () => {
    for (const flag of ['--version', '-v', 'version']) {
      const r = await run([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `tracegate ${packageVersion()}\n`);
    }
  });

  it('an unknown command, also one named like an Object method, is a usage error', async () => {
    for (const name of ['nope', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const r = await run([name]);
      assert.equal(r.code, 2, name);
      assert.match(r.stderr, new RegExp(`unknown command "${name.replace(/[_$]/g, '\\$&')}"`));
    }
  });

  it('a busy port says so and names --port, with no stack', async () => {
    const blocker = createServer();
    await new Promise<void>((ok) => blocker.listen(0, '127.0.0.1', ok));
    const port = (blocker.address() as { port: number }).port;
    try {
      const dir = mkdtempSync(join(tmpdir(), 'tg-busy-'));
      const r = await run(['serve', '--host', '127.0.0.1', '--port', String(port), '--cert-dir', dir, '--tenancy', 'none', '--log-level', 'silent']);
      assert.equal(r.code, errorTable.LISTEN_FAILED.exit);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use .* --port`));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\bat .*\(/, 'no stack');
    } finally {
      blocker.close();
    }
  });

  it('history without a reachable cluster is one KUBE_API line, exit 1', async () => {
    const missing = await run(['history', 'team-a/web'], { KUBECONFIG: join(tmpdir(), 'no-such-kubeconfig.yaml'), HOME: mkdtempSync(join(tmpdir(), 'tg-home-')) });
    assert.equal(missing.code, errorTable.KUBE_API.exit);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    assert.match(missing.stderr, /^tracegate history: none of the kubeconfig files/);
  });
});
