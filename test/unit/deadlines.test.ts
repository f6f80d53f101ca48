/** Request deadlines on one shared timer: each fires once, after its time, unless cancelled. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDeadlines } from '../../src/server/deadlines.js';

/** Ticks of the registry under test; the waits below are several ticks so a busy machine still passes. */
const TICK_MS = 5;

describe('createDeadlines', () => {
  it('fires a deadline once its time has passed, and only once', async () => {
    let clock = 1_000;
    const d = createDeadlines({ tickMs: TICK_MS, now: () => clock });
    const fired: string[] = [];
    d.add(1_010, () => fired.push('a'));
    d.add(1_020, () => fired.push('b'));
    await sleep(TICK_MS * 4);
    assert.deepEqual(fired, [], 'nothing before its time');
    clock = 1_015;
    await sleep(TICK_MS * 4);
    assert.deepEqual(fired, ['a']);
    assert.equal(d.size(), 1);
    clock = 5_000;
    await sleep(TICK_MS * 4);
    assert.deepEqual(fired, ['a', 'b']);
    assert.equal(d.size(), 0);
  });

  it('never fires a cancelled deadline', async () => {
    let clock = 0;
    const d = createDeadlines({ tickMs: TICK_MS, now: () => clock });
    let fired = 0;
    const entry = d.add(10, () => fired++);
    d.cancel(entry);
    d.cancel(entry);
    clock = 100;
    await sleep(TICK_MS * 4);
    assert.equal(fired, 0);
    assert.equal(d.size(), 0);
  });

  it('fires a deadline already past at the next tick, and works again after going idle', async () => {
    const d = createDeadlines({ tickMs: TICK_MS });
    // The registry's timer does not keep the process alive (by design): this test's own timer does.
    const keepAlive = setInterval(() => undefined, 1_000);
    const first = await new Promise<number>((ok) => d.add(Date.now() - 1, () => ok(Date.now())));
    assert.ok(first > 0);
    await sleep(TICK_MS * 4);
    const second = await new Promise<boolean>((ok) => d.add(Date.now() + TICK_MS, () => ok(true)));
    assert.equal(second, true);
    clearInterval(keepAlive);
  });
});
