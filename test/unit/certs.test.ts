import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import forge from 'node-forge';
import { isTracegateError } from '../../src/errors.js';
import {
  CLOCK_SKEW_MS,
  DEFAULT_CA_VALID_DAYS,
  DEFAULT_SERVING_VALID_DAYS,
  assessCertSet,
  caBundleBase64,
  certPaths,
  defaultKeyPairGenerator,
  ensureDevCerts,
  inspectCert,
  issueCa,
  issueServingCert,
  randomSerialHex,
  readCertSet,
  serviceDnsNames,
  verifyServingPair,
  writeCertSet,
} from '../../src/certs/index.js';
import type { CertInfo, IssuedCa, IssuedServing } from '../../src/certs/index.js';
import type { Parsed } from '../../src/errors.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-03-01T12:00:00Z');
const SERVICE_NAMES = serviceDnsNames('tracegate', 'tracegate');

function ok<T>(result: Parsed<T>): T {
  if (!result.ok) assert.fail(`expected ok, got error: ${result.error}`);
  return result.value;
}

function errorOf<T>(result: Parsed<T>): string {
  if (result.ok) assert.fail('expected an error');
  return result.error;
}

function extension<T>(pem: string, name: string): T {
  const ext = forge.pki.certificateFromPem(pem).getExtension(name) as T | null;
  assert.ok(ext, `extension ${name} present`);
  return ext;
}

function issueSet(now = NOW): { ca: IssuedCa; serving: IssuedServing } {
  const ca = issueCa({ now });
  return { ca, serving: issueServingCert({ ca, dnsNames: SERVICE_NAMES, ipAddresses: ['127.0.0.1'], now }) };
}

describe('serviceDnsNames', () => {
  it('lists the four names the apiserver may use for a Service', () => {
    assert.deepEqual(serviceDnsNames('gate', 'ops'), ['gate', 'gate.ops', 'gate.ops.svc', 'gate.ops.svc.cluster.local']);
    assert.equal(serviceDnsNames('gate', 'ops', 'corp.example').at(-1), 'gate.ops.svc.corp.example');
  });
});

describe('randomSerialHex', () => {
  it('clears the high bit so the serial is positive', () => {
    assert.equal(randomSerialHex((n) => new Uint8Array(n).fill(0xff)), '7f' + 'ff'.repeat(15));
  });

  it('is never zero, even from all-zero randomness', () => {
    const serial = randomSerialHex((n) => new Uint8Array(n));
    assert.equal(serial, '01' + '00'.repeat(15));
    assert.notEqual(BigInt(`0x${serial}`), 0n);
  });

  it('draws 16 random bytes each time', () => {
    const serials = Array.from({ length: 50 }, () => randomSerialHex());
    assert.equal(new Set(serials).size, serials.length);
    for (const s of serials) assert.match(s, /^[0-7][0-9a-f]{31}$/);
  });
});

