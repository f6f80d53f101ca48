/**
 * The decision line is written by a logger without pino's redaction pass; it must stay the exact line
 * the redacting logger writes (so log pipelines and queries see no difference), carry nothing but the
 * decision's own fields, with request values bounded and their control and invisible characters shown
 * escaped, so no request can forge or flood a log line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Decision } from '../../src/admission/decision.js';
import { createDecisionWriter, createLogger, createLoggers, DECISION_MESSAGE } from '../../src/log.js';

function capture(level = 'info') {
  const lines: string[] = [];
  const log = createLogger({ level, destination: { write: (s: string) => void lines.push(s) } });
  return { log, lines };
}

/** The gate's pair of loggers on one captured destination, and its decision writer. */
function capturePair(level = 'info') {
  const lines: string[] = [];
  const { log, decisions } = createLoggers({ level, destination: { write: (s: string) => void lines.push(s) } });
  return { log, lines, write: createDecisionWriter(log, decisions) };
}

/** The timestamps may fall in different milliseconds; everything else must be byte for byte the same. */
const untimed = (l: string) => l.replace(/"time":"[^"]+"/, '"time":"T"');

/** The line the redacting logger writes for a decision (bounded as the writer bounds it) and a duration. */
function redactedLine(d: Decision, durationMs: number): string {
  const viaPino = capture();
  createDecisionWriter(viaPino.log)(d, durationMs);
  return viaPino.lines[0]!;
}

const decision: Decision = {
  webhook: 'mutate',
  uid: '0f9e8d7c-6b5a-4a3b-9c2d-1e0f9a8b7c6d',
  kind: 'Deployment',
  namespace: 'shop',
  name: 'web',
  operation: 'UPDATE',
  user: 'system:serviceaccount:ci:deployer',
  fieldManager: 'kubectl-set',
  tenant: 'shop',
  decision: 'warn',
  rules: ['image-hygiene/pinned-tag', 'provenance/commit'],
  policies: ['image-hygiene@1.0.0=sha256:ab', 'provenance@1.0.0=sha256:cd'],
  dryRun: false,
  templateChanged: true,
  changes: ['image of container web: shop/web:1.0 → shop/web:1.1 "quoted" \\ back slash'],
  changeId: 'm0abc.0123456789abcdef',
  patchOps: 3,
};

