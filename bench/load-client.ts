/** The benchmark's handle on the load generator child process (bench/load-worker.ts). */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { LoadJob, LoadResult } from './load-job.js';

/** A running load generator; jobs run one at a time, in the order given. */
export interface LoadGenerator {
  pid: number;
  run(job: LoadJob): Promise<LoadResult>;
  stop(): Promise<void>;
}

/** Forks the load generator. */
export function startLoadGenerator(repoRoot: string): LoadGenerator {
  const child = fork(join(repoRoot, 'bench', 'load-worker.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { ok: (r: LoadResult) => void; fail: (e: Error) => void }>();
  let nextId = 1;
  let chain: Promise<unknown> = Promise.resolve();
  child.on('message', (m: { id: number; result?: LoadResult; error?: string }) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.result) p?.ok(m.result);
    else p?.fail(new Error(`load generator: ${m.error}`));
  });
  child.once('exit', (code) => {
    for (const p of pending.values()) p.fail(new Error(`load generator exited with code ${code}`));
    pending.clear();
  });
  const send = (job: LoadJob) =>
    new Promise<LoadResult>((ok, fail) => {
      const id = nextId++;
      pending.set(id, { ok, fail });
      child.send({ id, job });
    });
  return {
    pid: child.pid!,
    run(job) {
      const p = chain.then(() => send(job));
      chain = p.catch(() => undefined);
      return p;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      await exited;
    },
  };
}
