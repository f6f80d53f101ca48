/**
 * Admission that follows the API server's store, as kube-apiserver's dynamic admission does: the
 * webhook configurations, ValidatingAdmissionPolicies and their bindings are whatever is stored — so a
 * `helm install` of the chart or `kubectl apply -k manifests/` turns admission on, a deletion turns it
 * off, and a caBundle patched into a stored configuration is the one the next call trusts.
 * - Reading: the apiserver's `configuration.NewMutatingWebhookConfigurationManager` & co. watch the
 *   objects through informers and hand the dispatcher the current list; here every admitted request
 *   compares the stored objects' resourceVersions with those the chain was built from and rebuilds it
 *   when they differ (so a change is seen by the very next request; the apiserver's is eventually
 *   consistent, a few milliseconds later).
 * - Writing: the apiserver validates these objects on create/update (`ValidateMutatingWebhookConfiguration`,
 *   `ValidateValidatingAdmissionPolicy`, … in pkg/apis/admissionregistration/validation, CEL compiled
 *   included); the chain's load-time validation runs as the server's `setObjectCheck`, so a configuration
 *   it would refuse is the 422 with its text and is never stored.
 * A stored object the chain cannot load (one put directly with `store.put`) is left out, with a log line.
 */
import type { JsonObject, ObjectCheckTarget, TestApiServer } from '../api-server/index.js';
import { createAdmissionChain } from './chain.js';
import { InvalidObjectError } from './field-errors.js';
import { loadWebhookConfigs } from './load.js';
import { loadAdmissionPolicies } from './policy-load.js';
import type { AdmissionPolicies } from './policy-types.js';
import type { AdmissionChain, AdmissionChainOptions, AdmissionRun, WebhookConfigs } from './types.js';

const GROUP = 'admissionregistration.k8s.io';
const API_VERSION = `${GROUP}/v1`;
/** The stored kinds admission follows, by resource. */
const KINDS: Readonly<Record<string, string>> = {
  mutatingwebhookconfigurations: 'MutatingWebhookConfiguration',
  validatingwebhookconfigurations: 'ValidatingWebhookConfiguration',
  validatingadmissionpolicies: 'ValidatingAdmissionPolicy',
  validatingadmissionpolicybindings: 'ValidatingAdmissionPolicyBinding',
};
const WEBHOOK_KINDS = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

/** Options of {@link followStoredAdmission}: a chain's options without the configurations, which come from the store. */
export interface StoredAdmissionOptions extends Omit<AdmissionChainOptions, 'mutating' | 'validating' | 'policies' | 'bindings' | 'namespaceLabels'> {
  server: Pick<TestApiServer, 'store' | 'setAdmission' | 'setObjectCheck'>;
  /** Default: the stored Namespace's labels. */
  namespaceLabels?: AdmissionChainOptions['namespaceLabels'];
}

/** The chain of whatever is stored; `close()` unplugs it from the server. */
export interface StoredAdmission extends AdmissionChain {
  /** The configurations the current chain was built from (rebuilt first if the store changed). */
  current(): WebhookConfigs & AdmissionPolicies;
}

type Loose = Record<string, any>;

function nameOf(o: JsonObject): string {
  const m = o['metadata'];
  return typeof m === 'object' && m !== null && !Array.isArray(m) ? String((m as Loose)['name'] ?? '') : '';
}

/** Loads one object as the chain would (`loadWebhookConfigs` / `loadAdmissionPolicies` of its JSON, which is YAML). */
function loadOne(kind: string, obj: JsonObject): WebhookConfigs & AdmissionPolicies {
  const text = JSON.stringify({ ...obj, apiVersion: API_VERSION, kind });
  const empty: WebhookConfigs & AdmissionPolicies = { mutating: [], validating: [], policies: [], bindings: [] };
  return WEBHOOK_KINDS.has(kind) ? { ...empty, ...loadWebhookConfigs(text) } : { ...empty, ...loadAdmissionPolicies(text) };
}