describe('issueCa', () => {
  let ca: IssuedCa;
  before(() => {
    ca = issueCa({ now: NOW });
  });

  it('is a 5-year CA backdated for clock skew', () => {
    const info = ok(inspectCert(ca.certPem));
    assert.equal(info.isCa, true);
    assert.equal(info.subject, 'CN=tracegate-ca');
    assert.equal(DEFAULT_CA_VALID_DAYS, 1825);
    assert.equal(info.notAfter.getTime(), NOW.getTime() + 1825 * DAY_MS);
    assert.deepEqual(ca.notAfter, info.notAfter);
    assert.equal(info.notBefore.getTime(), NOW.getTime() - CLOCK_SKEW_MS);
    assert.equal(CLOCK_SKEW_MS, 5 * 60 * 1000);
  });

  it('reports the serial that is in the certificate', () => {
    assert.equal(ok(inspectCert(ca.certPem)).serialHex, ca.serialHex);
    assert.match(ca.serialHex, /^[0-7][0-9a-f]{31}$/);
  });

  it('has critical CA constraints, cert-signing key usage, a key identifier, SHA-256 and RSA 2048', () => {
    assert.deepEqual(
      (({ cA, critical }) => ({ cA, critical }))(extension<{ cA: boolean; critical: boolean }>(ca.certPem, 'basicConstraints')),
      { cA: true, critical: true },
    );
    const usage = extension<Record<string, boolean>>(ca.certPem, 'keyUsage');
    assert.equal(usage.critical, true);
    assert.equal(usage.keyCertSign, true);
    assert.equal(usage.cRLSign, true);
    assert.equal(usage.digitalSignature, false);
    extension(ca.certPem, 'subjectKeyIdentifier');
    const cert = forge.pki.certificateFromPem(ca.certPem);
    assert.equal(cert.siginfo.algorithmOid, forge.pki.oids.sha256WithRSAEncryption);
    assert.equal((cert.publicKey as forge.pki.rsa.PublicKey).n.bitLength(), 2048);
  });

  it('honours commonName, validDays and an injected key generator', () => {
    const keys = defaultKeyPairGenerator();
    const custom = issueCa({ commonName: 'dev-ca', validDays: 10, now: NOW, generateKeyPair: () => keys });
    const info = ok(inspectCert(custom.certPem));
    assert.equal(info.subject, 'CN=dev-ca');
    assert.equal(info.notAfter.getTime(), NOW.getTime() + 10 * DAY_MS);
    assert.equal(custom.keyPem, forge.pki.privateKeyToPem(keys.privateKey));
  });

  it('rejects a lifetime that is not a whole positive number of days', () => {
    for (const validDays of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => issueCa({ validDays, now: NOW }), (err) => isTracegateError(err, 'CERT_INVALID'));
    }
  });
});

describe('issueServingCert', () => {
  let ca: IssuedCa;
  let serving: IssuedServing;
  before(() => {
    ({ ca, serving } = issueSet());
  });

  it('covers all four service names and the IP, with CN = the first name', () => {
    const info = ok(inspectCert(serving.certPem));
    assert.deepEqual(info.dnsNames, SERVICE_NAMES);
    assert.deepEqual(serving.dnsNames, SERVICE_NAMES);
    assert.deepEqual(info.ipAddresses, ['127.0.0.1']);
    assert.equal(info.subject, 'CN=tracegate');
    assert.equal(info.isCa, false);
  });

  it('lives one year from now, backdated for clock skew', () => {
    const info = ok(inspectCert(serving.certPem));
    assert.equal(DEFAULT_SERVING_VALID_DAYS, 365);
    assert.equal(info.notAfter.getTime(), NOW.getTime() + 365 * DAY_MS);
    assert.deepEqual(serving.notAfter, info.notAfter);
    assert.equal(info.notBefore.getTime(), NOW.getTime() - CLOCK_SKEW_MS);
  });

  it('is a non-CA server-auth leaf whose authority key id is the CA subject key id', () => {
    assert.equal(extension<{ cA: boolean }>(serving.certPem, 'basicConstraints').cA, false);
    const usage = extension<Record<string, boolean>>(serving.certPem, 'keyUsage');
    assert.equal(usage.digitalSignature, true);
    assert.equal(usage.keyEncipherment, true);
    assert.equal(usage.keyCertSign, false);
    assert.equal(extension<{ serverAuth: boolean }>(serving.certPem, 'extKeyUsage').serverAuth, true);
    const caKeyId = extension<{ subjectKeyIdentifier: string }>(ca.certPem, 'subjectKeyIdentifier').subjectKeyIdentifier;
    const aki = forge.pki.certificateFromPem(serving.certPem).extensions.find((e: { name?: string }) => e.name === 'authorityKeyIdentifier') as
      | { value: string }
      | undefined;
    assert.ok(aki, 'authorityKeyIdentifier present');
    assert.ok(forge.util.bytesToHex(aki.value).endsWith(caKeyId), 'AKI carries the CA key id');
    assert.equal(forge.pki.certificateFromPem(serving.certPem).siginfo.algorithmOid, forge.pki.oids.sha256WithRSAEncryption);
  });

  it('is verified by the CA and carries a serial different from the CA', () => {
    ok(verifyServingPair({ caPem: ca.certPem, certPem: serving.certPem, keyPem: serving.keyPem, now: NOW }));
    assert.notEqual(serving.serialHex, ca.serialHex);
    assert.equal(ok(inspectCert(serving.certPem)).serialHex, serving.serialHex);
  });

  it('never outlives its CA', () => {
    const shortCa = issueCa({ validDays: 30, now: NOW });
    const leaf = issueServingCert({ ca: shortCa, dnsNames: ['a.example'], now: NOW });
    assert.deepEqual(leaf.notAfter, shortCa.notAfter);
    assert.deepEqual(ok(inspectCert(leaf.certPem)).notAfter, shortCa.notAfter);
  });

  it('keeps IPv6 addresses in canonical form', () => {
    const leaf = issueServingCert({ ca, dnsNames: ['localhost'], ipAddresses: ['::1', 'FE80:0:0:0:0:0:0:1'], now: NOW });
    assert.deepEqual(ok(inspectCert(leaf.certPem)).ipAddresses, ['::1', 'fe80::1']);
  });

  it('refuses unusable input with CERT_INVALID', () => {
    const cases: Array<[string, () => unknown]> = [
      ['no names', () => issueServingCert({ ca, dnsNames: [], now: NOW })],
      ['bad name', () => issueServingCert({ ca, dnsNames: ['bad_name.example'], now: NOW })],
      ['bad ip', () => issueServingCert({ ca, dnsNames: ['a'], ipAddresses: ['300.1.1.1'], now: NOW })],
      ['key mismatch', () => issueServingCert({ ca: { certPem: ca.certPem, keyPem: serving.keyPem }, dnsNames: ['a'], now: NOW })],
      ['leaf as CA', () => issueServingCert({ ca: serving, dnsNames: ['a'], now: NOW })],
      ['expired CA', () => issueServingCert({ ca, dnsNames: ['a'], now: new Date(ca.notAfter.getTime() + DAY_MS) })],
      ['garbage CA', () => issueServingCert({ ca: { certPem: 'nope', keyPem: 'nope' }, dnsNames: ['a'], now: NOW })],
    ];
    for (const [name, run] of cases) {
      assert.throws(run, (err) => isTracegateError(err, 'CERT_INVALID'), name);
    }
  });

  it('accepts a wildcard name', () => {
    const leaf = issueServingCert({ ca, dnsNames: ['*.tracegate.svc'], now: NOW });
    assert.deepEqual(ok(inspectCert(leaf.certPem)).dnsNames, ['*.tracegate.svc']);
  });
});

