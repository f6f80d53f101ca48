/**
 * The gate's engine without HTTP: the same policies, tenancy and handlers `startGate` wires, called
 * directly in this process on one core. Also used to check, before any load, that each review gets the
 * answer the benchmark expects from it.
 */
import { requestContext } from '../src/admission/context.js';
import { evaluate } from '../src/policy/evaluate.js';
import { decodeReview } from '../src/server/review-body.js';
import type { Engine } from './handlers.js';
import type { BenchReview } from './reviews.js';

export { createEngine } from './handlers.js';

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

/** One review's engine figures: policy evaluation alone, each handler, and each handler with body decoding. */
export interface EngineRow {
  review: string;
  bodyBytes: number;
  evaluate: Rate;
  validate: Rate;
  mutate: Rate;
  decodeValidate: Rate;
  decodeMutate: Rate;
}

/** Measures every review; `ms` is the duration of each loop. */
export function measureEngine(engine: Engine, reviews: readonly BenchReview[], ms: number): EngineRow[] {
  return reviews.map((r) => {
    const request = decodeReview(r.body);
    const ctx = requestContext(request, engine.tenantOf(request.namespace ?? ''));
    return {
      review: r.name,
      bodyBytes: r.body.length,
      evaluate: measure(() => evaluate(engine.policies, ctx, request.object, request.oldObject), ms),
      validate: measure(() => engine.validate(request), ms),
      mutate: measure(() => engine.mutate(request), ms),
      // A fresh parse each time: what the gate pays per review apart from TLS and HTTP.
      decodeValidate: measure(() => engine.validate(decodeReview(r.body)), ms),
      decodeMutate: measure(() => engine.mutate(decodeReview(r.body)), ms),
    };
  });
}

/** Problems with the expected answers (empty when every review is answered as the benchmark assumes). */
export function checkExpectations(engine: Engine, reviews: readonly BenchReview[]): string[] {
  const problems: string[] = [];
  for (const r of reviews) {
    for (const webhook of ['validate', 'mutate'] as const) {
      const { response } = engine[webhook](decodeReview(r.body));
      if (response.allowed !== r.allowed[webhook]) {
        problems.push(`${r.name}/${webhook}: expected allowed=${r.allowed[webhook]}, got ${response.allowed}${response.status ? `: ${response.status.message}` : ''}`);
      }
    }
  }
  return problems;
}
