/**
 * The gate as its own process, as it runs in a container: its memory stays bounded while clients stall
 * large uploads (the body budget answers 429 with Retry-After), SIGTERM drains a pipelined connection
 * without waiting for the grace period, and `npm start` passes SIGTERM to the gate instead of leaving it
 * running orphaned. Nothing here measures time: the assertions are on answers, exit codes, log lines,
 * and RSS from /proc.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { describe, it } from 'node:test';
import { GATE_SERVERNAME, admissionFixture, openRaw, rawPost, startGateProcess, type GateProcess, type RawConnection } from '../support/gate-harness.js';

/** A hang guard per test, not a speed check (a process start under tsx takes a few seconds). */
const HANG_GUARD_MS = 120_000;
/** The body budget the memory test configures: room for one of the attack's bodies. */
const BUDGET_BYTES = 8 * 1024 * 1024;
/** Clients that each declare a large body, send most of it and stall (the reproduction used 60). */
const STALLERS = 60;
/** What each declares (just under the 7 MiB body limit) and what it sends before stalling. */
const DECLARED_BYTES = 7 * 1024 * 1024 - 1024;
const SENT_BYTES = 6.5 * 1024 * 1024;
/**
 * The container's memory limit in manifests/deployment.yaml (384Mi): the gate must stay below it. The
 * same attack without a budget took the gate to ~490 MB.
 */
const MEMORY_LIMIT_BYTES = 384 * 1024 * 1024;

const valid = admissionFixture('constructed/11-update-kubectl-set-image.mutating.json');

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM). */
async function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  assert.ok(m, `${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One POST of the valid review over a fresh HTTPS connection. */
function postReview(gate: GateProcess, path: string): Promise<{ status: number; json: any }> {
  return new Promise((ok, fail) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: gate.port, method: 'POST', path, ca: gate.caPem, servername: GATE_SERVERNAME, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => ok({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    req.on('error', fail);
    req.end(JSON.stringify(valid));
  });
}

/**
 * A client that declares a large body and sends most of it in 64 KiB writes unless an answer arrives
 * first, then stalls (keeps the connection open, sends nothing). Resolves with its first answer, or
 * undefined when the connection closed without one.
 */
async function staller(gate: GateProcess): Promise<{ status: number; retryAfter?: string; connection?: string } | undefined> {
  const conn: RawConnection = await openRaw(gate.tlsOptions());
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  conn.socket.write(rawPost('/validate', Buffer.alloc(0), { 'content-length': DECLARED_BYTES }));
  for (let sent = 0; sent < SENT_BYTES && conn.responses.length === 0 && !conn.socket.destroyed; sent += chunk.length) {
    await new Promise<void>((r) => conn.socket.write(chunk, () => r()));
  }
  const { responses } = await conn.responsesOrClose(1);
  conn.socket.destroy();
  const first = responses[0];
  return first && { status: first.status, retryAfter: first.headers['retry-after'], connection: first.headers.connection };
}

describe('the gate as a process', { timeout: HANG_GUARD_MS }, () => {
  it('stalled large uploads: 429 with Retry-After past the body budget, the process survives and stays under its memory limit', async () => {
    // A low rate floor cuts the admitted stallers off (408), so the budget frees without waiting for their deadline.
    const gate = await startGateProcess({ args: ['--max-buffered-body-bytes', String(BUDGET_BYTES), '--min-body-bytes-per-second', '1024', '--body-rate-grace-ms', '1000'] });
    try {
      assert.match(gate.logText(), new RegExp(`"maxBufferedBodyBytes":${BUDGET_BYTES},"source":"configured"`));
      const answers = await Promise.all(Array.from({ length: STALLERS }, () => staller(gate)));
      const statuses = answers.map((a) => a?.status);
      const busy = answers.filter((a) => a?.status === 429);
      // Each staller was refused before its body was read (429), or admitted and cut off once it stalled (408).
      assert.deepEqual(statuses.filter((s) => s !== 429 && s !== 408), [], JSON.stringify(statuses));
      assert.ok(busy.length > 0, 'the budget refused some uploads');
      // The answer is read, then the gate closes its side of the connection (see closeAfterAnswer in webhook.ts).
      for (const a of busy) assert.equal(a!.retryAfter, '1');
      // The gate survived and serves a normal review again.
      assert.ok(alive(gate.pid));
      const res = await postReview(gate, '/validate');
      assert.equal(res.status, 200);
      assert.equal(res.json.response.uid, valid.request.uid);
      const peak = await procStatusBytes(gate.pid, 'VmHWM');
      assert.ok(peak < MEMORY_LIMIT_BYTES, `peak RSS ${Math.round(peak / 2 ** 20)} MiB, over the container limit of ${MEMORY_LIMIT_BYTES / 2 ** 20} MiB`);
      assert.doesNotMatch(gate.logText(), /"level":"(error|fatal)"/);
    } finally {
      await gate.cleanup();
    }
  });

  it('SIGTERM with a pipelined connection: every request answered, the drain finishes without the grace timeout, exit 0', async () => {
    const gate = await startGateProcess();
    try {
      const conn = await openRaw(gate.tlsOptions());
      const pipeline = Buffer.concat([rawPost('/validate', JSON.stringify(valid)), rawPost('/validate', '{"apiVersion": nope'), rawPost('/validate', JSON.stringify(valid))]);
      await new Promise<void>((r) => conn.socket.write(pipeline, () => r()));
      process.kill(gate.pid, 'SIGTERM');
      const { responses } = await conn.responsesOrClose(3);
      assert.deepEqual(responses.map((r) => r.status), [200, 400, 200]);
      // The connection is left open by the client: the drain must close it, not wait it out.
      await conn.closed;
      const { code } = await gate.exited;
      assert.equal(code, 0);
      await gate.outputClosed;
      assert.match(gate.logText(), /tracegate gate stopped/);
      assert.doesNotMatch(gate.logText(), /drain timed out/);
    } finally {
      await gate.cleanup();
    }
  });

  it('npm start: SIGTERM to npm reaches the gate, which drains and exits; nothing is left running', async () => {
    const gate = await startGateProcess({ via: 'npm' });
    try {
      assert.notEqual(gate.pid, gate.child.pid, 'the gate runs as a child of npm');
      assert.equal((await postReview(gate, '/validate')).status, 200);
      gate.child.kill('SIGTERM');
      await gate.exited;
      assert.equal(alive(gate.pid), false, 'the gate is still running after npm exited');
      await gate.outputClosed;
      assert.match(gate.logText(), /"reason":"SIGTERM"/);
      assert.match(gate.logText(), /tracegate gate stopped/);
    } finally {
      await gate.cleanup();
    }
  });
});
