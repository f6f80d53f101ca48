/**
 * The decision line is written without pino's per-key path; it must stay the exact line pino writes,
 * so log pipelines and queries see no difference.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Decision } from '../../src/admission/decision.js';
import { createDecisionWriter, createLogger, DECISION_MESSAGE } from '../../src/log.js';

function capture(level = 'info') {
  const lines: string[] = [];
  const log = createLogger({ level, destination: { write: (s: string) => void lines.push(s) } });
  return { log, lines };
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
  changes: ['image of container web: shop/web:1.0 → shop/web:1.1 "quoted" \\ back\u2028slash'],
  changeId: 'm0abc.0123456789abcdef',
  patchOps: 3,
};

describe('createDecisionWriter', () => {
  it('writes exactly the line log.info(decision, msg) writes, with the duration last', () => {
    const viaPino = capture();
    const direct = capture();
    viaPino.log.info({ ...decision, durationMs: 0.123 }, DECISION_MESSAGE);
    createDecisionWriter(direct.log)(decision, 0.123);
    assert.equal(direct.lines.length, 1);
    // The timestamps may fall in different milliseconds; everything else is byte for byte the same.
    const untimed = (l: string) => l.replace(/"time":"[^"]+"/, '"time":"T"');
    assert.equal(untimed(direct.lines[0]!), untimed(viaPino.lines[0]!));
    const record = JSON.parse(direct.lines[0]!) as Record<string, unknown>;
    assert.equal(record.msg, DECISION_MESSAGE);
    assert.equal(record.level, 'info');
    assert.equal(record.durationMs, 0.123);
    assert.deepEqual(record.changes, decision.changes);
    assert.ok(!Number.isNaN(Date.parse(record.time as string)));
  });

  it('escapes what JSON must escape, lone surrogates included, so every line parses', () => {
    const { log, lines } = capture();
    createDecisionWriter(log)({ ...decision, name: 'web\ud800', user: 'a\nb' }, 1);
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.name, 'web\ud800');
    assert.equal(record.user, 'a\nb');
    assert.ok(!lines[0]!.slice(0, -1).includes('\n'), 'one line');
  });

  it('keeps the logger bindings and writes nothing when info is disabled', () => {
    const on = capture();
    createDecisionWriter(on.log.child({ component: 'gate' }))(decision, 2);
    assert.equal((JSON.parse(on.lines[0]!) as Record<string, unknown>).component, 'gate');
    const off = capture('warn');
    createDecisionWriter(off.log)(decision, 2);
    assert.deepEqual(off.lines, []);
  });

  it('follows a level changed at run time', () => {
    const { log, lines } = capture();
    const write = createDecisionWriter(log);
    log.level = 'error';
    write(decision, 1);
    log.level = 'info';
    write(decision, 1);
    assert.equal(lines.length, 1);
  });
});
