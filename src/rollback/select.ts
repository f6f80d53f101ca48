/**
 * Which recorded revision a rollback goes to: the one asked for, or with `--to-last-good` the newest
 * earlier revision whose change the gate verified (not UNVERIFIED, not BREAK-GLASS) and whose rollout
 * completed — both read from the trail, which only the recorder writes. Pure.
 */
import { TracegateError } from '../errors.js';
import type { StoredRelease } from '../recorder/storage.js';
import type { TrailEntry } from '../recorder/trail.js';
import { findWorkloadDoc } from '../recorder/workload-patch.js';
import { splitManifest } from '../yaml/manifest-doc.js';

/** The revision picked, and why the newer ones were passed over. */
export interface Picked {
  target: StoredRelease;
  /** `3: UNVERIFIED`, `4: rollout failed`, … for every newer revision that did not qualify. */
  passedOver: string[];
}

/** The newest trail entry that names `version`, if any. */
function entryOf(entries: readonly TrailEntry[], version: number): TrailEntry | undefined {
  let best: TrailEntry | undefined;
  for (const e of entries) if (e.event === 'change' && e.revision === version && (!best || e.seq > best.seq)) best = e;
  return best;
}

/** Why a revision is not a good one to return to, or undefined when it is. */
function notGood(h: StoredRelease, entry: TrailEntry | undefined, kind: string, name: string): string | undefined {
  if (h.release.info.status === 'failed') return 'failed (never applied)';
  if (!findWorkloadDoc(splitManifest(h.release.manifest ?? ''), kind, name)) return `no ${kind} ${name} in its manifest`;
  if (!entry) return 'not in the trail (recorded before the trail existed, or pruned)';
  if (entry.verdict === 'unverified') return 'UNVERIFIED';
  if (entry.verdict === 'break-glass') return 'BREAK-GLASS';
  if (entry.rollout !== 'complete') return entry.rollout === 'failed' ? 'rollout failed' : 'rollout never completed';
  return undefined;
}

/**
 * The newest revision below the current one that is good to return to. The current one is what runs:
 * the deployed revision — not Helm's `Last()` when that is a failed attempt, which never ran (returning
 * to the deployed revision would be no rollback at all). Throws NO_GOOD_REVISION listing why each
 * candidate was passed over.
 */
export function lastGoodRevision(history: readonly StoredRelease[], entries: readonly TrailEntry[], kind: string, name: string): Picked {
  const sorted = [...history].sort((a, b) => b.release.version - a.release.version);
  const deployed = sorted.find((h) => h.release.info.status === 'deployed');
  const current = (deployed ?? sorted[0])?.release.version ?? 0;
  const passedOver: string[] = [];
  for (const h of sorted.filter((x) => x.release.version < current)) {
    const why = notGood(h, entryOf(entries, h.release.version), kind, name);
    if (!why) return { target: h, passedOver };
    passedOver.push(`${h.release.version}: ${why}`);
  }
  throw new TracegateError('NO_GOOD_REVISION', `no revision before ${current || 'the current one'} is verified and rolled out completely${passedOver.length ? ` (${passedOver.join('; ')})` : ''}`, { passedOver });
}

/** The revision asked for; RELEASE_NOT_FOUND naming the ones there are. */
export function requestedRevision(history: readonly StoredRelease[], version: number, release: string): Picked {
  const target = history.find((h) => h.release.version === version);
  if (!target) {
    const known = history.map((h) => h.release.version).join(', ') || 'none';
    throw new TracegateError('RELEASE_NOT_FOUND', `release ${release} has no revision ${version} (revisions: ${known})`);
  }
  return { target, passedOver: [] };
}
