/**
 * parseReview refuses what no apiserver sends, with a reason that names the field and quotes at most a
 * bounded part of the value; what real apiservers send passes. nestingExceeds is iterative.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_REVIEW_DEPTH, nestingExceeds, parseReview } from '../../src/admission/review.js';
import { admissionFixture, admissionFixtures, reviewFor } from '../support/gate-harness.js';

const base = admissionFixture('constructed/11-update-kubectl-set-image.mutating.json');

function reason(edit: (review: any) => void): string {
  const review = structuredClone(base);
  edit(review);
  const parsed = parseReview(review);
  assert.equal(parsed.ok, false, 'refused');
  return (parsed as { error: string }).error;
}

describe('nestingExceeds', () => {
  it('counts the top-level container as level 1', () => {
    assert.equal(nestingExceeds({ a: { b: [1] } }, 3), false);
    assert.equal(nestingExceeds({ a: { b: [1] } }, 2), true);
    assert.equal(nestingExceeds('text', 0), false);
    assert.equal(nestingExceeds([], 1), false);
  });

  it('walks 1,000,000 levels without recursion', () => {
    let v: unknown = 0;
    for (let i = 0; i < 1_000_000; i++) v = { k: [v] };
    assert.equal(nestingExceeds(v, MAX_REVIEW_DEPTH), true);
  });

  it('finds a deep branch among wide shallow ones', () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_REVIEW_DEPTH; i++) deep = [deep];
    const wide = { items: Array.from({ length: 1000 }, (_, i) => ({ i })), deep };
    assert.equal(nestingExceeds(wide, MAX_REVIEW_DEPTH), true);
    assert.equal(nestingExceeds(wide, MAX_REVIEW_DEPTH + 1), false);
  });
});

describe('parseReview: shapes', () => {
  it('accepts every shared fixture and builder-made reviews of each workload kind', () => {
    for (const f of admissionFixtures()) assert.ok(parseReview(f.review).ok, f.name);
    const template = { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'a', image: 'a:1' }] } };
    for (const obj of [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's' }, spec: { template } },
      { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { jobTemplate: { spec: { template } } } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: template.spec },
    ]) {
      assert.ok(parseReview(reviewFor(obj)).ok, obj.kind);
    }
  });

  it('an object whose kind differs from request.kind.kind, prototype keys included', () => {
    assert.match(reason((r) => (r.request.object.kind = 'constructor')), /^request\.object\.kind "constructor" does not match request\.kind\.kind "Deployment"$/);
    assert.match(reason((r) => (r.request.oldObject.kind = 'ReplicaSet')), /request\.oldObject\.kind "ReplicaSet"/);
    assert.match(reason((r) => (r.request.object.kind = 5)), /request\.object\.kind 5 does not match/);
  });

  it('request.kind.kind a prototype key with objects of that kind: accepted (nothing to judge), no lookup breaks', () => {
    const review = structuredClone(base);
    for (const o of [review.request.kind, review.request.object, review.request.oldObject]) o.kind = '__proto__';
    assert.ok(parseReview(review).ok);
  });

  it('metadata, spec and the pod template path must be objects', () => {
    assert.match(reason((r) => (r.request.object.metadata = 'x')), /request\.object\.metadata must be an object, got "x"/);
    assert.match(reason((r) => delete r.request.object.metadata), /request\.object\.metadata is missing/);
    assert.match(reason((r) => (r.request.object.spec = [1])), /request\.object\.spec must be an object, got an array/);
    assert.match(reason((r) => (r.request.object.spec.template = 'x'.repeat(10_000))), /spec\.template must be an object, got "x{200}"…\(10000 characters\)$/);
    assert.match(reason((r) => (r.request.object.spec.template.metadata = true)), /spec\.template\.metadata must be an object, got true/);
    assert.match(reason((r) => (r.request.oldObject.spec.template.spec = null)), /request\.oldObject\.spec\.template\.spec must be an object, got null/);
  });

  it('labels and annotations are maps of strings; managedFields a list of entries with string fields', () => {
    assert.match(reason((r) => (r.request.object.metadata.labels = { app: 1 })), /metadata\.labels\["app"\] must be a string, got 1/);
    assert.match(reason((r) => (r.request.object.spec.template.metadata.annotations = 'a=b')), /template\.metadata\.annotations must be an object of strings/);
    assert.match(reason((r) => (r.request.object.metadata.managedFields = [{ manager: {} }])), /managedFields\[0\]\.manager must be a string, got a JSON object/);
    assert.match(reason((r) => (r.request.object.metadata.name = ['web'])), /metadata\.name must be a string/);
  });

  it('fieldsV1 is free-form: any JSON within the depth limit is accepted', () => {
    const review = structuredClone(base);
    review.request.object.metadata.managedFields[0].fieldsV1 = { 'f:x': [1, 'two', null, { 'k:{"a":1}': {} }] };
    assert.ok(parseReview(review).ok);
  });

  it('a review nested deeper than the limit is refused before anything else is looked at', () => {
    let deep: unknown = {};
    for (let i = 0; i < 10_000; i++) deep = { f: deep };
    const review = structuredClone(base);
    review.request.object.metadata.managedFields[0].fieldsV1 = deep;
    const parsed = parseReview(review);
    assert.equal(parsed.ok, false);
    assert.match((parsed as { error: string }).error, new RegExp(`deeper than ${MAX_REVIEW_DEPTH} levels`));
  });

  it('quotes the envelope bounded', () => {
    const error = reason((r) => (r.apiVersion = 'x'.repeat(6 * 1024 * 1024)));
    assert.ok(error.length < 400, error.slice(0, 100));
    assert.match(error, /…\(6291456 characters\)/);
  });
});
