/**
 * Recording a workload's deletion: the release shows it as `helm uninstall --keep-history` would (the
 * deployed revision becomes `uninstalled`), or — when the release still holds other objects — a new
 * revision without the workload, so `helm rollback` can bring it back; and the trail gets a delete
 * entry naming who deleted it, from the gate's MAC'd note. A deletion Helm made itself (an upgrade that
 * dropped the workload, `helm uninstall`) is already in Helm's records: only the trail entry is added.
 */
import type { KubeObject } from '../k8s/types.js';
import { apiVersionOf, workloadKind } from '../workload/kinds.js';
import { ownershipOf } from './ownership.js';
import { isProvenanceLabel } from './provenance.js';
import { appendToTrail, prune, resolveRelease, supersede, workloadKey, type RecordContext, type ReleaseRef, type Write } from './record-context.js';
import { deployedOf, isPending, latest } from './release.js';
import { nextEntry, type TrailEntry, type TrailObject } from './trail.js';
import { withoutWorkloadDoc } from './workload-patch.js';

/** Looks at a deletion again this many times while the gate's note has not arrived, by default. */
export const DEFAULT_DELETION_NOTE_ATTEMPTS = 5;
/** A release Helm is mid-operation on is looked at again at most this many times before only the trail is written. */
const MAX_PENDING_ATTEMPTS = 10;
/** `helm history` shows the description in one column. */
const MAX_DESCRIPTION_CHARS = 400;

/** `done`, or `retry` to look again later (the note or Helm is not ready yet). */
export type DeletionOutcome = { status: 'done'; entry?: TrailEntry; revision?: number } | { status: 'retry'; reason: string };

function who(note: { user: string; verified: boolean } | undefined): string {
  if (!note) return 'deleted (who deleted it is unknown: the gate did not see the deletion)';
  return note.verified ? `deleted by ${note.user || 'an unknown user'}` : `deleted, by ${note.user || 'an unknown user'} per a note whose MAC does not check (UNVERIFIED)`;
}

/** Marks the deletion in the Helm release: the release, and the revision that shows the deletion, if any. */
async function recordInRelease(ctx: RecordContext, obj: KubeObject, helm: { release: string; namespace: string } | undefined, text: string, attempt: number, write: Write): Promise<'retry' | { ref: ReleaseRef; revision?: number }> {
  const { ref, history } = await resolveRelease(ctx, obj, helm);
  const releases = history.map((h) => h.release);
  const newest = latest(releases);
  if (newest && isPending(newest.info.status)) return attempt < MAX_PENDING_ATTEMPTS ? 'retry' : { ref };
  const deployed = deployedOf(releases);
  const stored = deployed && history.find((h) => h.release.version === deployed.version);
  const kind = String(obj.kind);
  const name = obj.metadata?.name ?? '';
  const cut = deployed ? withoutWorkloadDoc(deployed.manifest ?? '', kind, name, obj.metadata?.namespace) : undefined;
  // Helm removed it itself (upgrade, uninstall), or the release never held it: Helm's records already say so.
  if (!deployed || !stored || !cut) return { ref };
  const stamp = ctx.now().toISOString();
  const description = `${kind} ${obj.metadata?.namespace}/${name} ${text} (recorded by tracegate)`.slice(0, MAX_DESCRIPTION_CHARS);
  const labels = { ...Object.fromEntries(Object.entries(stored.labels).filter(([k]) => !isProvenanceLabel(k, ctx.config.prefix))), [`${ctx.config.prefix}recorded-by`]: 'tracegate' };
  if (ref.adopted || cut.remaining === 0) {
    const release = { ...deployed, info: { ...deployed.info, status: 'uninstalled', deleted: stamp, description } };
    await write(() => ctx.storage.update(release, { ...labels, [`${ctx.config.prefix}recorded-revision`]: String(deployed.version) }));
    return { ref, revision: deployed.version };
  }
  const version = (newest?.version ?? deployed.version) + 1;
  const release = { ...deployed, version, manifest: cut.manifest, info: { ...deployed.info, last_deployed: stamp, status: 'deployed', description } };
  await write(() => ctx.storage.create(release, { ...labels, [`${ctx.config.prefix}recorded-revision`]: String(version) }));
  await supersede(ctx, [stored], write);
  await prune(ctx, ref, write);
  return { ref, revision: version };
}

/** Records the deletion of `obj` (its last state, as the watch delivered it). */
export async function recordDeletion(ctx: RecordContext, obj: KubeObject, attempt: number, write: Write): Promise<DeletionOutcome> {
  const ownership = ownershipOf(obj);
  if (ownership.type === 'child') return { status: 'done' };
  const uid = obj.metadata?.uid ?? '';
  const ref = { namespace: obj.metadata?.namespace ?? 'default', kind: String(obj.kind), name: obj.metadata?.name ?? '' };
  const note = await ctx.api(() => ctx.notes.find({ ...ref, uid }));
  const maxAttempts = ctx.config.deletionNoteAttempts ?? DEFAULT_DELETION_NOTE_ATTEMPTS;
  if (!note && attempt < maxAttempts) return { status: 'retry', reason: 'waiting for the gate\'s note of who deleted it' };
  const text = who(note);

  let revision: number | undefined;
  let release: { name: string; namespace: string } | undefined;
  if (ownership.type !== 'managed') {
    const helm = ownership.type === 'helm' ? ownership : undefined;
    const done = await recordInRelease(ctx, obj, helm, text, attempt, write);
    if (done === 'retry') return { status: 'retry', reason: 'Helm is mid-operation on the release' };
    revision = done.revision;
    if (revision !== undefined || helm) release = { name: done.ref.name, namespace: done.ref.namespace };
  }
  const info = workloadKind(obj.kind);
  const build = (head: TrailObject | undefined) => {
    const next = nextEntry(head?.spec, {
      time: ctx.now().toISOString(),
      event: 'delete',
      uid,
      ...(revision !== undefined ? { revision, revisionBy: 'tracegate' as const } : {}),
      verdict: note?.verified ? 'verified' : 'unverified',
      ...(note?.user ? { user: note.user } : {}),
      changes: [text],
    });
    if (!next) return undefined;
    return { entry: next, opts: { apiVersion: info ? apiVersionOf(info) : String(obj.apiVersion ?? ''), prefix: ctx.config.prefix, ...(ownership.type === 'managed' ? { owner: ownership.by } : {}), ...(release ? { release } : {}) } };
  };
  const entry = await appendToTrail(ctx, () => write(() => ctx.trails.append(ref, build)));
  ctx.log.info({ workload: workloadKey(obj), uid, deletedBy: note?.user, verified: note?.verified ?? false, revision }, 'recorded deletion');
  return { status: 'done', ...(entry ? { entry } : {}), ...(revision !== undefined ? { revision } : {}) };
}
