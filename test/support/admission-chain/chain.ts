/**
 * kube-apiserver's webhook admission, as one hook for the test API server
 * (reference/admission-protocol.md §3–§7; `mutating/dispatcher.go`, `validating/dispatcher.go`):
 * - mutating webhooks one after the other, configurations sorted by name then list order; each
 *   patch applied with the apiserver's JSONPatch semantics (a patch that cannot be applied is a 500
 *   whatever the failurePolicy); `reinvocationPolicy: IfNeeded` webhooks called again once (round 1)
 *   when a later webhook changed the object;
 * - then the registry's fields (uid, creationTimestamp, generation) and all matching validating
 *   webhooks in parallel, the first error to arrive ending the request;
 * - failed calls governed by failurePolicy: Fail → 500 `Internal error occurred: failed calling
 *   webhook "<name>": …`, Ignore → on with a `failed-open.…` audit annotation; denials worded by
 *   `ToStatusErr`; warnings from every webhook passed on for kubectl's `Warning: …` lines.
 * - webhooks whose matchConditions (CEL, compiled once when the chain is created) do not all hold are
 *   skipped; an evaluation error under failurePolicy Fail is a 403 (match.ts, match-conditions.ts);
 * - between the two stages, in-process, the ValidatingAdmissionPolicies (policy-dispatch.ts).
 * Not modelled: in-tree admission plugins, AdmissionReview v1beta1, schema conversion for Equivalent
 * matches, dropping unknown fields when decoding a patched object.
 */
import { randomUUID } from 'node:crypto';
import { Agent } from 'node:https';
import { isDeepStrictEqual } from 'node:util';
import type { AdmissionHookRequest, AdmissionHookResult } from '../api-server/index.js';
import { applyDefaults } from '../api-server/defaults.js';
import { applyJsonPatch } from '../json-patch.js';
import { addWarnings, createAuditRecorder, type AuditRecorder } from './audit.js';
import { callTarget, callWebhook, goSeconds } from './call.js';
import { compileConfigurations } from './condition-validation.js';
import { noEquivalents, shouldCallHook, type Invocation, type MatchAttributes, type MatchContext } from './match.js';
import { createPolicyDispatcher, namespaceFromLabels } from './policy-dispatch.js';
import { buildReview, encoded, mutatingStageObject, validatingStageObject } from './review.js';
import { badRequest, denial, internalError, timeoutError, type ChainError } from './status.js';
import type { AdmissionChain, AdmissionChainOptions, AdmissionRun, MutatingWebhook, SkippedWebhook, ValidatingWebhook, WebhookBase, WebhookCall } from './types.js';
import { decodePatch, verifyResponse, type VerifiedResponse } from './verify.js';

/** The apiserver's default request timeout; webhook deadlines never outlast it. */
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const MUTATION_PREFIX = 'mutation.webhook.admission.k8s.io/';
const PATCH_PREFIX = 'patch.webhook.admission.k8s.io/';
const FAILED_OPEN_MUTATING = `failed-open.${MUTATION_PREFIX}`;
const FAILED_OPEN_VALIDATING = 'failed-open.validating.webhook.admission.k8s.io/';
const SIDE_EFFECT_FREE: ReadonlySet<string> = new Set(['None', 'NoneOnDryRun']);

type Loose = Record<string, any>;

/** A webhook with the configuration it belongs to; `id` is the accessor UID used for reinvocation. */
interface Entry<W extends WebhookBase> {
  configuration: string;
  hook: W;
  id: string;
}

function ordered<W extends WebhookBase>(configs: { metadata: { name: string }; webhooks: W[] }[]): Entry<W>[] {
  const sorted = [...configs].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  return sorted.flatMap((c) => c.webhooks.map((hook, i) => ({ configuration: c.metadata.name, hook, id: `${c.metadata.name}/${hook.name}/${i}` })));
}

