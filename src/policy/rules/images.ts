/**
 * Image rules: allowed and disallowed registries/repositories, tags, digests, exemptions — over every
 * image a pod runs (containers of every list, and image volumes).
 */
import { familiarRepositoryName, matchesAny, type ImagePattern, type ImageRef } from '../../images/index.js';
import type { CompiledImagesRule, Violation } from '../types.js';
import { imageSitesOf, type CheckInput, type ImageSite, type MakeViolation } from './context.js';

/** How many allow-list entries a message quotes before saying "and N more". */
const MAX_LISTED_PATTERNS = 5;

function listPatterns(patterns: readonly ImagePattern[]): string {
  const shown = patterns.slice(0, MAX_LISTED_PATTERNS).map((p) => p.source);
  const more = patterns.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

/** The tag problem of one image, if any: no tag (which means latest), a disallowed tag, or a case variant of one. */
function tagViolation(rule: CompiledImagesRule, site: ImageSite, raw: string, ref: ImageRef, make: MakeViolation): Violation | undefined {
  const { path, label } = site;
  if (ref.tag === undefined) {
    if (ref.digest !== undefined || !(rule.requireTag || rule.disallowedTags.has('latest'))) return undefined;
    return make({ site, path, value: raw, message: `${label}: image "${raw}" has no tag, so it runs whatever :latest is at pull time`, fix: `pin a version tag or digest, e.g. ${ref.familiar}:1.2.3` });
  }
  if (rule.disallowedTags.has(ref.tag)) {
    return make({ site, path, value: raw, message: `${label}: image "${raw}" uses the disallowed tag "${ref.tag}"`, fix: 'pin an immutable version tag or a digest instead' });
  }
  // Tags are ASCII ([\w.-]), so lowercasing is all the folding they need.
  const lookalike = rule.disallowedTagsFolded.size ? rule.disallowedTagsFolded.get(ref.tag.toLowerCase()) : undefined;
  if (lookalike === undefined) return undefined;
  return make({
    site,
    path,
    value: raw,
    message: `${label}: image "${raw}" uses the tag "${ref.tag}", a look-alike of the disallowed tag "${lookalike}": registries compare tags case-sensitively, so it is a distinct tag, just as mutable and not pinned`,
    fix: 'pin an immutable version tag or a digest instead',
  });
}

/** Evaluates an images rule over every image of its lists. */
export function checkImages(rule: CompiledImagesRule, input: CheckInput, make: MakeViolation): Violation[] {
  const out: Violation[] = [];
  for (const site of imageSitesOf(input.template, rule.containers, input.templatePrefix)) {
    const raw = site.image;
    const { path, label } = site;
    if (typeof raw !== 'string' || raw === '') {
      // A container or image volume without an image is the apiserver's to reject; nothing to judge here.
      continue;
    }
    const parsed = input.image(raw);
    if (!parsed.ok) {
      out.push(make({ site, path, value: raw, message: `${label}: image "${raw}" is not a valid image reference: ${parsed.error}`, fix: 'use a reference like registry.example.com/team/app:1.2.3' }));
      continue;
    }
    const ref = parsed.value;
    if (ref.digestAlgorithm !== undefined && !rule.digestAlgorithms.has(ref.digestAlgorithm)) {
      // Never "pinned": the runtime's reference parser refuses the digest, so the image cannot even be pulled.
      const accepted = [...rule.digestAlgorithms].join(', ');
      out.push(make({ site, path, value: raw, message: `${label}: image "${raw}" is not a valid image reference: digest algorithm "${ref.digestAlgorithm}" is not one of the accepted ${accepted}: a runtime refuses a digest it cannot verify, so it pins nothing`, fix: `pin it as ${familiarRepositoryName(ref)}@sha256:<64 hex digits>` }));
      continue;
    }
    if (rule.exempt.length && matchesAny(rule.exempt, ref)) continue;
    if (rule.allowed.length && !matchesAny(rule.allowed, ref)) {
      out.push(make({ site, path, value: raw, message: `${label}: image "${raw}" is not from an allowed registry or repository (allowed: ${listPatterns(rule.allowed)})`, fix: `use an image from ${listPatterns(rule.allowed)}` }));
    }
    const denied = rule.disallowed.length ? matchesAny(rule.disallowed, ref) : undefined;
    if (denied) {
      out.push(make({ site, path, value: raw, message: `${label}: image "${raw}" is from a disallowed registry or repository (${denied.source})`, fix: `use an image that is not under ${denied.source}` }));
    }
    const tag = tagViolation(rule, site, raw, ref, make);
    if (tag) out.push(tag);
    if (rule.requireDigest && ref.digest === undefined) {
      out.push(make({ site, path, value: raw, message: `${label}: image "${raw}" is not pinned by digest`, fix: `pin it as ${ref.familiar}@sha256:<digest> (docker buildx imagetools inspect shows the digest)` }));
    }
  }
  return out;
}
