/**
 * The serving certificate, reloaded from disk without a restart. Kubernetes updates a Secret volume by
 * swapping a symlink, which file watchers miss, so the files are polled. A renewed pair is checked
 * (parses, key matches, currently valid) before `setSecureContext` swaps it in for new connections;
 * in-flight requests keep their connection. A bad pair keeps the last good one and is logged loudly.
 */
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:https';
import type { Logger } from 'pino';
import { inspectCert, verifyServingPair } from '../certs/index.js';
import type { Metrics } from '../metrics.js';

export interface CertPair {
  cert: string;
  key: string;
  notAfter: Date;
}

/**
 * Parses and checks a PEM pair; throws an Error saying what is wrong. With the CA the webhook
 * configurations trust, a certificate it did not sign is refused: serving it would fail every call.
 */
export function checkPair(cert: string, key: string, now = new Date(), caPem?: string): CertPair {
  const checked = verifyServingPair({ certPem: cert, keyPem: key, now, ...(caPem ? { caPem } : {}) });
  if (!checked.ok) throw new Error(checked.error);
  return { cert, key, notAfter: checked.value.notAfter };
}

export interface CertStoreDeps {
  certFile: string;
  keyFile: string;
  caFile?: string;
  intervalMs: number;
  log: Logger;
  metrics: Metrics;
}

/** Creates the store; `load()` reads the first pair, `watch(server)` starts polling. */
export function createCertStore(deps: CertStoreDeps) {
  let current: CertPair | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function readPair(): Promise<CertPair> {
    const [cert, key, ca] = await Promise.all([
      readFile(deps.certFile, 'utf8'),
      readFile(deps.keyFile, 'utf8'),
      deps.caFile ? readFile(deps.caFile, 'utf8').catch(() => undefined) : undefined,
    ]);
    return checkPair(cert, key, new Date(), ca);
  }

  async function recordCaExpiry(): Promise<void> {
    if (!deps.caFile) return;
    const ca = await readFile(deps.caFile, 'utf8').catch(() => undefined);
    const info = ca ? inspectCert(ca) : undefined;
    if (info?.ok) deps.metrics.certExpiry.set({ certificate: 'ca' }, info.value.notAfter.getTime() / 1000);
  }

  /** Reads the initial pair; a bad pair at start is a startup error naming the files. */
  async function load(): Promise<CertPair> {
    try {
      current = await readPair();
    } catch (err) {
      throw new Error(`cannot use TLS certificate ${deps.certFile} with key ${deps.keyFile}: ${(err as Error).message}`);
    }
    deps.metrics.certExpiry.set({ certificate: 'serving' }, current.notAfter.getTime() / 1000);
    await recordCaExpiry();
    return current;
  }

  /** Re-reads the files once; swaps the context when they changed and are good. Returns what happened. */
  async function reload(server: Server, minVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<'unchanged' | 'reloaded' | 'rejected'> {
    let next: CertPair;
    try {
      next = await readPair();
    } catch (err) {
      deps.metrics.certReloads.inc({ result: 'rejected' });
      deps.log.error({ certFile: deps.certFile, err: (err as Error).message }, 'renewed TLS certificate rejected; still serving the previous one');
      return 'rejected';
    }
    if (current && next.cert === current.cert && next.key === current.key) return 'unchanged';
    server.setSecureContext({ cert: next.cert, key: next.key, minVersion });
    current = next;
    deps.metrics.certReloads.inc({ result: 'reloaded' });
    deps.metrics.certExpiry.set({ certificate: 'serving' }, next.notAfter.getTime() / 1000);
    await recordCaExpiry();
    deps.log.info({ certFile: deps.certFile, notAfter: next.notAfter.toISOString() }, 'TLS certificate reloaded');
    return 'reloaded';
  }

  return {
    load,
    reload,
    watch(server: Server, minVersion: 'TLSv1.2' | 'TLSv1.3'): void {
      const tick = () => {
        void reload(server, minVersion).finally(() => {
          if (stopped) return;
          timer = setTimeout(tick, deps.intervalMs);
          timer.unref();
        });
      };
      timer = setTimeout(tick, deps.intervalMs);
      timer.unref();
    },
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    current: () => current,
  };
}
