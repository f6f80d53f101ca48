/**
 * Namespaces from a local file (`kubectl get namespaces -o yaml` output, or Namespace documents), for
 * running without a cluster. Read once at start; the gate never touches the file in the admission path.
 */
import { readFile } from 'node:fs/promises';
import { parseInputText } from '../check/inputs.js';
import { isRecord } from '../k8s/types.js';
import type { NamespaceLabels } from './resolve.js';

/** Parses Namespace objects (a List or documents) into a label lookup. Pure. */
export function namespaceLabelsFromText(text: string, file: string): NamespaceLabels & { names(): string[] } {
  const map = new Map<string, Record<string, string>>();
  for (const doc of parseInputText(text, file)) {
    if (doc.object.kind !== 'Namespace' || !doc.object.metadata?.name) continue;
    const labels = isRecord(doc.object.metadata.labels) ? doc.object.metadata.labels : {};
    map.set(doc.object.metadata.name, Object.freeze({ ...labels }));
  }
  return { labels: (ns) => map.get(ns), names: () => [...map.keys()] };
}

/** Reads a namespaces file. */
export async function loadNamespaceFile(file: string): Promise<NamespaceLabels & { names(): string[] }> {
  return namespaceLabelsFromText(await readFile(file, 'utf8'), file);
}
