/**
 * The shared body budget, its default from the cgroup memory limit, and the configuration keys that
 * override it and the rate floor.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig } from '../../src/config.js';
import { isTracegateError } from '../../src/errors.js';
import { UNLIMITED_MEMORY_BODY_BUDGET, createBodyBudget, defaultBodyBudget, parseMemoryLimit, readMemoryLimit } from '../../src/server/body-budget.js';

const MiB = 1024 * 1024;

describe('createBodyBudget', () => {
  it('grants reservations while they fit, refuses the one that does not, and frees on release', () => {
    const budget = createBodyBudget(10);
    const a = budget.lease();
    const b = budget.lease();
    assert.equal(a.reserve(6), true);
    assert.equal(b.reserve(5), false, 'over the cap: refused whole');
    assert.equal(budget.inUse(), 6);
    assert.equal(b.reserve(4), true);
    assert.equal(budget.inUse(), 10);
    a.release();
    a.release();
    assert.equal(budget.inUse(), 4, 'a second release gives nothing back twice');
    assert.equal(b.reserve(6), true);
    b.release();
    assert.equal(budget.inUse(), 0);
  });
});

describe('the memory limit', () => {
  it('parses cgroup v2 and v1 files; `max` and v1 "unlimited" are no limit', () => {
    assert.equal(parseMemoryLimit('402653184\n'), 402653184);
    assert.equal(parseMemoryLimit('max\n'), undefined);
    assert.equal(parseMemoryLimit('9223372036854771712\n'), undefined);
    assert.equal(parseMemoryLimit('garbage'), undefined);
    assert.equal(parseMemoryLimit('0'), undefined);
  });

  const files = (entries: Record<string, string>) => async (path: string) => {
    if (Object.hasOwn(entries, path)) return entries[path]!;
    throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
  };

  it('reads the process cgroup (v2), then the container root', async () => {
    assert.equal(await readMemoryLimit(files({ '/proc/self/cgroup': '0::/kubepods/pod1/c1\n', '/sys/fs/cgroup/kubepods/pod1/c1/memory.max': '402653184\n' })), 402653184);
    assert.equal(await readMemoryLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': '268435456\n' })), 268435456);
  });

  it('reads cgroup v1 (the memory controller), and none at all is no limit', async () => {
    const v1 = '4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n';
    assert.equal(await readMemoryLimit(files({ '/proc/self/cgroup': v1, '/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes': '536870912\n' })), 536870912);
    assert.equal(await readMemoryLimit(files({ '/proc/self/cgroup': v1, '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n' })), undefined);
    assert.equal(await readMemoryLimit(files({})), undefined);
  });

  it('the default budget: a quarter of the limit, at least one largest review, a fixed size without a limit', () => {
    assert.equal(defaultBodyBudget(384 * MiB, 7 * MiB), 96 * MiB);
    assert.equal(defaultBodyBudget(16 * MiB, 7 * MiB), 7 * MiB);
    assert.equal(defaultBodyBudget(undefined, 7 * MiB), UNLIMITED_MEMORY_BODY_BUDGET);
    assert.equal(defaultBodyBudget(undefined, 100 * MiB), 100 * MiB);
  });
});

describe('configuration of the limits', () => {
  it('defaults: no fixed budget (derived at start), 16 KiB/s after 2 s', () => {
    const c = buildConfig({}, {});
    assert.equal(c.maxBufferedBodyBytes, undefined);
    assert.equal(c.minBodyBytesPerSecond, 16 * 1024);
    assert.equal(c.bodyRateGraceMs, 2000);
  });

  it('environment and flags set them; flags win', () => {
    const env = { TRACEGATE_MAX_BUFFERED_BODY_BYTES: String(32 * MiB), TRACEGATE_MIN_BODY_BYTES_PER_SECOND: '0', TRACEGATE_BODY_RATE_GRACE_MS: '500' };
    const c = buildConfig(env, { bodyRateGraceMs: '750' });
    assert.equal(c.maxBufferedBodyBytes, 32 * MiB);
    assert.equal(c.minBodyBytesPerSecond, 0);
    assert.equal(c.bodyRateGraceMs, 750);
  });

  it('refuses a budget below the body limit, and values of the wrong type', () => {
    const invalid = (overrides: Record<string, unknown>, message: RegExp) => {
      assert.throws(() => buildConfig({}, overrides), (err: unknown) => isTracegateError(err, 'CONFIG_INVALID') && message.test(err.message));
    };
    invalid({ maxBufferedBodyBytes: String(MiB) }, /maxBufferedBodyBytes \(1048576\) must be at least bodyLimitBytes/);
    invalid({ minBodyBytesPerSecond: '-1' }, /minBodyBytesPerSecond/);
    invalid({ bodyRateGraceMs: 'soon' }, /bodyRateGraceMs/);
    invalid({ bodyRateGraceMs: '60000' }, /bodyRateGraceMs/);
  });
});