/** How one call ended, before failurePolicy is applied. */
type CallEnd =
  | { kind: 'ok'; response: VerifiedResponse }
  /** ErrCallingWebhook: failurePolicy decides. */
  | { kind: 'call-error'; error: string }
  /** Ends the request whatever the failurePolicy (dry run unsupported). */
  | { kind: 'fatal'; status: ChainError };

/** JSON keys sorted per operation, as Go marshals jsonpatch.Operation maps. */
function sortedOps(ops: unknown[]): unknown[] {
  return ops.map((op) => (op === null || typeof op !== 'object' ? op : Object.fromEntries(Object.entries(op as Loose).sort(([a], [b]) => (a < b ? -1 : 1)))));
}

/**
 * Creates the chain; `close()` it when done (it pools HTTPS connections like the apiserver). Throws
 * the apiserver's 422 text for a configuration whose matchConditions it would refuse to store.
 */
export function createAdmissionChain(opts: AdmissionChainOptions): AdmissionChain {
  const agent = new Agent({ keepAlive: true });
  const mutating = ordered<MutatingWebhook>(opts.mutating);
  const validating = ordered<ValidatingWebhook>(opts.validating);
  // Throws, as the apiserver refuses to store them, for configurations with invalid matchConditions.
  const conditions = compileConfigurations(opts);
  const ctx: MatchContext = { namespaceLabels: opts.namespaceLabels, equivalentResources: opts.equivalentResources ?? noEquivalents, conditions: (h) => conditions.get(h) };
  // Throws the apiserver's 422 text for a policy or binding it would refuse to store.
  const policies = createPolicyDispatcher({ policies: opts.policies ?? [], bindings: opts.bindings ?? [] }, { ...ctx, namespaceObject: opts.namespaceObject ?? namespaceFromLabels(opts.namespaceLabels) });
  const defaults = opts.defaults ?? applyDefaults;
  const now = opts.now ?? (() => new Date());
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const log = opts.log ?? (() => {});
  const history: AdmissionRun[] = [];

  /** Everything one call shares: request, audit recorder, warnings, deadline. */
  interface Pass {
    req: AdmissionHookRequest;
    run: AdmissionRun;
    audit: AuditRecorder;
    requestDeadline: number;
  }

  function recordAudit(pass: Pass, key: string, value: string): void {
    const dropped = pass.audit.add(key, value);
    if (dropped !== undefined) log(`Failed to set admission audit annotation ${key} to ${value}: ${dropped}`);
  }

  /** Up to a verified response: dry-run check, client, review, HTTP call, decode and verify. */
  async function exchange(pass: Pass, call: WebhookCall, hook: WebhookBase, invocation: Invocation, object: Loose | null, oldObject: Loose | null): Promise<CallEnd> {
    if (pass.req.dryRun) {
      if (hook.sideEffects === undefined) return { kind: 'call-error', error: 'Webhook SideEffects is nil' };
      if (!SIDE_EFFECT_FREE.has(hook.sideEffects)) return { kind: 'fatal', status: badRequest(`admission webhook "${hook.name}" does not support dry run`) };
    }
    // The apiserver sends the first version in the webhook's list that it knows.
    const version = hook.admissionReviewVersions.find((v) => v === 'v1' || v === 'v1beta1');
    if (version === undefined) return { kind: 'call-error', error: 'could not create admission objects: webhook does not accept known AdmissionReview versions (v1, v1beta1)' };
    if (version !== 'v1') return { kind: 'call-error', error: 'could not create admission objects: AdmissionReview v1beta1 is not modelled by this chain' };
    const target = callTarget(hook.clientConfig, opts.resolveService);
    if (!target.ok) return { kind: 'call-error', error: target.error };
    const review = buildReview(call.uid, invocation, pass.req, object === null ? null : encoded(object), oldObject);
    call.review = review;
    const deadline = Math.min(Date.now() + hook.timeoutSeconds * 1000, pass.requestDeadline);
    const left = deadline - Date.now();
    // client-go rounds the time left up to whole seconds for the ?timeout= hint.
    call.timeout = left > 0 ? goSeconds(Math.ceil(left / 1000)) : '';
    const query = call.timeout === '' ? '' : `timeout=${call.timeout}`;
    call.url = query === '' ? target.value.url : `${target.value.url}?${query}`;
    const answer = await callWebhook(target.value, query, JSON.stringify(review), deadline, agent);
    if (!answer.ok) return { kind: 'call-error', error: `failed to call webhook: ${answer.error}` };
    call.response = answer.body;
    const verified = verifyResponse(answer.body, call.uid, call.stage === 'mutating');
    if (!verified.ok) return { kind: 'call-error', error: verified.error };
    for (const [k, v] of Object.entries(verified.value.auditAnnotations)) recordAudit(pass, `${hook.name}/${k}`, v);
    addWarnings(pass.run.warnings, verified.value.warnings);
    return { kind: 'ok', response: verified.value };
  }

  function matchError(m: { error: ChainError; log?: string }): ChainError {
    if (m.log !== undefined) log(m.log);
    return m.error;
  }

  function skipped(stage: SkippedWebhook['stage'], hook: WebhookBase, m: { skip: SkippedWebhook['reason']; condition?: string; errors?: string }): SkippedWebhook {
    const { skip, ...why } = m;
    return { stage, webhook: hook.name, reason: skip, ...why };
  }

  function newCall(stage: WebhookCall['stage'], entry: Entry<WebhookBase>, round: 0 | 1, index: number): WebhookCall {
    return { stage, configuration: entry.configuration, webhook: entry.hook.name, round, index, uid: randomUUID(), url: '', timeout: '', outcome: 'allowed' };
  }

  /** The result of a mutating call: the object to go on with, or how the request ends. */
  type MutationEnd = { next: Loose | null; changed: boolean; failed?: string } | { end: ChainError };

  async function mutateOnce(pass: Pass, call: WebhookCall, entry: Entry<MutatingWebhook>, invocation: Invocation, object: Loose | null, oldObject: Loose | null): Promise<MutationEnd> {
    const { hook } = entry;
    const { round, index } = call;
    const key = `round_${round}_index_${index}`;
    let changed = false;
    try {
      const got = await exchange(pass, call, hook, invocation, object, oldObject);
      if (got.kind === 'fatal') {
        call.outcome = 'dry-run-unsupported';
        call.error = got.status.message;
        return { end: got.status };
      }
      if (got.kind === 'call-error') return { next: object, changed, failed: got.error };
      const res = got.response;
      if (!res.allowed) {
        call.outcome = 'denied';
        return { end: denial(hook.name, res.status) };
      }
      if (res.patch.length === 0) return { next: object, changed };
      const ops = decodePatch(res.patch);
      if (!ops.ok) return { next: object, changed, failed: `received undecodable patch in webhook response: ${ops.error}` };
      if (ops.value.length === 0) return { next: object, changed };
      const patchError = (message: string): MutationEnd => {
        call.outcome = 'patch-error';
        call.error = message;
        return { end: internalError(message) };
      };
      if (object === null) return patchError(`admission webhook "${hook.name}" attempted to modify the object, which is not supported for this operation`);
      if (res.patchType !== 'JSONPatch') return { next: object, changed, failed: `unsupported patch type "${res.patchType}"` };
      const before = encoded(object);
      const applied = applyJsonPatch(before, ops.value);
      if (!applied.ok) return patchError(applied.error);
      const patched = applied.value;
      if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) return patchError('the patched object is not a JSON object');
      const next = patched as Loose;
      changed = !isDeepStrictEqual(before, encoded(next));
      recordAudit(pass, `${PATCH_PREFIX}${key}`, JSON.stringify({ configuration: entry.configuration, webhook: hook.name, patch: sortedOps(ops.value), patchType: 'JSONPatch' }));
      defaults(typeof next['kind'] === 'string' ? next['kind'] : invocation.kind.kind, next);
      call.outcome = 'patched';
      return { next, changed };
    } finally {
      call.mutated = changed;
      recordAudit(pass, `${MUTATION_PREFIX}${key}`, JSON.stringify({ configuration: entry.configuration, webhook: hook.name, mutated: changed }));
    }
  }

  /** The mutating stage; resolves to the object for the validating stage, or how the request ends. */
  async function mutate(pass: Pass, attrs: MatchAttributes): Promise<{ object: Loose | null; patched: boolean } | { end: ChainError }> {
    let object = attrs.object as Loose | null;
    const oldObject = attrs.oldObject as Loose | null;
    let patched = false;
    const reinvocable = new Set<string>();
    const reinvoke = new Set<string>();
    let again = false;
    for (const round of [0, 1] as const) {
      if (round === 1 && !again) break;
      for (const [index, entry] of mutating.entries()) {
        const m = shouldCallHook(entry.hook, { ...attrs, object }, ctx);
        if ('error' in m) return { end: matchError(m) };
        if ('skip' in m) {
          if (round === 0) pass.run.skipped.push(skipped('mutating', entry.hook, m));
          continue;
        }
        // A webhook is never called for the first time in round 1.
        if (round === 1 && !reinvoke.has(entry.id)) {
          pass.run.skipped.push({ stage: 'mutating', webhook: entry.hook.name, reason: 'not-reinvoked' });
          continue;
        }
        const call = newCall('mutating', entry, round, index);
        pass.run.calls.push(call);
        const res = await mutateOnce(pass, call, entry, m.call, object, oldObject);
        if ('end' in res) return res;
        if (res.changed) {
          for (const id of reinvocable) reinvoke.add(id);
          again = true;
          patched = true;
        }
        object = res.next;
        if (entry.hook.reinvocationPolicy === 'IfNeeded') reinvocable.add(entry.id);
        if (res.failed === undefined) continue;
        const message = `failed calling webhook "${entry.hook.name}": ${res.failed}`;
        call.error = message;
        if (entry.hook.failurePolicy === 'Fail') {
          call.outcome = 'failed-closed';
          log(`Failed calling webhook, failing closed ${entry.hook.name}: ${message}`);
          return { end: internalError(message) };
        }
        call.outcome = 'failed-open';
        log(`Failed calling webhook, failing open ${entry.hook.name}: ${message}`);
        recordAudit(pass, `${FAILED_OPEN_MUTATING}round_${round}_index_${index}`, entry.hook.name);
        if (Date.now() >= pass.requestDeadline) return { end: timeoutError('request did not complete within requested timeout') };
      }
    }
    return { object, patched };
  }

  async function validateOne(pass: Pass, entry: Entry<ValidatingWebhook>, invocation: Invocation, index: number, object: Loose | null, oldObject: Loose | null, call: WebhookCall): Promise<ChainError | undefined> {
    const { hook } = entry;
    const got = await exchange(pass, call, hook, invocation, object, oldObject);
    if (got.kind === 'fatal') {
      call.outcome = 'dry-run-unsupported';
      call.error = got.status.message;
      return got.status;
    }
    if (got.kind === 'ok') {
      if (got.response.allowed) return undefined;
      call.outcome = 'denied';
      const status = denial(hook.name, got.response.status);
      log(`rejected by webhook ${JSON.stringify(hook.name)}: ${status.message}`);
      return status;
    }
    const message = `failed calling webhook "${hook.name}": ${got.error}`;
    call.error = message;
    if (hook.failurePolicy === 'Ignore') {
      call.outcome = 'failed-open';
      log(`Failed calling webhook, failing open ${hook.name}: ${message}`);
      recordAudit(pass, `${FAILED_OPEN_VALIDATING}round_0_index_${index}`, hook.name);
      return undefined;
    }
    call.outcome = 'failed-closed';
    log(`Failed calling webhook, failing closed ${hook.name}: ${message}`);
    return internalError(message);
  }

  /** The validating stage: all matching webhooks at once; the first error to arrive wins. */
  async function validate(pass: Pass, attrs: MatchAttributes): Promise<ChainError | undefined> {
    const relevant: { entry: Entry<ValidatingWebhook>; invocation: Invocation }[] = [];
    for (const entry of validating) {
      const m = shouldCallHook(entry.hook, attrs, ctx);
      if ('error' in m) return matchError(m);
      if ('skip' in m) pass.run.skipped.push(skipped('validating', entry.hook, m));
      else relevant.push({ entry, invocation: m.call });
    }
    if (relevant.length === 0) return undefined;
    if (Date.now() >= pass.requestDeadline) return timeoutError('request did not complete within requested timeout');
    const errors: ChainError[] = [];
    await Promise.all(
      relevant.map(async ({ entry, invocation }, index) => {
        const call = newCall('validating', entry, 0, index);
        pass.run.calls.push(call);
        const err = await validateOne(pass, entry, invocation, index, attrs.object as Loose | null, attrs.oldObject as Loose | null, call);
        if (err !== undefined) errors.push(err);
      }),
    );
    return errors[0];
  }

  function failure(status: ChainError, pass: Pass): AdmissionHookResult {
    const details = status.details === undefined ? {} : { details: status.details };
    return { allowed: false, status: { code: status.code, reason: status.reason, message: status.message, ...details }, warnings: [...pass.run.warnings] };
  }

  async function admit(pass: Pass): Promise<AdmissionHookResult> {
    const { req } = pass;
    const base: MatchAttributes = {
      operation: req.operation,
      resource: req.resource,
      subResource: req.subResource ?? '',
      kind: req.kind,
      namespace: req.namespace,
      name: req.name,
      userInfo: req.userInfo,
      dryRun: req.dryRun,
      options: req.options,
      object: mutatingStageObject(req),
      oldObject: encoded(req.oldObject as Loose | null),
    };
    const mutated = await mutate(pass, base);
    if ('end' in mutated) return failure(mutated.end, pass);
    const attrs = { ...base, object: validatingStageObject(mutated.object, req, randomUUID(), now()) };
    // The ValidatingAdmissionPolicy plugin: in-process, between the two webhook stages (AllOrderedPlugins).
    const sink = { run: pass.run.policies, warn: (t: string) => addWarnings(pass.run.warnings, [t]), audit: (k: string, v: string) => pass.audit.add(k, v), log };
    const refused = policies.dispatch(attrs, sink);
    if (refused !== undefined) return failure(refused, pass);
    const denied = await validate(pass, attrs);
    if (denied !== undefined) return failure(denied, pass);
    // Unpatched objects go back as the API server sent them, so nothing but the webhooks changes them.
    return { allowed: true, object: mutated.patched ? mutated.object : req.object, warnings: [...pass.run.warnings] };
  }

  return {
    async hook(req) {
      const run: AdmissionRun = { request: structuredClone(req), calls: [], skipped: [], auditAnnotations: {}, warnings: [], policies: { evaluated: [], conditionsNotMet: [], decisions: [] } };
      history.push(run);
      const pass: Pass = { req, run, audit: createAuditRecorder(), requestDeadline: Date.now() + requestTimeoutMs };
      try {
        run.result = await admit(pass);
        return run.result;
      } finally {
        run.auditAnnotations = pass.audit.snapshot();
      }
    },
    get history() {
      return history;
    },
    get last() {
      return history[history.length - 1];
    },
    get lastCalls() {
      return history[history.length - 1]?.calls ?? [];
    },
    reset() {
      history.length = 0;
    },
    close() {
      agent.destroy();
    },
  };
}
