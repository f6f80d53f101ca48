/** The `tenant` label of the gate's decision counters stays bounded whatever tenants namespaces claim. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics, createTenantLabeller } from '../../src/metrics.js';

describe('createTenantLabeller', () => {
  it('names each of the first `max` tenants, counts the rest as other, and a missing tenant as none', () => {
    const label = createTenantLabeller(2);
    assert.deepEqual(['team-a', 'team-b', 'team-c', 'team-a', '', undefined, 'team-b'].map(label), ['team-a', 'team-b', 'other', 'team-a', 'none', 'none', 'team-b']);
  });

  it('keeps the series of 10,000 invented tenants to the cap', async () => {
    const m = createMetrics({ defaults: false });
    for (let i = 0; i < 10_000; i++) m.decisions.inc({ webhook: 'validate', decision: 'deny', tenant: m.tenantLabel(`t-${i}`) });
    const text = await m.registry.metrics();
    const series = text.split('\n').filter((l) => l.startsWith('tracegate_admission_decisions_total{'));
    assert.equal(series.length, 201);
    assert.ok(series.includes('tracegate_admission_decisions_total{webhook="validate",decision="deny",tenant="other"} 9800'));
  });
});
