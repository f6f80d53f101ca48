/** `tracegate record`'s configuration is validated once, like the gate's: a bad value is one clear line. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTracegateError } from '../../src/errors.js';
import { buildRecordConfig } from '../../src/recorder/config.js';

const base = { env: {}, hostname: 'host-1' };

describe('buildRecordConfig', () => {
  it('fills defaults, the pod identity and namespace from the environment, and freezes the result', () => {
    const c = buildRecordConfig({ ...base, flags: {}, env: { POD_NAME: 'rec-0', POD_NAMESPACE: 'ops' } });
    assert.deepEqual({ ...c }, { namespaces: [], historyMax: 10, leaseNamespace: 'ops', leaseName: 'tracegate-recorder', identity: 'rec-0', metricsPort: 8080, annotationPrefix: 'tracegate.io/', restoreRollbacks: true, logLevel: 'info', auditIntervalSeconds: 3600, policies: [], policySource: 'files', tenantLabel: 'tracegate.io/tenant' });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.namespaces));
    assert.equal(buildRecordConfig({ ...base, flags: {} }).identity, 'host-1');
  });

  it('takes flags over the environment', () => {
    const c = buildRecordConfig({ ...base, flags: { logLevel: 'debug', historyMax: '0', namespaces: ['team-a'], provenanceKeyDir: '/keys' }, env: { TRACEGATE_LOG_LEVEL: 'warn', TRACEGATE_PROVENANCE_KEYS: '/other' } });
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.historyMax, 0);
    assert.deepEqual(c.namespaces, ['team-a']);
    assert.equal(c.provenanceKeyDir, '/keys');
  });

  it('refuses bad values in one CONFIG_INVALID error that names each', () => {
    const attempt = () => buildRecordConfig({ ...base, flags: { logLevel: 'bogus', historyMax: '-1', metricsPort: '99999', namespaces: ['Team A'], annotationPrefix: 'nope', policySource: 'etcd' } });
    assert.throws(attempt, (e: unknown) => {
      assert.ok(isTracegateError(e, 'CONFIG_INVALID'));
      for (const field of ['logLevel', 'historyMax', 'metricsPort', 'namespaces.0', 'annotationPrefix', 'policySource']) assert.match(e.message, new RegExp(field.replace('.', '\\.')), field);
      assert.doesNotMatch(e.message, /\n/, 'one line');
      return true;
    });
  });
});
