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

/** Parses each quantity once per container, reporting unparseable ones a single time. */
function quantityReader(site: ContainerSite, parse: CheckInput['quantity'], make: MakeViolation, out: Violation[]) {
  const memo = new Map<string, Quantity | null>();
  return (kind: Kind, name: string): Quantity | null => {
    const key = `${kind}.${name}`;
    if (memo.has(key)) return memo.get(key)!;
    const raw = site.container.resources?.[kind]?.[name];
    const q = parse(raw);
    if (!q.ok) {
      out.push(make({ site, path: `${site.path}.resources.${kind}.${name}`, value: String(raw), message: `${site.label}: ${kind}.${name} "${String(raw)}" could not be parsed as a quantity`, fix: `use a Kubernetes quantity, e.g. ${name}: ${EXAMPLE[name] ?? '1'}` }));
    }
    memo.set(key, q.ok ? q.value : null);
    return q.ok ? q.value : null;
  };
}

function setHint(site: ContainerSite, kind: Kind, names: readonly string[]): string {
  const values = names.map((n) => `${n}=${EXAMPLE[n] ?? '1'}`).join(',');
  return `set resources.${kind}.${names.join(' and ')} on ${site.name}, e.g. kubectl set resources deployment/<name> -c ${site.name} --${kind}=${values}`;
}

/** Evaluates a resources rule over every container in its lists (containers and initContainers by default). */
export function checkResources(rule: CompiledResourcesRule, input: CheckInput, make: MakeViolation): Violation[] {
  const out: Violation[] = [];
  for (const site of containersOf(input.template, rule.containers, input.templatePrefix)) {
    if (rule.exempt.length && typeof site.container.image === 'string') {
      const ref = input.image(site.container.image);
      if (ref.ok && matchesAny(rule.exempt, ref.value)) continue;
    }
    const read = quantityReader(site, input.quantity, make, out);
    for (const kind of ['requests', 'limits'] as const) {
      const list = site.container.resources?.[kind];
      // A required quantity must also parse: presence alone would let `cpu: lots` through when no maximum is set.
      // Names the rule does not mention stay unjudged, as Gatekeeper's "-1 skips this resource" expects.
      for (const name of kind === 'requests' ? rule.requests : rule.limits) if (present(list, name)) read(kind, name);
      const required = kind === 'requests' ? rule.requests : rule.limits;
      const missing = required.filter((name) => !present(list, name));
      if (missing.length && !Object.keys(list ?? {}).length) {
        // No map at all is one problem (Gatekeeper counts it once), however many names it lacks.
        out.push(make({ site, path: `${site.path}.resources.${kind}`, message: `${site.label}: has no resource ${kind} (needs ${missing.join(' and ')})`, fix: setHint(site, kind, missing) }));
      } else {
        for (const name of missing) {
          out.push(make({ site, path: `${site.path}.resources.${kind}.${name}`, message: `${site.label}: missing ${kind}.${name}`, fix: setHint(site, kind, [name]) }));
        }
      }
      const maxima = kind === 'requests' ? rule.maxRequests : rule.maxLimits;
      for (const [name, max] of maxima) {
        if (!present(list, name)) continue;
        const q = read(kind, name);
        if (q && compareQuantities(q, max) > 0) {
          out.push(make({ site, path: `${site.path}.resources.${kind}.${name}`, value: String(list![name]), message: `${site.label}: ${kind}.${name} ${String(list![name])} is above the maximum ${formatQuantity(max)}`, fix: `lower ${kind}.${name} to at most ${formatQuantity(max)}` }));
        }
      }
    }
    for (const [name, ratio] of rule.maxLimitRequestRatio) {
      const limits = site.container.resources?.limits;
      const requests = site.container.resources?.requests;
      if (!present(limits, name) || !present(requests, name)) continue;
      const limit = read('limits', name);
      const request = read('requests', name);
      if (!limit || !request) continue;
      if (isZero(request) ? !isZero(limit) : compareQuantities(limit, multiplyQuantity(request, ratio)) > 0) {
        out.push(make({ site, path: `${site.path}.resources.limits.${name}`, value: String(limits![name]), message: `${site.label}: limits.${name} ${String(limits![name])} is more than ${formatQuantity(ratio)}× requests.${name} ${String(requests![name])}`, fix: `raise requests.${name} or lower limits.${name} so that limit ≤ ${formatQuantity(ratio)} × request` }));
      }
    }
  }
  return out;
}
