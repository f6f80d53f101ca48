/** Resource rules: required requests/limits per resource name, maximums, and limit÷request ratios. */
import { matchesAny } from '../../images/index.js';
import { compareQuantities, formatQuantity, isZero, multiplyQuantity, type Quantity } from '../../quantities/index.js';
import type { ResourceList } from '../../k8s/types.js';
import type { CompiledResourcesRule, Violation } from '../types.js';
import { containersOf, type CheckInput, type ContainerSite, type MakeViolation } from './context.js';

type Kind = 'requests' | 'limits';

/** Example values used in fix hints, so tenants can copy a working line. */
const EXAMPLE: Readonly<Record<string, string>> = { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '1Gi' };

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

function setHint(site: ContainerSite, kind: Kind, names: readonly string[]): string {
  const values = names.map((n) => `${n}=${EXAMPLE[n] ?? '1'}`).join(',');
  return `set resources.${kind}.${names.join(' and ')} on ${site.name}, e.g. kubectl set resources deployment/<name> -c ${site.name} --${kind}=${values}`;
}

/** Required names, then maxima, of one list (requests or limits) of one container. */
function checkList(check: ResourceCheck, site: ContainerSite, kind: Kind): void {
  const { rule, make, out } = check;
  const list = site.container.resources?.[kind];
  const required = kind === 'requests' ? rule.requests : rule.limits;
  let missing: string[] | undefined;
  // Indexed: `required` is a frozen rule field, and for…of over one allocates per element.
  for (let i = 0; i < required.length; i++) {
    const name = required[i]!;
    // A required quantity must also parse: presence alone would let `cpu: lots` through when no maximum is set.
    // Names the rule does not mention stay unjudged, as Gatekeeper's "-1 skips this resource" expects.
    if (present(list, name)) readQuantity(check, site, kind, name);
    else (missing ??= []).push(name);
  }
  if (missing && !Object.keys(list ?? {}).length) {
    // No map at all is one problem (Gatekeeper counts it once), however many names it lacks.
    out.push(make({ site, path: `${site.path}.resources.${kind}`, message: `${site.label}: has no resource ${kind} (needs ${missing.join(' and ')})`, fix: setHint(site, kind, missing) }));
  } else if (missing) {
    for (const name of missing) {
      out.push(make({ site, path: `${site.path}.resources.${kind}.${name}`, message: `${site.label}: missing ${kind}.${name}`, fix: setHint(site, kind, [name]) }));
    }
  }
  const maxima = kind === 'requests' ? rule.maxRequests : rule.maxLimits;
  if (!maxima.size) return;
  for (const [name, max] of maxima) {
    if (!present(list, name)) continue;
    const q = readQuantity(check, site, kind, name);
    if (q && compareQuantities(q, max) > 0) {
      out.push(make({ site, path: `${site.path}.resources.${kind}.${name}`, value: String(list![name]), message: `${site.label}: ${kind}.${name} ${String(list![name])} is above the maximum ${formatQuantity(max)}`, fix: `lower ${kind}.${name} to at most ${formatQuantity(max)}` }));
    }
  }
}

function checkRatios(check: ResourceCheck, site: ContainerSite): void {
  for (const [name, ratio] of check.rule.maxLimitRequestRatio) {
    const limits = site.container.resources?.limits;
    const requests = site.container.resources?.requests;
    if (!present(limits, name) || !present(requests, name)) continue;
    const limit = readQuantity(check, site, 'limits', name);
    const request = readQuantity(check, site, 'requests', name);
    if (!limit || !request) continue;
    if (isZero(request) ? !isZero(limit) : compareQuantities(limit, multiplyQuantity(request, ratio)) > 0) {
      check.out.push(check.make({ site, path: `${site.path}.resources.limits.${name}`, value: String(limits![name]), message: `${site.label}: limits.${name} ${String(limits![name])} is more than ${formatQuantity(ratio)}× requests.${name} ${String(requests![name])}`, fix: `raise requests.${name} or lower limits.${name} so that limit ≤ ${formatQuantity(ratio)} × request` }));
    }
  }
}

/** Evaluates a resources rule over every container in its lists (containers and initContainers by default). */
export function checkResources(rule: CompiledResourcesRule, input: CheckInput, make: MakeViolation): Violation[] {
  const check: ResourceCheck = { rule, parse: input.quantity, make, out: [] };
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
