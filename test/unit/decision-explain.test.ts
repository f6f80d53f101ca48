/**
 * How a decision reads: rule lists for the decision line and the audit log, the denial message and
 * warnings. Hand-made violations, so every ordering and dedup case is spelled out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditAnnotations, auditFindings, denialMessage, ruleIds, ruleList, warningsFor } from '../../src/admission/explain.js';
import type { EvaluationResult, Violation } from '../../src/policy/types.js';

function v(policy: string, rule: string, action: Violation['action'], message = `${rule} broken`): Violation {
  return { rule, policy, policyVersion: '1.0.0', action, path: 'spec', message, fix: `fix ${rule}` };
}

function result(violations: Violation[]): EvaluationResult {
  return { verdict: 'allow', violations, applied: [], templateChanged: true, changes: [] };
}

describe('ruleIds and ruleList', () => {
  const violations = [v('images', 'no-latest', 'deny'), v('images', 'no-latest', 'deny'), v('res', 'limits', 'warn'), v('images', 'no-latest', 'deny'), v('prov', 'change', 'audit'), v('res', 'limits', 'warn')];

  it('lists each rule once, in order of first appearance, repeats apart or together', () => {
    assert.deepEqual(ruleIds(violations), ['images/no-latest', 'res/limits', 'prov/change']);
    assert.equal(ruleList(violations), 'images/no-latest,res/limits,prov/change');
  });

  it('keeps only the rules with the given action, and says nothing when there are none', () => {
    assert.deepEqual(ruleIds(violations, 'warn'), ['res/limits']);
    assert.equal(ruleList(violations, 'deny'), 'images/no-latest');
    assert.equal(ruleList(violations.filter((x) => x.action !== 'audit'), 'audit'), undefined);
    assert.equal(ruleList([]), undefined);
  });

  it('treats ids that read the same as one rule', () => {
    assert.deepEqual(ruleIds([v('a/b', 'c', 'deny'), v('a', 'b/c', 'deny')]), ['a/b/c']);
  });
});

describe('auditFindings', () => {
  it('joins the messages of audit violations, and is undefined without any', () => {
    assert.equal(auditFindings([v('p', 'a', 'audit', 'one'), v('p', 'b', 'deny', 'not me'), v('p', 'c', 'audit', 'two')]), 'one | two');
    assert.equal(auditFindings([v('p', 'a', 'warn')]), undefined);
    assert.equal(auditFindings([v('p', 'a', 'audit', '')]), undefined);
    assert.equal(auditFindings([v('p', 'a', 'audit', ''), v('p', 'b', 'audit', '')]), ' | ');
  });
});

describe('denialMessage', () => {
  it('counts and numbers the denying violations only', () => {
    const message = denialMessage('Deployment shop/web', [v('images', 'no-latest', 'deny', 'image "nginx" has no tag'), v('res', 'limits', 'warn'), v('prov', 'change', 'deny', 'lacks provenance')]);
    assert.equal(
      message,
      [
        'Deployment shop/web violates 2 tracegate policy rules:',
        '  1. image "nginx" has no tag (field spec; policy images rule no-latest). Fix: fix no-latest',
        '  2. lacks provenance (field spec; policy prov rule change). Fix: fix change',
      ].join('\n'),
    );
    assert.equal(denialMessage('Deployment shop/web', [v('p', 'r', 'deny', 'm')]).split('\n')[0], 'Deployment shop/web violates 1 tracegate policy rule:');
  });
});

describe('warningsFor', () => {
  it('has no warnings when nothing warns', () => {
    assert.deepEqual(warningsFor(result([v('p', 'a', 'deny'), v('p', 'b', 'audit')])), []);
  });

  it('puts the extra warnings first, one line each, without repeats', () => {
    const warnings = warningsFor(result([v('p', 'a', 'warn', 'two\nlines'), v('p', 'a', 'warn', 'two\nlines')]), ['break-glass used']);
    assert.deepEqual(warnings, ['break-glass used', 'two lines [p/a] fix: fix a']);
  });
});

describe('auditAnnotations', () => {
  it('keeps set values under keys the apiserver accepts, in order', () => {
    assert.deepEqual(Object.entries(auditAnnotations({ decision: 'allow', tenant: undefined, policies: '', 'denied-rules': 'a/b', 'bad/key': 'x', 'field-manager': 'helm' })), [
      ['decision', 'allow'],
      ['denied-rules', 'a/b'],
      ['field-manager', 'helm'],
    ]);
  });
});
