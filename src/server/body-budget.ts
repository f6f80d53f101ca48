/**
 * The gate's memory for request bodies, shared by every in-flight review: a body is buffered whole
 * before it is parsed, so bodies that arrive slowly (or stall) would otherwise pile up until the
 * container is OOM-killed. A review reserves its declared Content-Length before a byte is read (a
 * chunked body reserves chunk by chunk) and gives it back once answered; a reservation that does not
 * fit is refused, and the webhook answers 429 at once.
 */
import { readFile } from 'node:fs/promises';

/** One review's share of the budget. */
export interface BodyLease {
  /** Adds `bytes` to this lease; false (and nothing reserved) when the budget cannot hold them. */
  reserve(bytes: number): boolean;
  /** Gives back everything this lease holds; safe to call more than once. */
  release(): void;
}

/** The shared budget. */
export interface BodyBudget {
  readonly capBytes: number;
  /** Bytes reserved by all leases now. */
  inUse(): number;
  lease(): BodyLease;
}

/** Creates a budget of `capBytes`. */
export function createBodyBudget(capBytes: number): BodyBudget {
  let used = 0;
  class Lease implements BodyLease {
    held = 0;
    reserve(bytes: number): boolean {
      if (used + bytes > capBytes) return false;
      used += bytes;
      this.held += bytes;
      return true;
    }
    release(): void {
      used -= this.held;
      this.held = 0;
    }
  }
  return { capBytes, inUse: () => used, lease: () => new Lease() };
}

/**
 * The share of the container's memory limit bodies may take. The rest covers the gate's steady state
 * (~80 MB), the one body being parsed at a time (a parsed review takes several times its text) and
 * the answer: with the manifest's 384 Mi limit, 96 MiB of bodies leave room for all of it.
 */
const BODY_SHARE_OF_MEMORY = 1 / 4;

/**
 * Without a memory limit (a developer's machine): nine of the largest reviews at once (7 MiB each),
 * more than the apiserver sends one webhook at a time, and small next to any machine's memory.
 */
export const UNLIMITED_MEMORY_BODY_BUDGET = 64 * 1024 * 1024;

/**
 * cgroup v1 writes "no limit" as the largest page-aligned int64; anything at or above 2^60 bytes is no
 * limit in practice (v2 writes `max`).
 */
const NO_LIMIT_BYTES = 2 ** 60;

/** The limit in a `memory.max` / `memory.limit_in_bytes` file, undefined for none (`max`, huge) or unreadable text. */
export function parseMemoryLimit(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n > 0 && n < NO_LIMIT_BYTES ? n : undefined;
}

/** Where a cgroup's memory limit lives, v2 first (the controller names differ between the versions). */
function limitFiles(procSelfCgroup: string): string[] {
  const files: string[] = [];
  for (const line of procSelfCgroup.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined || path === '/') continue;
    if (controllers === '') files.push(`/sys/fs/cgroup${path}/memory.max`);
    else if (controllers!.split(',').includes('memory')) files.push(`/sys/fs/cgroup/memory${path}/memory.limit_in_bytes`);
  }
  // In a container (its own cgroup namespace, or the cgroup mounted at the root) the limit is at the root.
  files.push('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes');
  return files;
}

/**
 * The memory limit of the cgroup the process runs in (a container's `resources.limits.memory`), or
 * undefined when there is none or it cannot be read. `read` is injectable for tests.
 */
export async function readMemoryLimit(read: (path: string) => Promise<string> = (p) => readFile(p, 'utf8')): Promise<number | undefined> {
  const self = await read('/proc/self/cgroup').catch(() => '');
  for (const file of limitFiles(self)) {
    const text = await read(file).catch(() => undefined);
    if (text === undefined) continue;
    // The first file that exists decides: an unlimited leaf under a limited parent is still bounded by
    // the parent, but Kubernetes sets the limit on the container's own cgroup, which is the leaf.
    return parseMemoryLimit(text);
  }
  return undefined;
}

/**
 * The default body budget: a quarter of the memory limit, never less than one largest review
 * (`bodyLimitBytes`, else the largest review could never be served), and a fixed
 * {@link UNLIMITED_MEMORY_BODY_BUDGET} without a limit.
 */
export function defaultBodyBudget(memoryLimit: number | undefined, bodyLimitBytes: number): number {
  if (memoryLimit === undefined) return Math.max(UNLIMITED_MEMORY_BODY_BUDGET, bodyLimitBytes);
  return Math.max(Math.floor(memoryLimit * BODY_SHARE_OF_MEMORY), bodyLimitBytes);
}
