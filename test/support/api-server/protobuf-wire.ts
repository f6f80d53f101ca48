/**
 * A schema-driven decoder for the protobuf wire format as Kubernetes (gogo-protobuf, proto2) writes it.
 * Only what request bodies need: varints and length-delimited fields; fixed 32/64-bit fields are skipped.
 * Zero scalars are dropped unless the Go field is a pointer, mirroring `omitempty` in the JSON form.
 */
import type { Parsed } from '../../../src/errors.js';
import type { JsonObject } from './types.js';

/** Scalar encodings. `bytes` becomes base64 as the JSON API shows byte fields. */
export type ScalarType = 'string' | 'bytes' | 'int' | 'bool';

/**
 * Kubernetes wrapper types with a special JSON form: `time` (metav1.Time, RFC3339 seconds),
 * `microtime` (RFC3339 micro), `quantity`, `intOrString`, `json` (RawExtension / FieldsV1 raw JSON).
 */
export type SpecialType = 'time' | 'microtime' | 'quantity' | 'intOrString' | 'json';

/** One field of a message. */
export interface FieldSpec {
  name: string;
  type: ScalarType | SpecialType | (() => MessageSchema);
  repeated?: boolean;
  /** A `map<string, …>`; `type` is then the value type. */
  map?: boolean;
  /** A Go pointer: a zero value is meaningful (e.g. `replicas: 0`) and kept. */
  pointer?: boolean;
}

/** A message: its name (for error messages) and fields by number. */
export interface MessageSchema {
  name: string;
  fields: Readonly<Record<number, FieldSpec>>;
}

class DecodeError extends Error {}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;
/** Bytes skipped for the fixed-width wire types. */
const FIXED64_SIZE = 8;
const FIXED32_SIZE = 4;

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.buf[this.pos++];
      if (byte === undefined) throw new DecodeError('truncated varint');
      result |= BigInt(byte & 0x7f) << shift; // low 7 bits carry data
      if ((byte & 0x80) === 0) return result; // high bit set means "more bytes follow"
      shift += 7n;
      if (shift > 63n) throw new DecodeError('varint longer than 64 bits');
    }
  }

  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new DecodeError('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_BYTES) this.bytes();
    else if (wireType === WIRE_FIXED64) this.pos += FIXED64_SIZE;
    else if (wireType === WIRE_FIXED32) this.pos += FIXED32_SIZE;
    else throw new DecodeError(`unsupported wire type ${wireType}`);
  }
}

/** Go int32/int64 are two's complement in 64-bit varints. */
function toSignedNumber(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

function isZero(value: unknown): boolean {
  return value === '' || value === 0 || value === false;
}

function decodeScalar(type: ScalarType, wireType: number, r: Reader): unknown {
  if (type === 'int' || type === 'bool') {
    if (wireType !== WIRE_VARINT) throw new DecodeError(`expected a varint, got wire type ${wireType}`);
    const v = r.varint();
    return type === 'bool' ? v !== 0n : toSignedNumber(v);
  }
  if (wireType !== WIRE_BYTES) throw new DecodeError(`expected length-delimited bytes, got wire type ${wireType}`);
  const raw = r.bytes();
  return type === 'bytes' ? Buffer.from(raw).toString('base64') : utf8.decode(raw);
}

/** Reads `{1: seconds, 2: nanos}` of metav1.Time / MicroTime; `undefined` for the zero time. */
function decodeTime(raw: Uint8Array, micro: boolean): string | undefined {
  const r = new Reader(raw);
  let seconds = 0;
  let nanos = 0;
  while (!r.done()) {
    const tag = Number(r.varint());
    const field = tag >>> 3; // the low 3 bits are the wire type
    if (field === 1) seconds = toSignedNumber(r.varint());
    else if (field === 2) nanos = toSignedNumber(r.varint());
    else r.skip(tag & 0x7);
  }
  if (seconds === 0 && nanos === 0) return undefined;
  const iso = new Date(seconds * 1000).toISOString().slice(0, 19); // drop JS milliseconds and "Z"
  if (!micro) return `${iso}Z`;
  const micros = Math.floor(nanos / 1000).toString().padStart(6, '0'); // 1000 ns per µs, 6 digits
  return `${iso}.${micros}Z`;
}

/** Reads resource.Quantity `{1: string}`. */
function decodeQuantity(raw: Uint8Array): string {
  const r = new Reader(raw);
  let value = '';
  while (!r.done()) {
    const tag = Number(r.varint());
    if (tag >>> 3 === 1) value = utf8.decode(r.bytes());
    else r.skip(tag & 0x7);
  }
  return value;
}

/** Reads intstr.IntOrString `{1: type, 2: intVal, 3: strVal}`; type 1 means string. */
function decodeIntOrString(raw: Uint8Array): number | string {
  const r = new Reader(raw);
  let type = 0;
  let intVal = 0;
  let strVal = '';
  while (!r.done()) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    if (field === 1) type = toSignedNumber(r.varint());
    else if (field === 2) intVal = toSignedNumber(r.varint());
    else if (field === 3) strVal = utf8.decode(r.bytes());
    else r.skip(tag & 0x7);
  }
  return type === 1 ? strVal : intVal;
}

