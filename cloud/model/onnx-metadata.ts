// The metadata_props of an ONNX model (ModelProto field 14: key/value string pairs), read straight
// from the protobuf bytes. onnxruntime's JavaScript API exposes the graph's inputs and outputs but
// not these, and a full protobuf schema is not needed for one repeated field of strings.

const textDecoder = new TextDecoder('utf-8', { fatal: true });

function varint(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = at; i < b.length && i < at + 10; i++) {
    v += (b[i]! & 0x7f) * mul;
    if ((b[i]! & 0x80) === 0) return [v, i + 1];
    mul *= 128;
  }
  throw new Error(`bad varint at byte ${at}`);
}

/** Calls `each(field, bytes)` for the length-delimited fields of one message; skips the rest. */
function fields(b: Uint8Array, each: (field: number, value: Uint8Array) => void): void {
  let at = 0;
  while (at < b.length) {
    const [tag, next] = varint(b, at);
    at = next;
    const field = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0:
        at = varint(b, at)[1];
        break;
      case 1:
        at += 8;
        break;
      case 5:
        at += 4;
        break;
      case 2: {
        const [len, start] = varint(b, at);
        if (start + len > b.length) throw new Error(`field ${field} runs past the end (byte ${start}, ${len} bytes)`);
        each(field, b.subarray(start, start + len));
        at = start + len;
        break;
      }
      default:
        throw new Error(`unsupported wire type ${tag & 7} at byte ${at}`);
    }
  }
}

/** The model's metadata_props as a map; throws when the bytes are not a protobuf message. */
export function onnxMetadata(model: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  fields(model, (field, value) => {
    if (field !== 14) return;
    let key = '';
    let val = '';
    fields(value, (f, v) => {
      if (f === 1) key = textDecoder.decode(v);
      else if (f === 2) val = textDecoder.decode(v);
    });
    out.set(key, val);
  });
  return out;
}
