/**
 * Where a V8 CPU profile (`node --cpu-prof`) spends its time: self time per function and per area
 * (tracegate's own code by directory, each dependency, node internals, garbage collection, idle).
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function or area, in milliseconds and as a share of busy (non-idle) time. */
export interface ProfileEntry {
  name: string;
  ms: number;
  share: number;
}

/** Busy time and its split by function, by area and by what the work is for. */
export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  functions: ProfileEntry[];
  areas: ProfileEntry[];
  categories: ProfileEntry[];
}

/**
 * What a frame's self time is spent on, in terms that compare the gate with the baseline: both pay
 * socket writes, HTTP and the body's JSON.parse; only the gate pays policies, decision lines and metrics.
 */
export function categoryOf(url: string, functionName: string): string {
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === 'writev' || functionName === 'writevGeneric' || functionName === 'writeBuffer' || functionName === 'writeUtf8String') return 'socket writes (TLS encrypt + send syscall)';
  if (functionName === 'decodeReview' || (url.startsWith('node:internal/encoding') && functionName === 'decode') || url.includes('baseline-server')) return 'body decoding (UTF-8 + JSON.parse)';
  if (/node_modules\/(pino|sonic-boom|@pinojs)\//.test(url) || functionName === 'writeString' || functionName === 'logDecision') return 'decision log line (pino, write)';
  if (/node_modules\/prom-client\//.test(url)) return 'metrics (prom-client)';
  if (/\/(src|dist)\/(policy|admission|workload|images|quantities|tenancy)\//.test(url)) return 'policies and the decision (tracegate engine)';
  if (/\/(src|dist)\/server\//.test(url)) return 'webhook handler (tracegate server)';
  if (url.startsWith('node:internal/modules') || url.startsWith('node:internal/bootstrap') || functionName === 'compileSourceTextModule' || functionName === 'wrapSafe' || /node_modules\/(ajv|yaml|node-forge|@kubernetes)\//.test(url)) return 'start-up (module loading, policy compilation)';
  if (url.startsWith('node:') || functionName === '(program)' || functionName === '(anonymous)' || !url) return 'node HTTP/TLS/streams and runtime';
  return 'other';
}

/** The area a frame belongs to: `src/<dir>`, `node_modules/<package>`, `node:<module>`, or a V8 pseudo-frame. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const src = /\/src\/([^/]+)\//.exec(url) ?? /\/src\/([^/]+)$/.exec(url);
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dep) return dep[1]!;
  if (src) return `src/${src[1]!.replace(/\.(ts|js)$/, '')}`;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/').slice(0, 2).join('/');
  return url;
}

function top(map: Map<string, number>, busy: number, n: number): ProfileEntry[] {
  return [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, ms]) => ({ name, ms, share: ms / busy }));
}

/** Summarises a profile's self time (`n` entries per list). */
export function summarizeProfile(profile: CpuProfile, n = 30): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  const categories = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    total += ms;
    if (frame.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    const file = frame.url.replace(/^.*\/(node_modules\/|src\/)/, '$1');
    const fn = `${frame.functionName || '(anonymous)'} ${file}${file ? `:${frame.lineNumber + 1}` : ''}`;
    functions.set(fn, (functions.get(fn) ?? 0) + ms);
    const area = areaOf(frame.url, frame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    const category = categoryOf(frame.url, frame.functionName);
    categories.set(category, (categories.get(category) ?? 0) + ms);
  }
  const busy = total - idle;
  return { totalMs: total, idleMs: idle, busyMs: busy, functions: top(functions, busy, n), areas: top(areas, busy, n), categories: top(categories, busy, n) };
}

/** Reads and summarises a .cpuprofile file. */
export async function summarizeProfileFile(file: string, n = 30): Promise<ProfileSummary> {
  return summarizeProfile(JSON.parse(await readFile(file, 'utf8')) as CpuProfile, n);
}

/** The summary as text: areas, then functions, by self time. */
export function formatProfile(s: ProfileSummary): string {
  const rows = (list: ProfileEntry[]) => list.map((e) => `  ${(e.share * 100).toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`).join('\n');
  return `CPU profile: ${(s.busyMs / 1000).toFixed(2)} s busy, ${(s.idleMs / 1000).toFixed(2)} s idle\nSelf time by what it is for:\n${rows(s.categories)}\nSelf time by area:\n${rows(s.areas)}\nSelf time by function:\n${rows(s.functions)}\n`;
}
