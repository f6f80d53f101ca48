/**
 * Recording one state of a workload: the Helm revision its owner calls for (a new revision for a change
 * made outside Helm, nothing for a state Helm or tracegate already recorded) and the trail entry with
 * the attribution of that change, taken from the gate's stamps on this state — never inherited from an
 * earlier revision's labels. Workloads another owner manages get the trail entry only.
 */
import type { KubeObject } from '../k8s/types.js';
import { templateHash } from '../admission/change-id.js';
import { apiVersionOf, workloadKind } from '../workload/kinds.js';
import { podTemplateOf } from '../workload/pod-template.js';
import { rolloutState } from '../workload/rollout.js';
import { ownershipOf, type Ownership } from './ownership.js';
import { lastWriter, planRecording, type Plan } from './plan.js';
import { breakGlassPastGate, readProvenance, type RecordedProvenance } from './provenance.js';
import { appendToTrail, prune, resolveRelease, supersede, workloadKey, type RecordContext, type Write } from './record-context.js';
import { ReleaseExistsError } from './storage.js';
import { describeImageChanges, imagesOf, lastEntryOf, nextEntry, withRollout, type TrailEntry, type TrailObject, type TrailRef, type Verdict } from './trail.js';

/** Creating a revision that already exists means someone else wrote first: re-read and decide again, a few times. */
const MAX_CREATE_CONFLICTS = 5;

/** What recording a state did. */
export interface StateOutcome {
  plan: Plan;
  ownership: Ownership;
  /** The trail entry appended, if any. */
  entry?: TrailEntry;
}

/** How far a change's stamps can be trusted. */
export function verdictOf(p: RecordedProvenance): Verdict {
  if (!p.verified) return 'unverified';
  return p.breakGlass ? 'break-glass' : 'verified';
}

/** The attribution fields of a trail entry: the stamps when the gate verified them, else only what managedFields say. */
export function attribution(p: RecordedProvenance, writer: string | undefined): Partial<TrailEntry> {
  if (!p.verified) return writer ? { tool: writer } : {};
  const out: Partial<TrailEntry> = {};
  if (p.changedBy) out.user = p.changedBy;
  if (p.fieldManager) out.tool = p.fieldManager;
  if (p.commit) out.commit = p.commit;
  if (p.approver) out.approver = p.approver;
  if (p.pipelineRun) out.pipelineRun = p.pipelineRun;
  if (p.changeId) out.changeId = p.changeId;
  if (p.breakGlass) out.reason = p.breakGlass;
  if (p.approval) out.approval = p.approval;
  if (p.testResults) out.testResults = p.testResults;
  if (p.approvalToken) out.approvalToken = p.approvalToken;
  return out;
}

/** Carries out what the Helm release calls for; retries when someone else wrote the revision first. */
async function recordRevision(ctx: RecordContext, obj: KubeObject, provenance: RecordedProvenance, helm: { release: string; namespace: string } | undefined, write: Write) {
  for (let attempt = 1; ; attempt++) {
    const { ref, history } = await resolveRelease(ctx, obj, helm);
    const plan = planRecording({ workload: obj, provenance, release: ref, history, prefix: ctx.config.prefix, now: ctx.now(), restoreRollbacks: ctx.restore !== undefined });
    const release = `${ref.namespace}/${ref.name}`;
    if (plan.action === 'none') {
      ctx.log.debug({ release, workload: workloadKey(obj), resourceVersion: obj.metadata?.resourceVersion, reason: plan.reason }, 'nothing to record');
      if (plan.repair?.length) {
        await supersede(ctx, plan.repair, write);
        ctx.log.warn({ release, revisions: plan.repair.map((r) => r.release.version) }, 'repaired: more than one deployed revision');
      }
      return { plan, ref };
    }
    if (plan.action === 'wait') return { plan, ref };
    if (plan.action === 'restore') {
      await restoreRevision(ctx, obj, plan, release, write);
      return { plan, ref };
    }
    try {
      await write(() => ctx.storage.create(plan.release, plan.labels));
    } catch (err) {
      if (err instanceof ReleaseExistsError && attempt < MAX_CREATE_CONFLICTS) {
        ctx.metrics.conflicts.inc();
        ctx.log.info({ release, revision: plan.release.version }, 'revision written by someone else meanwhile; re-reading');
        continue;
      }
      throw err;
    }
    await supersede(ctx, plan.supersede, write);
    await prune(ctx, ref, write);
    return { plan, ref };
  }
}

/** Finishes Helm's inexact rollback; a repair that still differs is logged and the state recorded as it is next time. */
async function restoreRevision(ctx: RecordContext, obj: KubeObject, plan: Extract<Plan, { action: 'restore' }>, release: string, write: Write): Promise<void> {
  const fields = { workload: workloadKey(obj), release, revision: plan.revision, rollbackTo: plan.rollbackTo, changes: plan.changes };
  ctx.log.warn(fields, "helm's rollback did not land exactly; restoring the revision's pod template");
  const left = await write(() => ctx.restore!(obj, plan.target, plan.rollbackTo));
  ctx.metrics.restored.inc({ exact: String(left.length === 0) });
  if (left.length) ctx.log.error({ ...fields, differing: left }, 'the restored workload still differs from the revision (another writer or webhook changes it)');
  else ctx.log.info(fields, 'restored the revision exactly');
}

