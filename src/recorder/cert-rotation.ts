/**
 * The recorder's leader keeps the gate's certificates valid (certs.mode self): on becoming leader and
 * then every interval it reads the CA Secret (recorder-only), the TLS Secret (mounted by the gate) and
 * both webhook configurations, and applies one step of src/certs/rotation-plan.ts at a time, re-reading
 * after each, until the plan is idle. Secrets are replaced with their resourceVersion and the caBundles
 * patched with it, so a concurrent writer is a 409: read again, plan again.
 */
import { isIP } from 'node:net';
import type { AdmissionregistrationV1Api, CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { caBundleBase64, issueCa, issueServingCert, serviceDnsNames } from '../certs/index.js';
import type { KeyPairGenerator } from '../certs/index.js';
import { DEFAULT_ROTATION_THRESHOLDS, planRotation, splitBundle } from '../certs/rotation-plan.js';
import type { RotationStep, RotationThresholds, WebhookTrust } from '../certs/rotation-plan.js';
import { TracegateError } from '../errors.js';
import { reasonOf, statusOf } from '../kube/api-error.js';
import type { RecorderMetrics } from './metrics.js';

/**
 * A fresh start takes four steps (CA, bundle, serving, none left) and a roll as many; a few more absorb
 * 409s from a concurrent writer. Beyond that something undoes our writes: stop and retry next interval.
 */
const MAX_STEPS = 12;
/** What the gate's Service is called when no webhook configuration names one (the chart's name). */
const DEFAULT_SERVICE = 'tracegate';
const KINDS = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const;
/** Marks the Secrets this loop writes, so `kubectl get secret -l` finds them. */
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'tracegate-recorder' };

/** Where the certificates live and how often they are checked. */
export interface CertRotationConfig {
  /** Namespace of both Secrets (the recorder's own). */
  namespace: string;
  /** The Secret the gate mounts (tls.crt, tls.key, ca.crt). */
  tlsSecret: string;
  /** The Secret with the CA key, read by the recorder only (default `<tlsSecret>-ca`). */
  caSecret?: string;
  /** Name of both the Mutating- and the ValidatingWebhookConfiguration. */
  webhookConfiguration: string;
  intervalMs: number;
  thresholds?: Partial<RotationThresholds>;
  /** Cluster DNS domain for the Service's full name (cluster.local). */
  clusterDomain?: string;
}

export interface CertRotatorDeps {
  core: Pick<CoreV1Api, 'readNamespacedSecret' | 'createNamespacedSecret' | 'replaceNamespacedSecret'>;
  admission: Pick<
    AdmissionregistrationV1Api,
    'readMutatingWebhookConfiguration' | 'readValidatingWebhookConfiguration' | 'patchMutatingWebhookConfiguration' | 'patchValidatingWebhookConfiguration'
  >;
  log: Logger;
  metrics: Pick<RecorderMetrics, 'certExpiry' | 'certRotations' | 'certErrors'>;
  config: CertRotationConfig;
  /** Asked before every write: only the Lease holder writes. */
  canWrite: () => boolean;
  now?: () => Date;
  generateKeyPair?: KeyPairGenerator;
  /** Awaited after every applied step (tests look at the cluster between steps). */
  afterStep?: (step: RotationStep) => Promise<void> | void;
}

/** How one reconcile ended. */
export type RotationOutcome = { result: 'idle' | 'not-leader' | 'error' | 'too-many-steps'; steps: RotationStep['action'][] };

interface SecretState {
  data: Record<string, string>;
  secret: V1Secret;
}

interface ConfigState {
  kind: (typeof KINDS)[number];
  resourceVersion: string;
  names: string[];
}

interface ClusterState {
  ca?: SecretState;
  tls?: SecretState;
  configs: ConfigState[];
  webhooks: WebhookTrust[];
  dnsNames: string[];
}

/**
 * Refuses windows that would re-issue on every check: a fresh certificate must not already be due
 * (window ≥ lifetime), and the CA must be rolled before serving certificates capped at its end fall
 * inside their own renewal window. Throws CONFIG_INVALID.
 */
export function checkThresholds(t: RotationThresholds): RotationThresholds {
  const problems = [
    ...(t.servingRenewBeforeDays >= t.servingValidDays ? ['servingRenewBeforeDays must be below servingValidDays'] : []),
    ...(t.caRollBeforeDays >= t.caValidDays ? ['caRollBeforeDays must be below caValidDays'] : []),
    ...(t.caRollBeforeDays <= t.servingRenewBeforeDays ? ['caRollBeforeDays must exceed servingRenewBeforeDays'] : []),
    ...(t.propagationGraceMs < 0 ? ['propagationGraceMs must not be negative'] : []),
  ];
  if (problems.length > 0) throw new TracegateError('CONFIG_INVALID', `invalid certificate rotation windows: ${problems.join('; ')}`, { problems });
  return t;
}

