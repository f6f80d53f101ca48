/**
 * What every rule check receives: the object under evaluation, its pod template, and parsers that
 * remember what they parsed (images, quantities) so no rule parses the same text twice — within one
 * evaluation, or across evaluations when the caller keeps a {@link ParseMemo}.
 */
import { parseImageRef, type ImageRef } from '../../images/index.js';
import { CONTAINER_NOUN, isRecord, type Container, type ContainerList, type KubeObject, type PodTemplate } from '../../k8s/types.js';
import type { Parsed } from '../../errors.js';
import { parseQuantity, type Quantity } from '../../quantities/index.js';
import type { CompiledPolicy, CompiledRule, ImageSourceList, RequestContext, Violation } from '../types.js';

export interface CheckInput {
  ctx: RequestContext;
  object: KubeObject;
  oldObject: KubeObject | undefined;
  template: PodTemplate | undefined;
  oldTemplate: PodTemplate | undefined;
  /** `spec.template.` for a Deployment, `` for a Pod: prefix of container paths. */
  templatePrefix: string;
  templateChanged: boolean;
  changes: readonly string[];
  image(raw: string): Parsed<ImageRef>;
  quantity(raw: unknown): Parsed<Quantity>;
}

export interface ContainerSite {
  list: ContainerList;
  index: number;
  container: Container;
  name: string;
  /** `container web`, `initContainer migrate`: how messages name it. */
  label: string;
  path: string;
}

/** Every container of the given lists, with its path and the words messages use for it. */
export function containersOf(template: PodTemplate | undefined, lists: readonly ContainerList[], prefix: string): ContainerSite[] {
  const out: ContainerSite[] = [];
  const spec = template?.spec;
  if (!isRecord(spec)) return out;
  for (const list of lists) {
    const items = spec[list];
    if (!Array.isArray(items)) continue;
    for (let index = 0; index < items.length; index++) {
      const container: unknown = items[index];
      if (!isRecord(container)) continue;
      const name = typeof container.name === 'string' && container.name ? container.name : `#${index}`;
      out.push({ list, index, container: container as Container, name, label: `${CONTAINER_NOUN[list]} ${name}`, path: `${prefix}spec.${list}[${index}]` });
    }
  }
  return out;
}

/** One image a pod runs: a container's `image`, or an image volume's `image.reference`. */
export interface ImageSite {
  list: ImageSourceList;
  index: number;
  name: string;
  /** `container web`, `volume tools`: how messages name it. */
  label: string;
  /** Path of the image field: `spec.template.spec.volumes[0].image.reference`. */
  path: string;
  image: unknown;
}

/**
 * Every image of the given lists: containers' images, then image volumes
 * (`spec.volumes[].image.reference`, the ImageVolume feature; the kubelet pulls them like container images).
 */
export function imageSitesOf(template: PodTemplate | undefined, lists: readonly ImageSourceList[], prefix: string): ImageSite[] {
  const out: ImageSite[] = [];
  const containerLists: ContainerList[] = [];
  for (let l = 0; l < lists.length; l++) if (lists[l] !== 'imageVolumes') containerLists.push(lists[l] as ContainerList);
  for (const site of containersOf(template, containerLists, prefix)) {
    out.push({ list: site.list, index: site.index, name: site.name, label: site.label, path: `${site.path}.image`, image: site.container.image });
  }
  const volumes = template?.spec?.volumes;
  if (!lists.includes('imageVolumes') || !Array.isArray(volumes)) return out;
  for (let index = 0; index < volumes.length; index++) {
    const volume: unknown = volumes[index];
    if (!isRecord(volume) || !isRecord(volume.image)) continue;
    const name = typeof volume.name === 'string' && volume.name ? volume.name : `#${index}`;
    out.push({ list: 'imageVolumes', index, name, label: `volume ${name}`, path: `${prefix}spec.volumes[${index}].image.reference`, image: volume.image.reference });
  }
  return out;
}

const ALL_IMAGE_SOURCES: readonly ImageSourceList[] = ['containers', 'initContainers', 'ephemeralContainers', 'imageVolumes'];

