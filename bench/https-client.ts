/** One verified HTTPS exchange: trusts only the given CA and checks the certificate's DNS name, as the apiserver does. */
import { request } from 'node:https';

/** Status and body text of one response. */
export interface Exchange {
  status: number;
  text: string;
}

/** The DNS name the benchmark connects as (in the development certificate, like the Service name the apiserver uses). */
export const SERVERNAME = 'tracegate.tracegate.svc';

/** Sends one request to 127.0.0.1:`port` on a fresh connection; rejects on any TLS or socket error. */
export function exchange(port: number, ca: string, opts: { method?: string; path: string; body?: Buffer }): Promise<Exchange> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: SERVERNAME,
        ca,
        method: opts.method ?? 'GET',
        path: opts.path,
        agent: false,
        headers: opts.body ? { 'content-type': 'application/json', 'content-length': opts.body.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => ok({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', fail);
    req.end(opts.body);
  });
}

/** Polls GET `path` until it answers 200, the process dies (`alive` false) or `timeoutMs` passes. */
export async function waitReady(port: number, ca: string, path: string, alive: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline && alive()) {
    try {
      const r = await exchange(port, ca, { path });
      if (r.status === 200) return;
      last = `HTTP ${r.status}: ${r.text}`;
    } catch (err) {
      last = (err as Error).message;
    }
    // Startup takes about a second under tsx; polling faster only adds noise.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server on port ${port} not ready: ${alive() ? last : 'process exited'}`);
}