/** Records what the workload's current state calls for (see the module comment). */
export async function recordState(ctx: RecordContext, obj: KubeObject, write: Write): Promise<StateOutcome> {
  const ownership = ownershipOf(obj);
  if (ownership.type === 'child') {
    return { plan: { action: 'none', reason: `created by ${ownership.owner}, whose record covers it` }, ownership };
  }
  const { prefix } = ctx.config;
  const template = podTemplateOf(obj);
  const provenance = readProvenance(obj, prefix, ctx.config.keyring);
  const writer = lastWriter(obj);
  const pastGate = provenance.verified ? undefined : breakGlassPastGate(obj, prefix);
  let plan: Plan = { action: 'none', reason: `managed by ${ownership.type === 'managed' ? ownership.by : ''}: recorded in the trail only` };
  let release: { name: string; namespace: string } | undefined;
  let revision: Pick<TrailEntry, 'revision' | 'revisionBy'> = {};
  if (ownership.type !== 'managed') {
    const done = await recordRevision(ctx, obj, provenance, ownership.type === 'helm' ? ownership : undefined, write);
    plan = done.plan;
    if (plan.action === 'wait') return { plan, ownership };
    release = { name: done.ref.name, namespace: done.ref.namespace };
    if (plan.action === 'record') revision = { revision: plan.release.version, revisionBy: 'tracegate' };
    else if (plan.action === 'restore') revision = { revision: plan.revision, revisionBy: 'helm' };
    else if (plan.matched) revision = { revision: plan.matched.version, revisionBy: plan.matched.by };
  }

  const info = workloadKind(obj.kind);
  const ref = { namespace: obj.metadata?.namespace ?? 'default', kind: String(obj.kind), name: obj.metadata?.name ?? '' };
  const images = imagesOf(template);
  const uid = obj.metadata?.uid ?? '';
  const build = (head: TrailObject | undefined) => {
    const changes =
      plan.action === 'record'
        ? plan.changes
        : plan.action === 'restore'
          ? [`helm rollback to ${plan.rollbackTo} left ${plan.changes.join(', ')}; tracegate restores it exactly`]
          : describeImageChanges(head ? lastEntryOf(head.spec.entries, uid)?.images : undefined, images);
    const next = nextEntry(head?.spec, {
      time: ctx.now().toISOString(),
      event: 'change',
      uid,
      template: templateHash(template),
      ...revision,
      verdict: pastGate ? 'break-glass' : verdictOf(provenance),
      ...(provenance.tenant ? { tenant: provenance.tenant } : {}),
      ...attribution(provenance, writer),
      ...(pastGate ? { user: pastGate.user, reason: `${pastGate.reason} (past the gate${revision.revision === undefined ? '; NOT a recorded revision' : `; revision ${revision.revision}`})` } : {}),
      images,
      changes,
    });
    if (!next) return undefined;
    return {
      entry: next,
      opts: {
        apiVersion: info ? apiVersionOf(info) : String(obj.apiVersion ?? ''),
        prefix,
        ...(provenance.tenant ? { tenant: provenance.tenant } : {}),
        ...(ownership.type === 'managed' ? { owner: ownership.by } : {}),
        ...(release ? { release } : {}),
      },
    };
  };
  const entry = await appendToTrail(ctx, () => write(() => ctx.trails.append(ref, build)));
  if (plan.action === 'record' || entry) logRecorded(ctx, obj, provenance, plan, entry, release);
  await markRollout(ctx, obj, ref, templateHash(template), write);
  return { plan, ownership, ...(entry ? { entry } : {}) };
}

/**
 * Notes in the trail how this state's rollout ended (`rollback --to-last-good` picks only states that
 * rolled out completely). Status changes arrive as events of the same state; each outcome is written once.
 */
async function markRollout(ctx: RecordContext, obj: KubeObject, ref: TrailRef, template: string, write: Write): Promise<void> {
  const state = rolloutState(obj);
  if (state === 'progressing') return;
  // The generation too: a rollback returns to an earlier template, whose new entry needs its own outcome.
  const key = `${obj.metadata?.uid ?? ''}/${template}/${obj.metadata?.generation ?? ''}`;
  if (ctx.rolloutsMarked.has(key)) return;
  await appendToTrail(ctx, () => write(() => ctx.trails.amend(ref, (head) => withRollout(head, obj.metadata?.uid ?? '', template, state))).then(() => undefined));
  ctx.rolloutsMarked.add(key);
}

function logRecorded(ctx: RecordContext, obj: KubeObject, provenance: RecordedProvenance, plan: Plan, entry: TrailEntry | undefined, release: { name: string; namespace: string } | undefined): void {
  const verified = provenance.verified;
  const adopted = plan.action === 'record' && plan.release.chart?.metadata?.annotations?.[`${ctx.config.prefix}adopted`] === 'true';
  if (plan.action === 'record') ctx.metrics.recorded.inc({ verified: String(verified), adopted: String(adopted) });
  const fields = {
    workload: workloadKey(obj),
    ...(release ? { release: `${release.namespace}/${release.name}` } : {}),
    ...(plan.action === 'record' ? { revision: plan.release.version, changes: plan.changes, skipped: plan.skipped } : {}),
    ...(entry ? { trailSeq: entry.seq } : {}),
    verified,
    changeId: provenance.changeId,
  };
  if (verified) ctx.log.info(fields, 'recorded change');
  else {
    ctx.metrics.unverified.inc();
    ctx.log.warn(fields, 'recorded UNVERIFIED change: the pod template changed without passing the tracegate gate');
  }
}
