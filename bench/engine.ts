/**
 * The gate's engine without HTTP: the same policies, tenancy and handlers `startGate` wires, called
 * directly in this process on one core. Also used to check, before any load, that each review gets the
 * answer the benchmark expects from it.
 */
import { requestContext } from '../src/admission/context.js';
import { parseChangeId, signedChangeId, stampHash, stampsOf, stampsVerify } from '../src/admission/stamps.js';
import type { KubeObject } from '../src/k8s/types.js';
import { evaluate } from '../src/policy/evaluate.js';
import type { MacKeyring } from '../src/provenance/mac.js';
import { decodeReview } from '../src/server/review-body.js';
import type { Engine } from './handlers.js';
import type { BenchReview, Webhook } from './reviews.js';

export { createEngine, writeBenchKeyDir } from './handlers.js';

/** Operations per second and microseconds per operation of one measured loop. */
export interface Rate {
  perSecond: number;
  microseconds: number;
  iterations: number;
}

/** Runs `fn` for `ms` milliseconds after a warm-up, in batches so the clock is read rarely. */
function measure(fn: () => unknown, ms: number): Rate {
  // A third of the run, at most 300 ms: enough for V8 to optimise the handlers before the clock starts.
  const warmUntil = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warmUntil) fn();
  let iterations = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    // Sixteen calls per clock read keep the timer's cost out of the small reviews' figures.
    for (let i = 0; i < 16; i++) fn();
    iterations += 16;
    now = performance.now();
  }
  const seconds = (now - start) / 1000;
  return { perSecond: iterations / seconds, microseconds: (seconds * 1e6) / iterations, iterations };
}

/**
 * The MAC work of one review: `stampsVerify` of a stamped object and `signedChangeId` over its stamps,
 * per call, and how often each handler calls the keyring for this review. The stamp check cannot be
 * switched off in the validate handler (it is part of the verdict), so its cost is estimated from these.
 */
export interface MacCost {
  /** `stampsVerify` of /validate's object (stamps the gate wrote, template hash given): one HMAC. */
  verify: Rate;
  /** `signedChangeId` over the same object's stamps: one HMAC. */
  sign: Rate;
  /** `stampHash`, the template hash the stamps bind (the change id carried it before the MAC too). */
  hash: Rate;
  /** Keyring `verify` and `sign` calls of one handler call on this review. */
  calls: Record<Webhook, { verify: number; sign: number }>;
}

/** One review's engine figures: policy evaluation alone, each handler, each handler with body decoding, the MAC. */
export interface EngineRow {
  review: string;
  bodyBytes: Record<Webhook, number>;
  evaluate: Rate;
  validate: Rate;
  mutate: Rate;
  decodeValidate: Rate;
  decodeMutate: Rate;
  /** Absent when the review's stamps do not verify (reported as a problem by {@link checkExpectations}). */
  mac?: MacCost;
}

/** `keyring` with its calls counted (for one handler call at a time, never in a measured loop). */
function countingKeyring(keyring: MacKeyring) {
  const calls = { verify: 0, sign: 0 };
  const counted: MacKeyring = {
    ids: keyring.ids,
    sign: (fields) => (calls.sign++, keyring.sign(fields)),
    verify: (fields, mac) => (calls.verify++, keyring.verify(fields, mac)),
  };
  return { counted, calls };
}

/** The review's MAC figures; undefined when /validate's object carries no stamps the key verifies (a broken review). */
function measureMac(engine: Engine, r: BenchReview, ms: number): MacCost | undefined {
  const { counted, calls } = countingKeyring(engine.keyring);
  const handlers = engine.withKeyring(counted);
  const perCall = {} as MacCost['calls'];
  for (const webhook of ['validate', 'mutate'] as const) {
    calls.verify = calls.sign = 0;
    handlers[webhook](decodeReview(r.bodies[webhook]));
    perCall[webhook] = { ...calls };
  }
  const obj = decodeReview(r.bodies.validate).object as KubeObject;
  const k = engine.keys;
  const hash = stampHash(obj);
  const stamps = stampsOf(obj, k);
  const parts = parseChangeId(stamps[k.changeId]);
  if (!parts || !stampsVerify(engine.keyring, k, obj, hash)) return undefined;
  const subject = { namespace: obj.metadata?.namespace ?? '', kind: String(obj.kind), name: obj.metadata?.name ?? '', uid: obj.metadata?.uid ?? '', stamps, id: parts.id, hash };
  return {
    verify: measure(() => stampsVerify(engine.keyring, k, obj, hash), ms),
    sign: measure(() => signedChangeId(engine.keyring, k, subject), ms),
    hash: measure(() => stampHash(obj), ms),
    calls: perCall,
  };
}

/**
 * Estimated MAC microseconds of one handler call: its keyring verifications at `stampsVerify`'s cost
 * (a fallback check of a CREATE's stamps is one more HMAC, so this is the upper side) and its signatures
 * at `signedChangeId`'s.
 */
export function macMicros(m: MacCost, webhook: Webhook): number {
  return m.calls[webhook].verify * m.verify.microseconds + m.calls[webhook].sign * m.sign.microseconds;
}

/** Measures every review; `ms` is the duration of each loop. */
export function measureEngine(engine: Engine, reviews: readonly BenchReview[], ms: number): EngineRow[] {
  return reviews.map((r) => {
    const request = decodeReview(r.bodies.validate);
    const toMutate = decodeReview(r.bodies.mutate);
    const ctx = requestContext(request, engine.tenantOf(request.namespace ?? ''));
    const mac = measureMac(engine, r, ms);
    return {
      review: r.name,
      bodyBytes: { validate: r.bodies.validate.length, mutate: r.bodies.mutate.length },
      evaluate: measure(() => evaluate(engine.policies, ctx, request.object, request.oldObject), ms),
      validate: measure(() => engine.validate(request), ms),
      mutate: measure(() => engine.mutate(toMutate), ms),
      // A fresh parse each time: what the gate pays per review apart from TLS and HTTP.
      decodeValidate: measure(() => engine.validate(decodeReview(r.bodies.validate)), ms),
      decodeMutate: measure(() => engine.mutate(decodeReview(r.bodies.mutate)), ms),
      ...(mac ? { mac } : {}),
    };
  });
}

/** Problems with the expected answers (empty when every review is answered as the benchmark assumes). */
export function checkExpectations(engine: Engine, reviews: readonly BenchReview[]): string[] {
  const problems: string[] = [];
  for (const r of reviews) {
    const obj = decodeReview(r.bodies.validate).object as KubeObject;
    if (!stampsVerify(engine.keyring, engine.keys, obj, stampHash(obj))) problems.push(`${r.name}: /validate's object carries no stamps the benchmark's key verifies`);
    for (const webhook of ['validate', 'mutate'] as const) {
      const { response } = engine[webhook](decodeReview(r.bodies[webhook]));
      if (response.allowed !== r.allowed[webhook]) {
        problems.push(`${r.name}/${webhook}: expected allowed=${r.allowed[webhook]}, got ${response.allowed}${response.status ? `: ${response.status.message}` : ''}`);
      }
    }
  }
  return problems;
}