/** An `InvalidObjectError`'s `<path>: <detail>` texts as Status causes; any other refusal as one cause. */
function causes(err: unknown): { field: string; message: string }[] {
  if (err instanceof InvalidObjectError) {
    return err.errors.map((e) => {
      const at = e.indexOf(': ');
      return at < 0 ? { field: '', message: e } : { field: e.slice(0, at), message: e.slice(at + 2) };
    });
  }
  // Not an apiserver text (a shape the chain does not model): refused loudly rather than stored unchecked.
  return [{ field: 'admission-chain', message: err instanceof Error ? err.message : String(err) }];
}

/**
 * Plugs a chain that follows the stored configurations into `opts.server` (its admission hook and its
 * write check). Starts from what is stored now.
 */
export function followStoredAdmission(opts: StoredAdmissionOptions): StoredAdmission {
  const { server, ...chainOptions } = opts;
  const log = opts.log ?? (() => {});
  const namespaceLabels =
    opts.namespaceLabels ??
    ((ns: string) => {
      const obj = server.store.get('namespaces', '', ns) as Loose | undefined;
      return obj === undefined ? undefined : ((obj['metadata']?.['labels'] as Record<string, string> | undefined) ?? {});
    });
  const namespaceObject = opts.namespaceObject ?? ((ns: string) => server.store.get('namespaces', '', ns));
  const earlier: AdmissionRun[] = [];
  let chain: AdmissionChain | undefined;
  let builtFrom = '';
  let configs: WebhookConfigs & AdmissionPolicies = { mutating: [], validating: [], policies: [], bindings: [] };

  /** Name and resourceVersion of every stored object followed: what the chain is current with. */
  function fingerprint(): string {
    return JSON.stringify(Object.keys(KINDS).map((r) => server.store.list(r).map((o) => [nameOf(o), (o['metadata'] as Loose)['resourceVersion']])));
  }

  function rebuild(): AdmissionChain {
    const now = fingerprint();
    if (chain !== undefined && now === builtFrom) return chain;
    const next: WebhookConfigs & AdmissionPolicies = { mutating: [], validating: [], policies: [], bindings: [] };
    for (const [resource, kind] of Object.entries(KINDS)) {
      for (const obj of server.store.list(resource)) {
        try {
          const one = loadOne(kind, obj);
          next.mutating.push(...one.mutating);
          next.validating.push(...one.validating);
          next.policies.push(...one.policies);
          next.bindings.push(...one.bindings);
        } catch (err) {
          log(`ignoring stored ${kind} ${JSON.stringify(nameOf(obj))}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    if (chain !== undefined) {
      earlier.push(...chain.history);
      chain.close();
    }
    chain = createAdmissionChain({ ...chainOptions, ...next, namespaceLabels, namespaceObject });
    configs = next;
    builtFrom = now;
    return chain;
  }

  const check = (target: ObjectCheckTarget, obj: JsonObject): { field: string; message: string }[] => {
    const kind = target.group === GROUP ? KINDS[target.resource] : undefined;
    if (kind === undefined) return [];
    try {
      loadOne(kind, obj);
      return [];
    } catch (err) {
      return causes(err);
    }
  };

  rebuild();
  const self: StoredAdmission = {
    hook: (req) => rebuild().hook(req),
    get history() {
      return [...earlier, ...(chain?.history ?? [])];
    },
    get last() {
      return chain?.last ?? earlier[earlier.length - 1];
    },
    get lastCalls() {
      return self.last?.calls ?? [];
    },
    reset() {
      earlier.length = 0;
      chain?.reset();
    },
    close() {
      server.setAdmission(undefined);
      server.setObjectCheck(undefined);
      chain?.close();
    },
    current() {
      rebuild();
      return configs;
    },
  };
  server.setAdmission(self.hook);
  server.setObjectCheck(check);
  return self;
}