describe('createDecisionWriter', () => {
  it('writes on the unredacting logger exactly the line the redacting log.info(decision, msg) writes, with the duration last', () => {
    const viaPino = capture();
    const direct = capturePair();
    viaPino.log.info({ ...decision, durationMs: 0.123 }, DECISION_MESSAGE);
    direct.write(decision, 0.123);
    assert.equal(direct.lines.length, 1);
    assert.equal(untimed(direct.lines[0]!), untimed(viaPino.lines[0]!));
    const record = JSON.parse(direct.lines[0]!) as Record<string, unknown>;
    assert.equal(record.msg, DECISION_MESSAGE);
    assert.equal(record.level, 'info');
    assert.equal(record.durationMs, 0.123);
    assert.deepEqual(record.changes, decision.changes);
    assert.ok(!Number.isNaN(Date.parse(record.time as string)));
  });

  it('writes the same bytes as the redacting logger for every kind of request text', () => {
    const texts = [
      'plain',
      'quote " and back\\slash',
      'tab\tnew\nline\u0000nul',
      'é→ü 日本 😀 (a surrogate pair)',
      'line\u2028separator \u202e bidi',
      'x'.repeat(99),
      `${'y'.repeat(150)} "long" \\ one`,
      'z'.repeat(10_000),
      'lone \ud800 high',
      'lone \udc00 low',
      `${'w'.repeat(120)}\ud800`,
      '',
    ];
    for (const text of texts) {
      const variants: Decision[] = [
        { ...decision, uid: text },
        { ...decision, name: text, user: text },
        { ...decision, changes: [text, text], rules: [text] },
        { ...decision, changes: Array.from({ length: 60 }, (_, i) => `${text}${i}`) },
        { ...decision, fieldManager: text, tenant: undefined, subResource: text },
      ];
      for (const d of variants) {
        const direct = capturePair();
        direct.write(d, 1.5);
        assert.equal(untimed(direct.lines[0]!), untimed(redactedLine(d, 1.5)), `same line for ${JSON.stringify(text.slice(0, 40))}`);
        assert.doesNotThrow(() => JSON.parse(direct.lines[0]!));
        assert.ok(!direct.lines[0]!.slice(0, -1).includes('\n'), 'one line');
      }
    }
  });

  it('shows control and invisible characters of request values escaped, and still parses', () => {
    const { lines, write } = capturePair();
    write({ ...decision, name: 'web\ud800', user: 'a\nb', changes: ['back\u2028slash'] }, 1);
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.user, 'a\\u000ab', 'a forged second log line stays on this one, visibly');
    assert.deepEqual(record.changes, ['back\\u2028slash']);
    assert.equal(record.name, 'web\ud800', 'a lone surrogate is written escaped, as JSON.stringify writes it');
    assert.ok(lines[0]!.includes('"name":"web\\ud800"'));
    assert.ok(!lines[0]!.slice(0, -1).includes('\n'), 'one line');
  });

  it('cuts an unbounded request value, saying how long it was', () => {
    const { lines, write } = capturePair();
    write({ ...decision, name: 'x'.repeat(100_000), changes: Array.from({ length: 10_000 }, () => 'c'.repeat(1_000)) }, 1);
    assert.ok(lines[0]!.length < 20_000, `the line stays short (${lines[0]!.length})`);
    const record = JSON.parse(lines[0]!) as { name: string; changes: string[] };
    assert.match(record.name, /…\(100000 characters\)$/);
    assert.equal(record.changes.at(-1), '…(9950 more)');
  });

  it('carries only the decision\'s own fields: anything else on the object never reaches the line', () => {
    const { lines, write } = capturePair();
    const secret = 'hunter2-SECRET';
    const polluted = {
      ...decision,
      // Neither can come from the handlers (the Decision type has no such field, and these are strings): a later change must not leak them.
      object: { spec: { containers: [{ env: [{ name: 'PASSWORD', value: secret }] }] } },
      headers: { authorization: `Bearer ${secret}` },
      name: { value: secret },
      changes: ['image web: a → b', { env: secret }],
    } as unknown as Decision;
    write(polluted, 1);
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes(secret), lines[0]);
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.object, undefined);
    assert.equal(record.headers, undefined);
    assert.equal(record.name, 'a JSON object', 'an object where text belongs is described, never serialised');
    assert.deepEqual(record.changes, ['image web: a → b', 'a JSON object']);
    const allowed = new Set(['level', 'time', 'pid', 'name', 'msg', 'durationMs', ...Object.keys(decision), 'subResource', 'breakGlass']);
    for (const key of Object.keys(record)) assert.ok(allowed.has(key), `unexpected field ${key}`);
  });

  it('writes the decision lines and every other line to one destination, in order', () => {
    const { log, lines, write } = capturePair();
    log.info({ n: 1 }, 'before');
    write(decision, 1);
    log.warn({ n: 2, password: 'p' }, 'after');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['before', DECISION_MESSAGE, 'after']);
    assert.equal((JSON.parse(lines[2]!) as { password: string }).password, 'p', 'a top-level key is not a redacted path');
    log.info({ payload: { password: 'p', token: 't' } }, 'redacted');
    assert.deepEqual((JSON.parse(lines[3]!) as { payload: unknown }).payload, { password: '[redacted]', token: '[redacted]' }, 'the other lines keep the redaction');
  });

  it('keeps the logger bindings and writes nothing when info is disabled', () => {
    const on = capture();
    createDecisionWriter(on.log.child({ component: 'gate' }))(decision, 2);
    assert.equal((JSON.parse(on.lines[0]!) as Record<string, unknown>).component, 'gate');
    const named = capturePair();
    named.write(decision, 2);
    // (The logger's `name` binding comes first; the decision's own `name` follows and wins in a JSON parser.)
    assert.match(named.lines[0]!, new RegExp(`^\\{"level":"info","time":"[^"]+","pid":${process.pid},"name":"tracegate","webhook":`));
    const off = capturePair('warn');
    off.write(decision, 2);
    assert.deepEqual(off.lines, []);
  });

  it('follows a level changed at run time', () => {
    const { log, lines, write } = capturePair();
    log.level = 'error';
    write(decision, 1);
    log.level = 'info';
    write(decision, 1);
    assert.equal(lines.length, 1);
  });
});