describe('TLS handshake with a real node:https server', () => {
  let ca: IssuedCa;
  let port: number;
  const server = createServer({ minVersion: 'TLSv1.2' }, (_req, res) => res.end('tracegate ok'));

  before(async () => {
    const set = issueSet(new Date());
    ca = set.ca;
    server.setSecureContext({ cert: set.serving.certPem, key: set.serving.keyPem });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function get(opts: { ca: string; servername?: string }): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent: false, ...opts }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('succeeds when the client trusts only our CA and asks for the service name', async () => {
    assert.equal(await get({ ca: ca.certPem, servername: 'tracegate.tracegate.svc' }), 'tracegate ok');
  });

  it('succeeds by IP for local development', async () => {
    assert.equal(await get({ ca: ca.certPem }), 'tracegate ok');
  });

  it('is rejected by a client that trusts a different CA', async () => {
    const other = issueCa({});
    await assert.rejects(get({ ca: other.certPem, servername: 'tracegate.tracegate.svc' }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('is rejected for a name the certificate does not cover', async () => {
    await assert.rejects(get({ ca: ca.certPem, servername: 'other.tracegate.svc' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });
});

describe('inspectCert', () => {
  it('describes a certificate', () => {
    const { serving } = issueSet();
    const info: CertInfo = ok(inspectCert(serving.certPem));
    assert.match(info.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(info.fingerprintSha256, new X509Certificate(serving.certPem).fingerprint256);
  });

  it('returns an error instead of throwing on garbage', () => {
    assert.match(errorOf(inspectCert('')), /no PEM certificate/);
    assert.match(errorOf(inspectCert('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')), /not a readable certificate/);
  });
});

describe('verifyServingPair', () => {
  let first: { ca: IssuedCa; serving: IssuedServing };
  let second: { ca: IssuedCa; serving: IssuedServing };
  before(() => {
    first = issueSet();
    second = issueSet();
  });

  it('accepts a matching, current pair and describes the serving cert', () => {
    const info = ok(verifyServingPair({ caPem: first.ca.certPem, certPem: first.serving.certPem, keyPem: first.serving.keyPem, now: NOW }));
    assert.deepEqual(info.dnsNames, SERVICE_NAMES);
  });

  it('catches a key that does not belong to the certificate', () => {
    const error = errorOf(verifyServingPair({ caPem: first.ca.certPem, certPem: first.serving.certPem, keyPem: second.serving.keyPem, now: NOW }));
    assert.match(error, /private key does not match the certificate/);
    assert.doesNotMatch(error, /not signed/);
  });

  it('catches a certificate from another CA', () => {
    const error = errorOf(verifyServingPair({ caPem: second.ca.certPem, certPem: first.serving.certPem, keyPem: first.serving.keyPem, now: NOW }));
    assert.match(error, /not signed by the CA \(CN=tracegate-ca\)/);
  });

  it('catches an expired and a not-yet-valid certificate', () => {
    const pair = { caPem: first.ca.certPem, certPem: first.serving.certPem, keyPem: first.serving.keyPem };
    const expired = errorOf(verifyServingPair({ ...pair, now: new Date(first.serving.notAfter.getTime() + 1000) }));
    assert.equal(expired, `serving certificate expired on ${first.serving.notAfter.toISOString()}`);
    assert.match(errorOf(verifyServingPair({ ...pair, now: new Date(NOW.getTime() - DAY_MS) })), /serving certificate is not valid before/);
  });

  it('lists every problem at once', () => {
    const error = errorOf(
      verifyServingPair({ caPem: second.ca.certPem, certPem: first.serving.certPem, keyPem: second.serving.keyPem, now: new Date(NOW.getTime() + 400 * DAY_MS) }),
    );
    assert.equal(error.split('; ').length, 3, error);
  });

  it('accepts a bundle holding the old and the new CA, as during CA rotation', () => {
    ok(verifyServingPair({ caPem: second.ca.certPem + first.ca.certPem, certPem: first.serving.certPem, keyPem: first.serving.keyPem, now: NOW }));
  });

  it('returns errors instead of throwing on garbage', () => {
    const base = { caPem: first.ca.certPem, certPem: first.serving.certPem, keyPem: first.serving.keyPem, now: NOW };
    assert.match(errorOf(verifyServingPair({ ...base, keyPem: 'not a key' })), /private key cannot be read/);
    assert.match(errorOf(verifyServingPair({ ...base, caPem: '' })), /^CA bundle: no PEM certificate/);
    assert.match(errorOf(verifyServingPair({ ...base, certPem: 'x' })), /^serving certificate: /);
  });
});

describe('caBundleBase64', () => {
  it('base64-encodes the PEM text, as webhooks[].clientConfig.caBundle expects', () => {
    const { ca } = issueSet();
    const bundle = caBundleBase64(ca.certPem);
    assert.match(bundle, /^[A-Za-z0-9+/]+=*$/);
    assert.equal(Buffer.from(bundle, 'base64').toString('utf8'), ca.certPem);
    assert.ok(Buffer.from(bundle, 'base64').toString('utf8').startsWith('-----BEGIN CERTIFICATE-----'));
  });
});

describe('assessCertSet', () => {
  it('starts over without a usable CA', () => {
    const { ca, serving } = issueSet();
    const base = { dnsNames: SERVICE_NAMES, now: NOW, renewBeforeDays: 30 };
    assert.equal(assessCertSet({ ...base, pems: {} }).action, 'renew-all');
    assert.equal(assessCertSet({ ...base, pems: { caCertPem: ca.certPem, caKeyPem: serving.keyPem } }).action, 'renew-all');
    assert.equal(assessCertSet({ ...base, pems: { caCertPem: serving.certPem, caKeyPem: serving.keyPem } }).action, 'renew-all');
  });

  it('keeps a usable CA and only renews the serving cert', () => {
    const { ca } = issueSet();
    const verdict = assessCertSet({ pems: { caCertPem: ca.certPem, caKeyPem: ca.keyPem }, dnsNames: SERVICE_NAMES, now: NOW, renewBeforeDays: 30 });
    assert.equal(verdict.action, 'renew-serving');
    assert.equal(verdict.action === 'renew-serving' && verdict.ca.certPem, ca.certPem);
  });
});

describe('certificate files', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tracegate-certs-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

  it('names files as a kubernetes.io/tls Secret does', () => {
    assert.deepEqual(certPaths('/etc/tracegate/tls'), {
      dir: '/etc/tracegate/tls',
      caCert: '/etc/tracegate/tls/ca.crt',
      caKey: '/etc/tracegate/tls/ca.key',
      tlsCert: '/etc/tracegate/tls/tls.crt',
      tlsKey: '/etc/tracegate/tls/tls.key',
    });
  });

  it('writes keys 0600 and certs 0644 into a new directory, leaving no temp files', async () => {
    const set = issueSet();
    const dir = join(root, 'nested', 'write');
    const paths = await writeCertSet(dir, set);
    assert.equal(await mode(paths.caKey), 0o600);
    assert.equal(await mode(paths.tlsKey), 0o600);
    assert.equal(await mode(paths.caCert), 0o644);
    assert.equal(await mode(paths.tlsCert), 0o644);
    assert.deepEqual((await readdir(dir)).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    assert.deepEqual(await readCertSet(paths), { caPem: set.ca.certPem, certPem: set.serving.certPem, keyPem: set.serving.keyPem });
  });

  it('replaces a world-readable key file with a 0600 one', async () => {
    const dir = join(root, 'replace');
    const paths = await writeCertSet(dir, issueSet());
    await writeFile(paths.tlsKey, 'old', { mode: 0o644 });
    const set = issueSet();
    await writeCertSet(dir, set);
    assert.equal(await mode(paths.tlsKey), 0o600);
    assert.equal(await readFile(paths.tlsKey, 'utf8'), set.serving.keyPem);
  });

  it('fails to read a missing set with CERT_INVALID naming the file', async () => {
    const paths = certPaths(join(root, 'absent'));
    await assert.rejects(readCertSet(paths), (err) => isTracegateError(err, 'CERT_INVALID') && err.message.includes(paths.caCert));
  });

  it('fails to write with CERT_WRITE', async () => {
    const blocker = join(root, 'blocker');
    await writeFile(blocker, 'a file, not a directory');
    await assert.rejects(writeCertSet(join(blocker, 'sub'), issueSet()), (err) => isTracegateError(err, 'CERT_WRITE'));
  });

  describe('ensureDevCerts', () => {
    const dnsNames = SERVICE_NAMES;
    const ipAddresses = ['127.0.0.1'];
    const snapshot = async (dir: string): Promise<Record<string, string>> => {
      const out: Record<string, string> = {};
      for (const name of ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']) out[name] = await readFile(join(dir, name), 'utf8');
      return out;
    };

    it('creates a set once and reuses it on the next start', async () => {
      const dir = join(root, 'dev-reuse');
      const first = await ensureDevCerts({ dir, dnsNames, ipAddresses, now: NOW });
      assert.equal(first.created, true);
      assert.equal(first.caChanged, true);
      assert.equal(await mode(first.paths.caKey), 0o600);
      assert.equal(await mode(first.paths.tlsKey), 0o600);
      const files = await snapshot(dir);
      const set = await readCertSet(first.paths);
      ok(verifyServingPair({ ...set, now: NOW }));

      const second = await ensureDevCerts({ dir, dnsNames, ipAddresses, now: new Date(NOW.getTime() + DAY_MS) });
      assert.equal(second.created, false, second.reason);
      assert.equal(second.caChanged, false);
      assert.deepEqual(await snapshot(dir), files);
    });

    it('renews only the serving cert when it expires within renewBeforeDays, keeping the CA', async () => {
      const dir = join(root, 'dev-serving');
      await ensureDevCerts({ dir, dnsNames, ipAddresses, now: NOW });
      const before = await snapshot(dir);
      const later = new Date(NOW.getTime() + (365 - 29) * DAY_MS);
      const result = await ensureDevCerts({ dir, dnsNames, ipAddresses, now: later });
      assert.equal(result.created, true);
      assert.equal(result.caChanged, false);
      assert.match(result.reason, /expires soon/);
      const after = await snapshot(dir);
      assert.equal(after['ca.crt'], before['ca.crt']);
      assert.equal(after['ca.key'], before['ca.key']);
      assert.notEqual(after['tls.crt'], before['tls.crt']);
      ok(verifyServingPair({ ...(await readCertSet(result.paths)), now: later }));
      assert.equal((await ensureDevCerts({ dir, dnsNames, ipAddresses, now: later })).created, false);
    });

    it('honours a custom renewBeforeDays', async () => {
      const dir = join(root, 'dev-window');
      await ensureDevCerts({ dir, dnsNames, now: NOW });
      const later = new Date(NOW.getTime() + (365 - 60) * DAY_MS);
      assert.equal((await ensureDevCerts({ dir, dnsNames, now: later })).created, false);
      assert.equal((await ensureDevCerts({ dir, dnsNames, now: later, renewBeforeDays: 90 })).created, true);
    });

    it('issues a new CA when the CA expires within renewBeforeDays or has expired', async () => {
      const dir = join(root, 'dev-ca');
      await ensureDevCerts({ dir, dnsNames, now: NOW });
      const before = await snapshot(dir);
      const result = await ensureDevCerts({ dir, dnsNames, now: new Date(NOW.getTime() + (1825 - 10) * DAY_MS) });
      assert.equal(result.caChanged, true);
      assert.match(result.reason, /CA certificate expires soon/);
      assert.notEqual((await snapshot(dir))['ca.crt'], before['ca.crt']);
      const expired = await ensureDevCerts({ dir, dnsNames, now: new Date(NOW.getTime() + 4000 * DAY_MS) });
      assert.equal(expired.caChanged, true);
      assert.match(expired.reason, /CA certificate expired/);
    });

    it('renews the serving cert when asked for a name it lacks', async () => {
      const dir = join(root, 'dev-names');
      await ensureDevCerts({ dir, dnsNames, now: NOW });
      const result = await ensureDevCerts({ dir, dnsNames: [...dnsNames, 'localhost'], ipAddresses: ['::1'], now: NOW });
      assert.equal(result.created, true);
      assert.equal(result.caChanged, false);
      assert.match(result.reason, /does not cover localhost, ::1/);
      const info = ok(inspectCert((await readCertSet(result.paths)).certPem));
      assert.deepEqual(info.dnsNames, [...dnsNames, 'localhost']);
      assert.deepEqual(info.ipAddresses, ['::1']);
    });

    it('recovers from damaged files', async () => {
      const dir = join(root, 'dev-damaged');
      const { paths } = await ensureDevCerts({ dir, dnsNames, now: NOW });
      await writeFile(paths.tlsCert, 'garbage');
      assert.equal((await ensureDevCerts({ dir, dnsNames, now: NOW })).caChanged, false);
      await writeFile(paths.caCert, 'garbage');
      assert.equal((await ensureDevCerts({ dir, dnsNames, now: NOW })).caChanged, true);
      await writeFile(paths.tlsKey, (await readFile(paths.caKey, 'utf8')));
      const mismatched = await ensureDevCerts({ dir, dnsNames, now: NOW });
      assert.match(mismatched.reason, /private key does not match/);
      ok(verifyServingPair({ ...(await readCertSet(paths)), now: NOW }));
    });

    it('rejects a renewal window that would renew on every start', async () => {
      const dir = join(root, 'dev-bad-window');
      for (const renewBeforeDays of [-1, 365, 1000, Number.NaN]) {
        await assert.rejects(ensureDevCerts({ dir, dnsNames, now: NOW, renewBeforeDays }), (err) => isTracegateError(err, 'CONFIG_INVALID'));
      }
    });
  });
});
