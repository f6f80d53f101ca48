/**
 * Resource rules: required requests/limits per resource name, minimums, maximums, and limit÷request
 * ratios. Quantities mean what Kubernetes means by them: a limit of 0 is no limit (the kubelet sets no
 * CFS quota and no memory cap for it; `kubectl set resources --limits=cpu=0` is kubectl's documented way
 * to remove one), and a request of 0 reserves nothing (the container is best-effort for that resource).
 */
import { matchesAny } from '../../images/index.js';
import { compareQuantities, formatQuantity, isZero, multiplyQuantity, type Quantity } from '../../quantities/index.js';
import type { KubeObject, ResourceList } from '../../k8s/types.js';
import type { CompiledResourcesRule, Violation } from '../types.js';
import { containersOf, type CheckInput, type ContainerSite, type MakeViolation } from './context.js';

type Kind = 'requests' | 'limits';

/** Example values used in fix hints, so tenants can copy a working line. */
const EXAMPLE: Readonly<Record<string, string>> = { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '1Gi' };

/** What a zero quantity means, as the messages say it. */
const ZERO_MEANS: Readonly<Record<Kind, (name: string) => string>> = {
  limits: (name) => `limit ${name} is 0, which means no limit`,
  requests: (name) => `request ${name} is 0, which reserves nothing (the container is best-effort for ${name})`,
};

function present(list: ResourceList | undefined, name: string): boolean {
  const v = list?.[name];
  return v !== undefined && v !== null && v !== '';
}

/** What one resources check carries between containers: where findings go, and what was already reported. */
interface ResourceCheck {
  rule: CompiledResourcesRule;
  parse: CheckInput['quantity'];
  make: MakeViolation;
  out: Violation[];
  /** `kubectl set resources` target for fix hints (`statefulset/db`), or undefined for a Pod. */
  target: string | undefined;
  /** `<container path>|<kind>.<name>` of every unparseable quantity already reported; made on the first one. */
  unparseable?: Set<string>;
}

/**
 * A container's quantity, parsed (the parse memo makes a second read cheap); an unparseable one is
 * reported the first time it is read and is null every time.
 */
function readQuantity(check: ResourceCheck, site: ContainerSite, kind: Kind, name: string): Quantity | null {
  const raw = site.container.resources?.[kind]?.[name];
  const q = check.parse(raw);
  if (q.ok) return q.value;
  const key = `${site.path}|${kind}.${name}`;
  if (!check.unparseable?.has(key)) {
    (check.unparseable ??= new Set()).add(key);
    check.out.push(check.make({ site, path: `${site.path}.resources.${kind}.${name}`, value: String(raw), message: `${site.label}: ${kind}.${name} "${String(raw)}" could not be parsed as a quantity`, fix: `use a Kubernetes quantity, e.g. ${name}: ${EXAMPLE[name] ?? '1'}` }));
  }
  return null;
}

/**
 * Where a fix hint sends the user: `kubectl set resources <kind>/<name>` works for every kind with a pod
 * template (kubectl's polymorphic UpdatePodSpecForObject); a Pod's resources cannot be changed that way,
 * as the apiserver lets a running Pod change them only through its `resize` subresource.
 */
function setResourcesTarget(object: KubeObject): string | undefined {
  if (object.kind === 'Pod' || typeof object.kind !== 'string') return undefined;
  const name = object.metadata?.name;
  return `${object.kind.toLowerCase()}/${typeof name === 'string' && name ? name : '<name>'}`;
}

function setHint(check: ResourceCheck, site: ContainerSite, kind: Kind, names: readonly string[]): string {
  const values = names.map((n) => `${n}=${EXAMPLE[n] ?? '1'}`).join(',');
  const what = `set resources.${kind}.${names.join(' and ')} on ${site.name}`;
  if (check.target) return `${what}, e.g. kubectl set resources ${check.target} -c ${site.name} --${kind}=${values}`;
  return `${what} in the Pod's manifest (e.g. kubectl set resources -f pod.yaml --local -o yaml -c ${site.name} --${kind}=${values}) and create the Pod again: a running Pod's resources change only through its resize subresource`;
}

