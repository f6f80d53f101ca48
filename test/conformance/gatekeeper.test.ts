/**
 * Conformance with the Gatekeeper policy library: every case in test/fixtures/conformance/index.json is
 * translated into a tracegate policy and evaluated on the Pod and (where Kubernetes allows it) on a
 * Deployment wrapping the Pod. The verdict — and the violation counts where upstream asserts them —
 * must agree for every case.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { KubeObject } from '../../src/k8s/types.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { evaluate } from '../../src/policy/evaluate.js';
import type { PolicySet, RequestContext } from '../../src/policy/types.js';
import { policyFor } from '../support/gatekeeper-convert.js';

const corpus = fileURLToPath(new URL('../fixtures/conformance/', import.meta.url));

interface Case {
  id: string;
  policy_kind: string;
  params: Record<string, unknown>;
  resource_file: string;
  resource_kind: string;
  expected: 'allow' | 'deny';
  expected_violations: number | 'yes' | 'no' | null;
  expected_messages: { message_contains?: string; message_equals?: string; violations?: number | 'yes' | null }[];
}

const cases = JSON.parse(readFileSync(join(corpus, 'index.json'), 'utf8')) as Case[];
const ctx: RequestContext = { operation: 'CREATE', namespace: 'default', username: 'conformance', groups: [] };

/**
 * Gatekeeper's K8sImageDigests accepts any digest the OCI grammar admits; tracegate accepts only the
 * algorithms a rule lists (default: the registered sha256 and sha512, which runtimes can verify). The
 * upstream tests pin with two unregistered algorithms, so the translation lists them explicitly.
 */
const GATEKEEPER_DIGEST_ALGORITHMS = ['sha256', 'sha512', 'multihash+base58', 'sha256+b64u'];

function setFor(kind: string, params: Record<string, unknown>, target: 'object' | 'podTemplate'): PolicySet {
  const doc = policyFor(kind, params, target);
  if (!doc) return { policies: [], digest: 'none' };
  const images = doc.spec.rules[0]?.images;
  if (kind === 'K8sImageDigests' && images) images.digestAlgorithms = GATEKEEPER_DIGEST_ALGORITHMS;
  const compiled = compilePolicy(doc, { file: 'conformance', document: 0 }, { annotationPrefix: 'tracegate.io/' });
  assert.ok(compiled.ok, `policy for ${kind} compiles: ${JSON.stringify(!compiled.ok && compiled.problems)}`);
  return { policies: [compiled.value], digest: compiled.value.digest };
}

/** The README's recipe: the Pod becomes a Deployment's pod template, labels gain app=<name>. */
function wrapInDeployment(pod: KubeObject): KubeObject {
  const name = pod.metadata?.name ?? 'case';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { ...(pod.metadata?.labels ?? {}), app: name }, ...(pod.metadata?.annotations ? { annotations: pod.metadata.annotations } : {}) },
        spec: pod.spec,
      },
    },
  };
}

function pick(meta: KubeObject['metadata'], keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => meta?.[k] !== undefined).map((k) => [k, meta![k]]));
}

function checkCase(c: Case, object: KubeObject, set: PolicySet): void {
  const result = evaluate(set, ctx, object);
  const messages = result.violations.map((v) => v.message);
  const detail = `${c.id}\n  violations: ${JSON.stringify(messages, null, 1)}`;
  assert.equal(result.verdict === 'deny' ? 'deny' : 'allow', c.expected, `verdict for ${detail}`);
  if (typeof c.expected_violations === 'number') assert.equal(messages.length, c.expected_violations, `count for ${detail}`);
  for (const m of c.expected_messages) {
    if (m.message_equals !== undefined) {
      assert.ok(messages.includes(m.message_equals), `a message equals ${JSON.stringify(m.message_equals)} in ${detail}`);
      continue;
    }
    const n = messages.filter((msg) => msg.includes(m.message_contains!)).length;
    if (typeof m.violations === 'number') assert.equal(n, m.violations, `messages containing ${JSON.stringify(m.message_contains)} in ${detail}`);
    else assert.ok(n >= 1, `some message contains ${JSON.stringify(m.message_contains)} in ${detail}`);
  }
}

describe('Gatekeeper library conformance', () => {
  it('has the whole corpus', () => assert.equal(cases.length, 273));

  for (const c of cases) {
    it(c.id, () => {
      const resource = parseYaml(readFileSync(join(corpus, c.resource_file), 'utf8')) as KubeObject;
      if (resource.kind !== 'Pod') {
        // Namespace and Service cases test the key/regex logic: apply it to a Deployment's own metadata.
        const carrier = wrapInDeployment({ kind: 'Pod', metadata: { name: resource.metadata?.name ?? 'case' }, spec: { containers: [] } });
        carrier.metadata = { ...carrier.metadata, ...pick(resource.metadata, ['labels', 'annotations']) };
        checkCase(c, carrier, setFor(c.policy_kind, c.params, 'object'));
        return;
      }
      checkCase(c, resource, setFor(c.policy_kind, c.params, 'object'));
      if (!resource.spec?.ephemeralContainers) {
        const target = c.policy_kind.startsWith('K8sRequired') && !c.policy_kind.includes('Resources') ? 'podTemplate' : 'object';
        checkCase(c, wrapInDeployment(resource), setFor(c.policy_kind, c.params, target));
      }
    });
  }
});