/** Creates the rotator; it does nothing until `setActive(true)`. Throws CONFIG_INVALID on bad thresholds. */
export function createCertRotator(deps: CertRotatorDeps) {
  const { config, log, metrics } = deps;
  const now = deps.now ?? (() => new Date());
  const thresholds = checkThresholds({ ...DEFAULT_ROTATION_THRESHOLDS, ...config.thresholds });
  const caSecretName = config.caSecret ?? `${config.tlsSecret}-ca`;
  let active = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<RotationOutcome> | undefined;

  async function readSecret(name: string): Promise<SecretState | undefined> {
    try {
      const secret = await deps.core.readNamespacedSecret({ name, namespace: config.namespace });
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
      return { data, secret };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async function readConfig(kind: ConfigState['kind']) {
    const name = config.webhookConfiguration;
    try {
      return kind === 'MutatingWebhookConfiguration'
        ? await deps.admission.readMutatingWebhookConfiguration({ name })
        : await deps.admission.readValidatingWebhookConfiguration({ name });
    } catch (err) {
      // One of the two may be switched off in the chart: rotate for whichever exists.
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async function readState(): Promise<ClusterState> {
    const [ca, tls, ...configs] = await Promise.all([readSecret(caSecretName), readSecret(config.tlsSecret), ...KINDS.map(readConfig)]);
    const state: ClusterState = { ...(ca ? { ca } : {}), ...(tls ? { tls } : {}), configs: [], webhooks: [], dnsNames: [] };
    const names = new Set<string>();
    KINDS.forEach((kind, i) => {
      const found = configs[i];
      if (!found) return;
      const hooks = found.webhooks ?? [];
      state.configs.push({ kind, resourceVersion: found.metadata?.resourceVersion ?? '', names: hooks.map((w) => w.name) });
      for (const hook of hooks) {
        const bundle = hook.clientConfig.caBundle;
        state.webhooks.push({ configuration: config.webhookConfiguration, kind, webhook: hook.name, caBundlePem: bundle ? Buffer.from(bundle, 'base64').toString('utf8') : undefined });
        const svc = hook.clientConfig.service;
        if (svc) for (const n of serviceDnsNames(svc.name, svc.namespace, config.clusterDomain)) names.add(n);
        else if (hook.clientConfig.url && URL.canParse(hook.clientConfig.url)) {
          const host = new URL(hook.clientConfig.url).hostname;
          // A DNS name only: the chart's webhooks call a Service; an IP-addressed URL is not ours to certify.
          if (isIP(host) === 0) names.add(host);
        }
      }
    });
    state.dnsNames = names.size > 0 ? [...names] : serviceDnsNames(DEFAULT_SERVICE, config.namespace, config.clusterDomain);
    return state;
  }

  /** Creates the Secret, or replaces it at the resourceVersion it was read at (a 409 if someone wrote since). */
  async function writeSecret(name: string, type: string, existing: SecretState | undefined, data: Record<string, string>): Promise<void> {
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
    if (!existing) {
      await deps.core.createNamespacedSecret({ namespace: config.namespace, body: { apiVersion: 'v1', kind: 'Secret', type, metadata: { name, namespace: config.namespace, labels: MANAGED_BY }, data: encoded } });
      return;
    }
    const body: V1Secret = { ...existing.secret, data: { ...existing.secret.data, ...encoded } };
    await deps.core.replaceNamespacedSecret({ name, namespace: config.namespace, body });
  }

  /** One JSON patch per configuration: its resourceVersion (the apiserver's precondition) and each stale caBundle. */
  async function publish(state: ClusterState, bundlePem: string, stale: WebhookTrust[]): Promise<void> {
    const value = caBundleBase64(bundlePem);
    for (const cfg of state.configs) {
      const ops: object[] = [{ op: 'replace', path: '/metadata/resourceVersion', value: cfg.resourceVersion }];
      cfg.names.forEach((name, i) => {
        if (!stale.some((w) => w.kind === cfg.kind && w.webhook === name)) return;
        // The test guards the index: a reordered list fails (422) instead of patching the wrong webhook.
        ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: name }, { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value });
      });
      if (ops.length === 1) continue;
      const options = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
      const name = config.webhookConfiguration;
      if (cfg.kind === 'MutatingWebhookConfiguration') await deps.admission.patchMutatingWebhookConfiguration({ name, body: ops }, options);
      else await deps.admission.patchValidatingWebhookConfiguration({ name, body: ops }, options);
    }
  }

  async function apply(step: Exclude<RotationStep, { action: 'idle' }>, state: ClusterState): Promise<void> {
    const t = now();
    switch (step.action) {
      case 'issue-ca': {
        const ca = issueCa({ now: t, validDays: thresholds.caValidDays, ...(deps.generateKeyPair ? { generateKeyPair: deps.generateKeyPair } : {}) });
        await writeSecret(caSecretName, 'Opaque', state.ca, { 'ca.crt': ca.certPem, 'ca.key': ca.keyPem });
        log.info({ action: step.action, secret: `${config.namespace}/${caSecretName}`, serial: ca.serialHex, notAfter: ca.notAfter.toISOString(), reason: step.reason }, step.roll ? 'issued a new CA (roll: published beside the old one before use)' : 'issued a new CA');
        return;
      }
      case 'publish-bundle': {
        await publish(state, step.bundlePem, step.webhooks);
        const cas = splitBundle(step.bundlePem).map((c) => ({ serial: c.info.serialHex, notAfter: c.info.notAfter.toISOString() }));
        log.info({ action: step.action, configuration: config.webhookConfiguration, webhooks: step.webhooks.map((w) => w.webhook), cas, reason: step.reason }, 'caBundle written');
        return;
      }
      case 'issue-serving': {
        const serving = issueServingCert({ ca: step.ca, dnsNames: state.dnsNames, now: t, validDays: thresholds.servingValidDays, ...(deps.generateKeyPair ? { generateKeyPair: deps.generateKeyPair } : {}) });
        await writeSecret(config.tlsSecret, 'kubernetes.io/tls', state.tls, { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem, 'ca.crt': step.trustPem });
        log.info({ action: step.action, secret: `${config.namespace}/${config.tlsSecret}`, serial: serving.serialHex, notAfter: serving.notAfter.toISOString(), reason: step.reason }, 'issued a serving certificate');
        return;
      }
      case 'update-trust': {
        await writeSecret(config.tlsSecret, 'kubernetes.io/tls', state.tls, { 'ca.crt': step.trustPem });
        log.info({ action: step.action, secret: `${config.namespace}/${config.tlsSecret}`, cas: splitBundle(step.trustPem).length, reason: step.reason }, 'TLS Secret ca.crt updated');
        return;
      }
    }
  }

  /** Plans and applies steps until idle (or not leading, or an error: retried next interval). */
  async function reconcileOnce(): Promise<RotationOutcome> {
    const steps: RotationStep['action'][] = [];
    for (let i = 0; i < MAX_STEPS; i++) {
      let state: ClusterState;
      let step: RotationStep;
      try {
        state = await readState();
        step = planRotation({ now: now(), dnsNames: state.dnsNames, caSecret: state.ca?.data, tlsSecret: state.tls?.data, webhooks: state.webhooks, thresholds });
      } catch (err) {
        metrics.certErrors.inc();
        log.warn({ status: statusOf(err), err: reasonOf(err) }, 'certificate check cannot read the cluster; retrying next interval');
        return { result: 'error', steps };
      }
      if (step.action === 'idle') {
        metrics.certExpiry.set({ certificate: 'serving' }, step.serving.notAfter.getTime() / 1000);
        metrics.certExpiry.set({ certificate: 'ca' }, step.ca.notAfter.getTime() / 1000);
        log.debug({ serving: step.serving.serialHex, notAfter: step.serving.notAfter.toISOString(), caBundleCas: step.bundleCas }, 'certificates current');
        return { result: 'idle', steps };
      }
      if (!deps.canWrite()) return { result: 'not-leader', steps };
      try {
        await apply(step, state);
      } catch (err) {
        if (statusOf(err) === 409) {
          log.info({ action: step.action }, 'certificate write lost a race (409); reading again');
          continue;
        }
        metrics.certErrors.inc();
        log.warn({ action: step.action, status: statusOf(err), err: reasonOf(err) }, 'certificate rotation step failed; retrying next interval');
        return { result: 'error', steps };
      }
      steps.push(step.action);
      metrics.certRotations.inc({ action: step.action });
      await deps.afterStep?.(step);
    }
    metrics.certErrors.inc();
    log.warn({ steps }, 'certificate rotation did not settle; something keeps undoing it; retrying next interval');
    return { result: 'too-many-steps', steps };
  }

  /** Runs are serialised: a tick while one runs waits for it and then runs again. */
  function reconcile(): Promise<RotationOutcome> {
    const next = (running ?? Promise.resolve()).then(() => reconcileOnce());
    running = next.catch(() => ({ result: 'error' as const, steps: [] }));
    return next;
  }

  // Bumped on every change of leadership, so a run finishing from an earlier term schedules nothing.
  let term = 0;
  function schedule(forTerm: number): void {
    if (!active || forTerm !== term) return;
    timer = setTimeout(() => void reconcile().finally(() => schedule(forTerm)), config.intervalMs);
    timer.unref();
  }

  return {
    /** Leadership: start on gaining it (one run at once, then every interval), stop on losing it. */
    setActive(next: boolean): void {
      if (next === active) return;
      active = next;
      if (timer) clearTimeout(timer);
      timer = undefined;
      const current = ++term;
      if (active) void reconcile().finally(() => schedule(current));
    },
    reconcile,
    /** Resolves when no run is in flight. */
    idle: async (): Promise<void> => void (await running),
  };
}

export type CertRotator = ReturnType<typeof createCertRotator>;
