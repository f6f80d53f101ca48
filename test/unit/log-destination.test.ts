/**
 * The production log destination batches stdout writes: a line must still show up promptly on a quiet
 * gate, and no line may be lost when the process exits.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const LOG_MODULE = fileURLToPath(new URL('../../src/log.ts', import.meta.url));
/** A hang guard, not a speed check. */
const HANG_GUARD_MS = 20_000;

/** Makes `log` from createLogger() on stdout. */
const ONE_LOGGER = `const log = createLogger({ level: 'info' });`;

/**
 * Runs `body` in a child node with `log` made by `setup` (createLogger() on stdout by default); resolves
 * with its stdout lines as they arrive.
 */
function child(body: string, onLine?: (line: string, kill: () => void) => void, setup = ONE_LOGGER): Promise<string[]> {
  const script = `import { createLogger, createLoggers, createDecisionWriter } from ${JSON.stringify(LOG_MODULE)};\n${setup}\n${body}`;
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let rest = '';
  p.stdout.on('data', (chunk: Buffer) => {
    rest += chunk.toString('utf8');
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      lines.push(line);
      onLine?.(line, () => p.kill('SIGKILL'));
    }
  });
  const guard = setTimeout(() => p.kill('SIGKILL'), HANG_GUARD_MS);
  return new Promise((ok) => p.on('close', () => (clearTimeout(guard), ok(lines))));
}

describe('the default log destination', () => {
  it('writes a lone line while the process keeps running (the periodic flush)', async () => {
    // The child logs one line and then stays alive; the test kills it as soon as the line arrives.
    const lines = await child(`log.info({ n: 1 }, 'quiet'); setInterval(() => {}, 1000);`, (line, kill) => {
      if (line.includes('"msg":"quiet"')) kill();
    });
    assert.equal(lines.length, 1, 'the line arrived before the hang guard killed the child');
    assert.equal((JSON.parse(lines[0]!) as { n: number }).n, 1);
  });

  it('loses no line on a normal exit, in order', async () => {
    const lines = await child(`for (let i = 0; i < 5000; i++) log.info({ i }, 'line');`);
    assert.equal(lines.length, 5000);
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { i: number }).i), [...Array(5000).keys()]);
  });

  it('keeps the gate\'s two loggers (createLoggers) in order on one stdout, losing no line on exit', async () => {
    const setup = `const { log, decisions } = createLoggers({ level: 'info' });\nconst write = createDecisionWriter(log, decisions);`;
    const decision = `{ webhook: 'validate', uid: 'u' + i, kind: 'Deployment', namespace: 'shop', name: 'web', operation: 'CREATE', user: 'ci', decision: 'allow', rules: [], policies: [], dryRun: false }`;
    const lines = await child(`for (let i = 0; i < 3000; i++) { log.info({ i }, 'line'); write(${decision}, 0.1); }\nprocess.exit(0);`, undefined, setup);
    assert.equal(lines.length, 6000);
    const order = lines.map((l) => JSON.parse(l) as { msg: string; i?: number; uid?: string });
    for (let i = 0; i < 3000; i++) {
      assert.deepEqual([order[2 * i]!.msg, order[2 * i]!.i], ['line', i]);
      assert.deepEqual([order[2 * i + 1]!.msg, order[2 * i + 1]!.uid], ['admission decision', `u${i}`]);
    }
  });

  it('loses no line when the process exits through process.exit', async () => {
    const lines = await child(`log.info('before exit'); process.exit(3);`);
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['before exit']);
  });
});
