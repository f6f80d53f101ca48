/** Image rules: allowed and disallowed registries/repositories, tags, digests, exemptions. */
import { matchesAny, type ImagePattern } from '../../images/index.js';
import type { CompiledImagesRule, Violation } from '../types.js';
import { containersOf, type CheckInput, type MakeViolation } from './context.js';

/** How many allow-list entries a message quotes before saying "and N more". */
const MAX_LISTED_PATTERNS = 5;

function listPatterns(patterns: readonly ImagePattern[]): string {
  const shown = patterns.slice(0, MAX_LISTED_PATTERNS).map((p) => p.source);
  const more = patterns.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

/** Evaluates an images rule over every container in its lists. */
export function checkImages(rule: CompiledImagesRule, input: CheckInput, make: MakeViolation): Violation[] {
  const out: Violation[] = [];
  for (const site of containersOf(input.template, rule.containers, input.templatePrefix)) {
    const raw = site.container.image;
    const path = `${site.path}.image`;
    if (typeof raw !== 'string' || raw === '') {
      // A container without an image is the apiserver's to reject; nothing to judge here.
      continue;
    }
    const parsed = input.image(raw);
    if (!parsed.ok) {
      out.push(make({ site, path, value: raw, message: `${site.label}: image "${raw}" is not a valid image reference: ${parsed.error}`, fix: 'use a reference like registry.example.com/team/app:1.2.3' }));
      continue;
    }
    const ref = parsed.value;
    if (rule.exempt.length && matchesAny(rule.exempt, ref)) continue;
    if (rule.allowed.length && !matchesAny(rule.allowed, ref)) {
      out.push(make({ site, path, value: raw, message: `${site.label}: image "${raw}" is not from an allowed registry or repository (allowed: ${listPatterns(rule.allowed)})`, fix: `use an image from ${listPatterns(rule.allowed)}` }));
    }
    const denied = rule.disallowed.length ? matchesAny(rule.disallowed, ref) : undefined;
    if (denied) {
      out.push(make({ site, path, value: raw, message: `${site.label}: image "${raw}" is from a disallowed registry or repository (${denied.source})`, fix: `use an image that is not under ${denied.source}` }));
    }
    if (ref.tag === undefined && ref.digest === undefined && (rule.requireTag || rule.disallowedTags.has('latest'))) {
      out.push(make({ site, path, value: raw, message: `${site.label}: image "${raw}" has no tag, so it runs whatever :latest is at pull time`, fix: `pin a version tag or digest, e.g. ${ref.familiar}:1.2.3` }));
    } else if (ref.tag !== undefined && rule.disallowedTags.has(ref.tag)) {
      out.push(make({ site, path, value: raw, message: `${site.label}: image "${raw}" uses the disallowed tag "${ref.tag}"`, fix: 'pin an immutable version tag or a digest instead' }));
    }
    if (rule.requireDigest && ref.digest === undefined) {
      out.push(make({ site, path, value: raw, message: `${site.label}: image "${raw}" is not pinned by digest`, fix: `pin it as ${ref.familiar}@sha256:<digest> (docker buildx imagetools inspect shows the digest)` }));
    }
  }
  return out;
}
