/**
 * Regression (security review, finding 2): release Secrets any tenant can write in their own namespace
 * may be gzip bombs. A reader (the web view, `tracegate report`) decodes at most 8 MiB per record and
 * 32 MiB per history() call, lists page by page, and says so with a typed error; the recorder (no
 * limits given) reads as it always has.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { V1Secret } from '@kubernetes/client-node';
import { decodeRelease, MAX_RELEASE_JSON_BYTES, READER_MAX_RELEASE_JSON_BYTES } from '../../src/recorder/codec.js';
import { createSecretDriver, READER_LIMITS, type SecretCore } from '../../src/recorder/secret-driver.js';
import { ReleaseReadLimitError, type SkippedRecord } from '../../src/recorder/storage.js';

const MiB = 1024 * 1024;

/** A release record whose manifest is `manifestBytes` of one letter: tiny compressed, huge inflated. */
function record(version: number, manifestBytes: number): V1Secret {
  const rel = { name: 'web', namespace: 'team-a', version, info: { status: 'superseded' }, chart: { metadata: { name: 'x', version: '1' } }, manifest: 'a'.repeat(manifestBytes) };
  const inner = gzipSync(JSON.stringify(rel), { level: 9 }).toString('base64');
  return { metadata: { name: `sh.helm.release.v1.web.v${version}`, labels: { name: 'web', owner: 'helm', version: String(version) } }, data: { release: Buffer.from(inner).toString('base64') } };
}

/** A core whose list honours limit/continue (kube-apiserver's paging) and counts the calls. */
function fakeCore(items: V1Secret[]) {
  const lists: { limit: number | undefined; cont: string | undefined; selector: string | undefined }[] = [];
  const core = {
    async listNamespacedSecret({ limit, _continue, labelSelector }: { limit?: number; _continue?: string; labelSelector?: string }) {
      lists.push({ limit, cont: _continue, selector: labelSelector });
      // Equality terms, as the driver writes them (k8s.io/apimachinery labels.Parse).
      const matching = items.filter((s) => (labelSelector ?? '').split(',').every((t) => !t || s.metadata?.labels?.[t.split('=')[0]!] === t.split('=')[1]));
      const start = _continue ? Number(_continue) : 0;
      const end = limit ? start + limit : matching.length;
      return { items: matching.slice(start, end), metadata: end < matching.length ? { _continue: String(end) } : {} };
    },
    async readNamespacedSecret() {
      throw new Error('a reader lists; the view is granted list secrets only');
    },
  } as unknown as SecretCore;
  return { core, lists };
}

describe('reading release records with the readers\' limits', () => {
  it('caps one record at 8 MiB inflated (the recorder keeps its 64 MiB)', () => {
    const s = Buffer.from(record(1, 9 * MiB).data!.release!, 'base64').toString('latin1');
    const reader = decodeRelease(s, { maxJsonBytes: READER_MAX_RELEASE_JSON_BYTES });
    assert.equal(reader.ok, false);
    assert.equal(!reader.ok && reader.tooLarge, true);
    const recorder = decodeRelease(s);
    assert.ok(recorder.ok);
    assert.ok(recorder.jsonBytes > 9 * MiB && MAX_RELEASE_JSON_BYTES === 64 * MiB);
  });

  it('skips bombs over the record cap and lists page by page', async () => {
    const items = [record(1, 1000), ...[2, 3, 4, 5].map((v) => record(v, 60 * MiB)), record(6, 1000)];
    const { core, lists } = fakeCore(items);
    const skipped: SkippedRecord[] = [];
    const history = await createSecretDriver({ core, limits: READER_LIMITS, onSkip: (s) => skipped.push(s) }).history('team-a', 'web');
    assert.deepEqual(history.map((h) => h.release.version), [1, 6]);
    assert.deepEqual(skipped.map((s) => s.key), [2, 3, 4, 5].map((v) => `sh.helm.release.v1.web.v${v}`));
    assert.equal(lists.length, 1, 'six Secrets fit one page of 10');
    assert.equal(lists[0]!.limit, READER_LIMITS.pageSize);
    const paged = fakeCore(Array.from({ length: 25 }, (_, i) => record(i + 1, 100)));
    assert.equal((await createSecretDriver({ core: paged.core, limits: READER_LIMITS }).history('team-a', 'web')).length, 25);
    assert.deepEqual(paged.lists.map((l) => l.cont), [undefined, '10', '20']);
  });

  it('refuses a history past the 32 MiB budget with a typed error, never a partial one', async () => {
    // Five records of 7 MiB each: every one under the record cap, 35 MiB together.
    const { core } = fakeCore([1, 2, 3, 4, 5].map((v) => record(v, 7 * MiB)));
    await assert.rejects(createSecretDriver({ core, limits: READER_LIMITS }).history('team-a', 'web'), (err: unknown) => {
      assert.ok(err instanceof ReleaseReadLimitError);
      assert.equal(err.code, 'RELEASE_TOO_LARGE');
      assert.match(err.message, /team-a\/web inflate to more than 33554432 bytes/);
      return true;
    });
    // The recorder, without limits, reads the same history.
    assert.equal((await createSecretDriver({ core }).history('team-a', 'web')).length, 5);
  });

  it('reads one revision by its labels (list only), refusing one over the record cap with the typed error', async () => {
    const { core, lists } = fakeCore([record(1, 1000), record(2, 60 * MiB)]);
    const driver = createSecretDriver({ core, limits: READER_LIMITS });
    assert.equal((await driver.get('team-a', 'web', 1))?.release.version, 1);
    assert.equal(lists[0]!.selector, 'name=web,owner=helm,version=1');
    assert.equal(await driver.get('team-a', 'web', 3), undefined);
    await assert.rejects(driver.get('team-a', 'web', 2), ReleaseReadLimitError);
  });
});