/** Reads RawExtension / FieldsV1 `{1: raw JSON bytes}`. */
function decodeJson(raw: Uint8Array): unknown {
  const r = new Reader(raw);
  let text = '';
  while (!r.done()) {
    const tag = Number(r.varint());
    if (tag >>> 3 === 1) text = utf8.decode(r.bytes());
    else r.skip(tag & 0x7);
  }
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new DecodeError('embedded raw JSON does not parse');
  }
}

function decodeSpecial(type: SpecialType, raw: Uint8Array): unknown {
  switch (type) {
    case 'time':
      return decodeTime(raw, false);
    case 'microtime':
      return decodeTime(raw, true);
    case 'quantity':
      return decodeQuantity(raw);
    case 'intOrString':
      return decodeIntOrString(raw);
    case 'json':
      return decodeJson(raw);
  }
}

function isSpecial(type: FieldSpec['type']): type is SpecialType {
  return type === 'time' || type === 'microtime' || type === 'quantity' || type === 'intOrString' || type === 'json';
}

/** Decodes one value of `spec.type` at the reader (for maps, the entry's value field). */
function decodeValue(spec: FieldSpec, wireType: number, r: Reader): unknown {
  const type = spec.type;
  if (typeof type === 'function') {
    if (wireType !== WIRE_BYTES) throw new DecodeError(`expected an embedded message for ${spec.name}`);
    return decodeMessageFrom(type(), r.bytes());
  }
  if (isSpecial(type)) {
    if (wireType !== WIRE_BYTES) throw new DecodeError(`expected an embedded message for ${spec.name}`);
    return decodeSpecial(type, r.bytes());
  }
  return decodeScalar(type, wireType, r);
}

/** A map entry is `{1: key, 2: value}`. */
function decodeMapEntry(spec: FieldSpec, raw: Uint8Array): [string, unknown] {
  const r = new Reader(raw);
  let key = '';
  let value: unknown = typeof spec.type === 'function' ? {} : spec.type === 'bytes' ? '' : spec.type === 'int' ? 0 : '';
  while (!r.done()) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    const wireType = tag & 0x7; // low 3 bits
    if (field === 1) key = utf8.decode(r.bytes());
    else if (field === 2) value = decodeValue(spec, wireType, r);
    else r.skip(wireType);
  }
  return [key, value];
}

function decodeMessageFrom(schema: MessageSchema, raw: Uint8Array): JsonObject {
  const r = new Reader(raw);
  const out: JsonObject = {};
  while (!r.done()) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    const wireType = tag & 0x7; // low 3 bits
    const spec = schema.fields[field];
    if (spec === undefined) {
      // Loud on purpose: silently dropping a field would make tests pass on data the server never stored.
      throw new DecodeError(`${schema.name} field ${field} is not modelled by the test API server`);
    }
    if (spec.map) {
      if (wireType !== WIRE_BYTES) throw new DecodeError(`expected a map entry for ${schema.name}.${spec.name}`);
      const [key, value] = decodeMapEntry(spec, r.bytes());
      const map = (out[spec.name] ??= {}) as JsonObject;
      map[key] = value;
    } else if (spec.repeated) {
      const list = (out[spec.name] ??= []) as unknown[];
      if ((spec.type === 'int' || spec.type === 'bool') && wireType === WIRE_BYTES) {
        const packed = new Reader(r.bytes()); // packed repeated scalars
        while (!packed.done()) list.push(decodeScalar(spec.type, WIRE_VARINT, packed));
      } else {
        list.push(decodeValue(spec, wireType, r));
      }
    } else {
      const value = decodeValue(spec, wireType, r);
      if (value === undefined || (!spec.pointer && isZero(value))) delete out[spec.name];
      else out[spec.name] = value;
    }
  }
  return out;
}

/** Decodes a message; failures (truncation, unmodelled fields) come back as errors. */
export function decodeMessage(schema: MessageSchema, raw: Uint8Array): Parsed<JsonObject> {
  try {
    return { ok: true, value: decodeMessageFrom(schema, raw) };
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, error: err.message };
    throw err;
  }
}
