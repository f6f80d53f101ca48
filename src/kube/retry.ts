/**
 * Retrying Kubernetes API calls under pressure: 429 and 5xx are retried with exponential backoff and
 * jitter, honouring a numeric Retry-After; anything else fails at once. Used by the recorder's writes
 * and by `tracegate rollback`.
 */
import { causes, statusOf } from './api-error.js';

export interface RetryOptions {
  /** Attempts in total, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: (info: { attempt: number; delayMs: number; status: number }) => void;
}

/** Defaults: 6 attempts spread over about half a minute, within what an operator waits for a rollback. */
export const DEFAULT_RETRY: RetryOptions = { attempts: 6, baseDelayMs: 250, maxDelayMs: 8_000 };

/** Seconds from a Retry-After header (numeric form only, as client-go honours), on the error or its causes. */
export function retryAfterMs(err: unknown): number | undefined {
  for (const e of causes(err)) {
    const headers = (e as { headers?: Record<string, string> } | undefined)?.headers;
    const raw = headers?.['retry-after'] ?? headers?.['Retry-After'];
    if (raw !== undefined && /^\d+$/.test(String(raw).trim())) return Number(raw) * 1000;
  }
  return undefined;
}

export function isRetryable(status: number | undefined): boolean {
  return status === 429 || (status !== undefined && status >= 500 && status <= 599);
}

/** Runs `fn`, retrying throttling and server errors. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions = DEFAULT_RETRY): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = opts.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const status = statusOf(err);
      if (!isRetryable(status) || attempt >= opts.attempts) throw err;
      const backoff = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1));
      // Full jitter spreads retries of many clients; Retry-After is a floor the server asked for.
      const delayMs = Math.max(retryAfterMs(err) ?? 0, Math.round(backoff * (0.5 + random() / 2)));
      opts.onRetry?.({ attempt, delayMs, status: status! });
      await sleep(delayMs);
    }
  }
}
