/**
 * Verification is CPU (a signature check per review, and every re-apply of the same manifest repeats
 * it), so verifiers keep what they verified: a bounded LRU keyed by sha256 of the token and the
 * expected binding. Only successes are kept, and a hit re-checks the clock (an approval cached at
 * 09:59 is still refused at 10:01). A failure is verified again next time: its reason can depend on the clock.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../policy/digest.js';
import type { CiIssuers } from './ci-issuers.js';
import type { TrustedKeys } from './keys.js';
import type { ApprovalExpectation, ApprovalStatement, VerifyResult } from './statement.js';
import { approvalTimeReason, verifyApprovalStatic } from './verify-approval.js';
import { ciTokenTimeReason, verifyCiTokenStatic, type CiExpectation, type CiStatement } from './verify-ci-token.js';

/** Entries kept by default: a statement is well under 1 KB, so 10,000 stay within a few MB. */
export const DEFAULT_CACHE_ENTRIES = 10_000;

/** A bounded least-recently-used map. */
export interface LruCache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  readonly size: number;
}

/** An LRU on a Map (which iterates in insertion order: the first key is the least recently used). */
export function createLruCache<V>(capacity: number): LruCache<V> {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('cache capacity must be a positive integer');
  const map = new Map<string, V>();
  return {
    get(key) {
      const v = map.get(key);
      if (v !== undefined) {
        map.delete(key);
        map.set(key, v);
      }
      return v;
    },
    set(key, value) {
      map.delete(key);
      map.set(key, value);
      if (map.size > capacity) map.delete(map.keys().next().value!);
    },
    get size() {
      return map.size;
    },
  };
}

function cacheKey(token: string, expected: unknown): string {
  return createHash('sha256').update(token).update('\0').update(canonicalJson(expected)).digest('hex');
}

/** Cache counters, for the bench and metrics. */
export interface CacheStats {
  hits: number;
  misses: number;
  readonly size: number;
}

/** Verifies approvals with one trust, remembering verified ones. */
export interface ApprovalVerifier {
  verify(jws: string, expected: ApprovalExpectation, now: number): Promise<VerifyResult<ApprovalStatement>>;
  readonly stats: CacheStats;
}

/** Verifies CI tokens with one set of issuers, remembering verified ones. */
export interface CiTokenVerifier {
  verify(jwt: string, expected: CiExpectation, now: number): Promise<VerifyResult<CiStatement>>;
  readonly stats: CacheStats;
}

function cached<E, S>(
  verifyStatic: (token: string, expected: E) => Promise<VerifyResult<S>>,
  timeReason: (s: S, now: number) => string | undefined,
  capacity: number,
) {
  const cache = createLruCache<S>(capacity);
  const stats = { hits: 0, misses: 0, get size() { return cache.size; } };
  return {
    stats,
    async verify(token: string, expected: E, now: number): Promise<VerifyResult<S>> {
      const key = cacheKey(token, expected);
      let statement = cache.get(key);
      if (statement !== undefined) stats.hits++;
      else {
        stats.misses++;
        const result = await verifyStatic(token, expected);
        if (!result.ok) return result;
        statement = result.statement;
        cache.set(key, statement);
      }
      const late = timeReason(statement, now);
      return late === undefined ? { ok: true, statement } : { ok: false, reason: late };
    },
  };
}

/** An approval verifier over `keys` with an LRU of `capacity` verified statements. */
export function createApprovalVerifier(deps: { keys: TrustedKeys; capacity?: number }): ApprovalVerifier {
  return cached<ApprovalExpectation, ApprovalStatement>((t, e) => verifyApprovalStatic(t, e, deps.keys), approvalTimeReason, deps.capacity ?? DEFAULT_CACHE_ENTRIES);
}

/** A CI token verifier over `issuers` with an LRU of `capacity` verified statements. */
export function createCiTokenVerifier(deps: { issuers: CiIssuers; capacity?: number }): CiTokenVerifier {
  return cached<CiExpectation, CiStatement>((t, e) => verifyCiTokenStatic(t, e, deps.issuers), ciTokenTimeReason, deps.capacity ?? DEFAULT_CACHE_ENTRIES);
}
