/** The benchmark's command line (`npm run bench -- …`) and the machine it runs on. */
import { cpus, release, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import type { Machine } from './report.js';
import { REVIEW_NAMES } from './reviews.js';

/** Every phase, in the order they run; `--phases` picks some. */
export const ALL_PHASES = ['validate', 'mutate', 'rate', 'engine', 'check', 'rss', 'approval', 'audit', 'rollback'] as const;

/** What one run does. */
export interface Settings {
  quick: boolean;
  durationSeconds: number;
  warmupSeconds: number;
  /** Connections of the max-throughput phases. */
  connections: number;
  /** Connections of the paced phase: many, each lightly used, as apiserver replicas' pools are. */
  pacedConnections: number;
  engineMs: number;
  checkDocuments: number;
  cpuProf: boolean;
  /** Each comparison runs this many times; the least disturbed is shown. */
  repeat: number;
  phases: ReadonlySet<string>;
  /** NODE_OPTIONS for every server instead of the install manifest's (tuning experiments). */
  nodeOptions?: string;
  /** Which reviews to send (all by default); profiling one workload at a time needs the others out. */
  reviews: ReadonlySet<string>;
}

/** Reads the flags; quick runs get short runs and small inputs. */
export function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      phases: { type: 'string' },
      reviews: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      repeat: { type: 'string' },
      'node-options': { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const phases = new Set((values.phases ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim()));
  for (const p of phases) if (!(ALL_PHASES as readonly string[]).includes(p)) throw new Error(`unknown phase ${p}; use ${ALL_PHASES.join(',')}`);
  return {
    quick,
    // Quick: long enough for every path to answer many times, short enough for CI.
    durationSeconds: Number(values.duration ?? (quick ? 1 : 8)),
    warmupSeconds: Number(values.warmup ?? (quick ? 0 : 2)),
    // Ten connections keep both servers busy on one core each without queueing deep inside them.
    connections: Number(values.connections ?? 10),
    // Paced: each connection lightly used, so arrivals rarely wait for a busy connection.
    pacedConnections: quick ? 4 : 32,
    // 1.5 s per engine loop: long enough for stable rates, short enough for 20 loops.
    engineMs: quick ? 30 : 1500,
    // The 10,000 documents; 200 prove in CI that the CLI runs.
    checkDocuments: quick ? 200 : 10_000,
    cpuProf: values['cpu-prof'] === true,
    repeat: Math.max(1, Number(values.repeat ?? 1)),
    phases,
    ...(values['node-options'] !== undefined ? { nodeOptions: values['node-options'] } : {}),
    reviews: new Set((values.reviews ?? REVIEW_NAMES.join(',')).split(',').map((r) => r.trim())),
  };
}

/** CPU model, cores, memory, kernel and node version. */
export function machine(): Machine {
  const list = cpus();
  return { cpuModel: list[0]?.model ?? 'unknown', cores: list.length, node: process.version, kernel: release(), memoryGiB: totalmem() / 2 ** 30 };
}

