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

/** Runs `body` in a child node with a logger from createLogger() on stdout; resolves with its stdout lines as they arrive. */
function child(body: string, onLine?: (line: string, kill: () => void) => void): Promise<string[]> {
  const script = `import { createLogger } from ${JSON.stringify(LOG_MODULE)};\nconst log = createLogger({ level: 'info' });\n${body}`;
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

  it('loses no line when the process exits through process.exit', async () => {
    const lines = await child(`log.info('before exit'); process.exit(3);`);
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['before exit']);
  });
});