/** Required names, zero values, then minima and maxima, of one list (requests or limits) of one container. */
function checkList(check: ResourceCheck, site: ContainerSite, kind: Kind): void {
  const { rule, make, out } = check;
  const list = site.container.resources?.[kind];
  const required = kind === 'requests' ? rule.requests : rule.limits;
  let missing: string[] | undefined;
  /** Names already reported as 0: a zero is one problem, not also a minimum or maximum one. */
  let zero: string[] | undefined;
  for (const name of required) {
    // A required quantity must also parse: presence alone would let `cpu: lots` through when no maximum is set.
    // Names the rule does not mention stay unjudged, as Gatekeeper's "-1 skips this resource" expects.
    if (!present(list, name)) {
      (missing ??= []).push(name);
      continue;
    }
    const q = readQuantity(check, site, kind, name);
    if (q && isZero(q)) {
      (zero ??= []).push(name);
      out.push(make({ site, path: `${site.path}.resources.${kind}.${name}`, value: String(list![name]), message: `${site.label}: ${ZERO_MEANS[kind](name)}`, fix: setHint(check, site, kind, [name]) }));
    }
  }
  if (missing && !Object.keys(list ?? {}).length) {
    // No map at all is one problem (Gatekeeper counts it once), however many names it lacks.
    out.push(make({ site, path: `${site.path}.resources.${kind}`, message: `${site.label}: has no resource ${kind} (needs ${missing.join(' and ')})`, fix: setHint(check, site, kind, missing) }));
  } else if (missing) {
    for (const name of missing) {
      out.push(make({ site, path: `${site.path}.resources.${kind}.${name}`, message: `${site.label}: missing ${kind}.${name}`, fix: setHint(check, site, kind, [name]) }));
    }
  }
  const minima = kind === 'requests' ? rule.minRequests : rule.minLimits;
  for (const [name, min] of minima) {
    if (!present(list, name) || zero?.includes(name)) continue;
    const q = readQuantity(check, site, kind, name);
    // A zero limit is no limit at all: more than any minimum.
    if (!q || (kind === 'limits' && isZero(q)) || compareQuantities(q, min) >= 0) continue;
    out.push(make({ site, path: `${site.path}.resources.${kind}.${name}`, value: String(list![name]), message: `${site.label}: ${kind}.${name} ${String(list![name])} is below the minimum ${formatQuantity(min)}`, fix: `raise ${kind}.${name} to at least ${formatQuantity(min)}` }));
  }
  const maxima = kind === 'requests' ? rule.maxRequests : rule.maxLimits;
  for (const [name, max] of maxima) {
    if (!present(list, name) || zero?.includes(name)) continue;
    const q = readQuantity(check, site, kind, name);
    if (!q) continue;
    if (kind === 'limits' && isZero(q)) {
      out.push(make({ site, path: `${site.path}.resources.limits.${name}`, value: String(list![name]), message: `${site.label}: ${ZERO_MEANS.limits(name)}, above the maximum ${formatQuantity(max)}`, fix: `set limits.${name} to at most ${formatQuantity(max)}, and more than 0` }));
    } else if (compareQuantities(q, max) > 0) {
      out.push(make({ site, path: `${site.path}.resources.${kind}.${name}`, value: String(list![name]), message: `${site.label}: ${kind}.${name} ${String(list![name])} is above the maximum ${formatQuantity(max)}`, fix: `lower ${kind}.${name} to at most ${formatQuantity(max)}` }));
    }
  }
}

/**
 * limit ≤ ratio × request per name. A zero limit is no limit, so no ratio holds — as Kubernetes'
 * LimitRanger says for maxLimitRequestRatio ("no limit is specified or limit is 0").
 */
function checkRatios(check: ResourceCheck, site: ContainerSite): void {
  for (const [name, ratio] of check.rule.maxLimitRequestRatio) {
    const limits = site.container.resources?.limits;
    const requests = site.container.resources?.requests;
    if (!present(limits, name) || !present(requests, name)) continue;
    const limit = readQuantity(check, site, 'limits', name);
    const request = readQuantity(check, site, 'requests', name);
    if (!limit || !request) continue;
    if (isZero(limit)) {
      check.out.push(check.make({ site, path: `${site.path}.resources.limits.${name}`, value: String(limits![name]), message: `${site.label}: ${ZERO_MEANS.limits(name)}, so limit ÷ request is unbounded (at most ${formatQuantity(ratio)} allowed)`, fix: `set limits.${name} to more than 0 and at most ${formatQuantity(ratio)} × requests.${name}` }));
    } else if (isZero(request) || compareQuantities(limit, multiplyQuantity(request, ratio)) > 0) {
      check.out.push(check.make({ site, path: `${site.path}.resources.limits.${name}`, value: String(limits![name]), message: `${site.label}: limits.${name} ${String(limits![name])} is more than ${formatQuantity(ratio)}× requests.${name} ${String(requests![name])}`, fix: `raise requests.${name} or lower limits.${name} so that limit ≤ ${formatQuantity(ratio)} × request` }));
    }
  }
}

/** Evaluates a resources rule over every container in its lists (containers and initContainers by default). */
export function checkResources(rule: CompiledResourcesRule, input: CheckInput, make: MakeViolation): Violation[] {
  const check: ResourceCheck = { rule, parse: input.quantity, make, out: [], target: setResourcesTarget(input.object) };
  for (const site of containersOf(input.template, rule.containers, input.templatePrefix)) {
    if (rule.exempt.length && typeof site.container.image === 'string') {
      const ref = input.image(site.container.image);
      if (ref.ok && matchesAny(rule.exempt, ref.value)) continue;
    }
    checkList(check, site, 'requests');
    checkList(check, site, 'limits');
    if (rule.maxLimitRequestRatio.size) checkRatios(check, site);
  }
  return check.out;
}
