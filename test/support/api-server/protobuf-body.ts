/**
 * Protobuf request bodies of the real clients: the `k8s\0` envelope (runtime.Unknown) around one of
 * the kinds of `protobuf-types.ts` / `protobuf-workloads.ts`, decoded into the JSON object the same
 * request would carry as JSON.
 */
import type { Parsed } from '../../../src/errors.js';
import { ADDON_SCHEMAS } from './protobuf-addon.js';
import { REVIEW_SCHEMAS } from './protobuf-review.js';
import { CORE_SCHEMAS } from './protobuf-types.js';
import { decodeMessage } from './protobuf-wire.js';
import type { MessageSchema } from './protobuf-wire.js';
import { WORKLOAD_SCHEMAS } from './protobuf-workloads.js';
import type { JsonObject } from './types.js';

/** `k8s\0`: `protoEncodingPrefix` in apimachinery's protobuf serializer. */
const PROTOBUF_PREFIX = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** The kinds whose protobuf bodies are decoded, by kind (apiVersion is taken from the envelope). */
const KIND_SCHEMAS: Readonly<Record<string, MessageSchema>> = { ...CORE_SCHEMAS, ...WORKLOAD_SCHEMAS, ...ADDON_SCHEMAS, ...REVIEW_SCHEMAS };

const unknownEnvelope: MessageSchema = {
  name: 'runtime.Unknown',
  fields: {
    1: {
      name: 'typeMeta',
      type: () => ({ name: 'TypeMeta', fields: { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } } }),
    },
    2: { name: 'raw', type: 'bytes' },
    3: { name: 'contentEncoding', type: 'string' },
    4: { name: 'contentType', type: 'string' },
  },
};

/**
 * Decodes a `application/vnd.kubernetes.protobuf` body into the JSON object the same request would
 * carry as JSON (`apiVersion` and `kind` first).
 */
export function decodeKubeProtobuf(body: Uint8Array): Parsed<JsonObject> {
  if (body.length < PROTOBUF_PREFIX.length || !PROTOBUF_PREFIX.equals(body.subarray(0, PROTOBUF_PREFIX.length))) {
    return { ok: false, error: 'protobuf body does not start with the k8s\\0 prefix' };
  }
  const envelope = decodeMessage(unknownEnvelope, body.subarray(PROTOBUF_PREFIX.length));
  if (!envelope.ok) return envelope;
  const typeMeta = (envelope.value['typeMeta'] ?? {}) as { apiVersion?: string; kind?: string };
  const kind = typeMeta.kind ?? '';
  const schema = KIND_SCHEMAS[kind];
  if (schema === undefined) return { ok: false, error: `protobuf bodies of kind ${JSON.stringify(kind)} are not modelled` };
  if (typeof envelope.value['contentEncoding'] === 'string') return { ok: false, error: 'encoded (compressed) protobuf raw is not supported' };
  const raw = Buffer.from(String(envelope.value['raw'] ?? ''), 'base64');
  const decoded = decodeMessage(schema, raw);
  if (!decoded.ok) return decoded;
  const out: JsonObject = {};
  if (typeMeta.apiVersion !== undefined) out['apiVersion'] = typeMeta.apiVersion;
  out['kind'] = kind;
  return { ok: true, value: { ...out, ...decoded.value } };
}