/**
 * True when two templates run the same images under the same names (containers of every list and image
 * volumes): nothing an images rule finds on one can be new on the other.
 */
export function sameImageSources(a: PodTemplate | undefined, b: PodTemplate | undefined): boolean {
  const x = imageSitesOf(a, ALL_IMAGE_SOURCES, '');
  const y = imageSitesOf(b, ALL_IMAGE_SOURCES, '');
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p.list !== q.list || p.name !== q.name || p.image !== q.image) return false;
  }
  return true;
}

/** Builds violations for one rule of one policy, applying the rule's message and fix overrides. */
export function violationFactory(policy: CompiledPolicy, rule: CompiledRule) {
  const head = { rule: rule.id, policy: policy.name, policyVersion: policy.version, action: rule.action };
  return (v: { site?: { name: string; list: ImageSourceList }; path: string; value?: string; message: string; fix: string }): Violation => {
    const { rule: id, policy: name, policyVersion, action } = head;
    const message = rule.message ?? v.message;
    const fix = rule.fix ?? v.fix;
    // Literal shapes rather than conditional spreads: the same keys in the same order, built without copies.
    if (v.site?.list === 'imageVolumes') {
      const { name: volume, list: containerList } = v.site;
      return v.value !== undefined
        ? { rule: id, policy: name, policyVersion, action, volume, containerList, path: v.path, value: v.value, message, fix }
        : { rule: id, policy: name, policyVersion, action, volume, containerList, path: v.path, message, fix };
    }
    if (v.site) {
      const { name: container, list: containerList } = v.site;
      return v.value !== undefined
        ? { rule: id, policy: name, policyVersion, action, container, containerList, path: v.path, value: v.value, message, fix }
        : { rule: id, policy: name, policyVersion, action, container, containerList, path: v.path, message, fix };
    }
    return v.value !== undefined
      ? { rule: id, policy: name, policyVersion, action, path: v.path, value: v.value, message, fix }
      : { rule: id, policy: name, policyVersion, action, path: v.path, message, fix };
  };
}

export type MakeViolation = ReturnType<typeof violationFactory>;

/** A per-evaluation memo of image parsing. */
export function imageCache(parse: (raw: string) => Parsed<ImageRef>) {
  const cache = new Map<string, Parsed<ImageRef>>();
  return (raw: string): Parsed<ImageRef> => {
    let hit = cache.get(raw);
    if (!hit) cache.set(raw, (hit = parse(raw)));
    return hit;
  };
}

/**
 * Parsers that remember their results, for a caller that evaluates many objects (the gate's handlers):
 * a cluster runs few distinct images and quantities, and both parsers are pure, so each text is parsed
 * once instead of on every review. Results are shared between callers and must not be modified.
 */
export interface ParseMemo {
  image(raw: string): Parsed<ImageRef>;
  quantity(raw: unknown): Parsed<Quantity>;
}

/** Entries a memo holds before it starts over: more distinct texts than a cluster uses, a small bound on memory. */
const MEMO_MAX_ENTRIES = 2048;
/** Longer texts are parsed every time (no valid image reference is this long): a hostile client cannot make the memo large. */
const MEMO_MAX_KEY_CHARS = 512;

function boundedMemo<T>(parse: (raw: string) => T): (raw: string) => T {
  const cache = new Map<string, T>();
  return (raw) => {
    if (raw.length > MEMO_MAX_KEY_CHARS) return parse(raw);
    let hit = cache.get(raw);
    if (hit === undefined) {
      if (cache.size >= MEMO_MAX_ENTRIES) cache.clear();
      cache.set(raw, (hit = parse(raw)));
    }
    return hit;
  };
}

/** Creates a memo; keep one per long-lived caller and pass it to every `evaluate`. */
export function createParseMemo(): ParseMemo {
  const image = boundedMemo(parseImageRef);
  const quantityText = boundedMemo((raw: string) => parseQuantity(raw));
  // Only texts are remembered: a JSON number parses through String(n) and needs no memo.
  return { image, quantity: (raw) => (typeof raw === 'string' ? quantityText(raw) : parseQuantity(raw)) };
}

export const defaultImageParser = parseImageRef;
