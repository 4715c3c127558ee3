// k6's `k6/encoding` on Volley, in plain JavaScript: b64encode and b64decode with Go's four
// alphabets as k6 names them (`std`, `rawstd`, `url`, `rawurl`), strict as Go's decoder is
// (padding required by `std`/`url`, refused by the raw ones; `\r` and `\n` skipped).

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The alphabet and whether it pads, for k6's encoding name (anything else: `std`). */
function scheme(encoding) {
  switch (encoding) {
    case 'rawstd':
      return [STD, false];
    case 'url':
      return [URL, true];
    case 'rawurl':
      return [URL, false];
    default:
      return [STD, true];
  }
}

/** UTF-8 bytes of a string; the bytes of an ArrayBuffer or typed array (k6's ToBytes). */
function toBytes(input) {
  if (typeof input === 'string') return new TextEncoder().encode(input);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError(`invalid type ${input === null ? 'null' : typeof input}, expected string, []byte or ArrayBuffer`);
}

/** `input` (string, as UTF-8, or ArrayBuffer) in base64 of `encoding`. */
export function b64encode(input, encoding) {
  const bytes = toBytes(input);
  const [abc, pad] = scheme(encoding);
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += abc[n >> 18] + abc[(n >> 12) & 63] + abc[(n >> 6) & 63] + abc[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += abc[n >> 18] + abc[(n >> 12) & 63] + (pad ? '==' : '');
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += abc[n >> 18] + abc[(n >> 12) & 63] + abc[(n >> 6) & 63] + (pad ? '=' : '');
  }
  return out;
}

function illegal(at) {
  return new Error(`illegal base64 data at input byte ${at}`);
}

/** The bytes `input` encodes in base64 of `encoding`, as Go's strict decoder reads them. */
function decodeBytes(input, encoding) {
  const [abc, pad] = scheme(encoding);
  const text = String(input);
  const values = [];
  let padding = 0;
  let firstPad = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\r' || c === '\n') continue;
    if (c === '=') {
      if (!pad) throw illegal(i);
      if (firstPad < 0) firstPad = i;
      padding++;
      continue;
    }
    const v = abc.indexOf(c);
    if (v < 0 || padding > 0) throw illegal(padding > 0 ? firstPad : i);
    values.push(v);
  }
  const tail = values.length % 4;
  if (tail === 1) throw illegal(text.length);
  if (pad && (padding !== (tail === 0 ? 0 : 4 - tail))) throw illegal(firstPad < 0 ? text.length : firstPad);
  const out = new Uint8Array(Math.floor((values.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < values.length; i += 4) {
    const n = (values[i] << 18) | (values[i + 1] << 12) | ((values[i + 2] || 0) << 6) | (values[i + 3] || 0);
    out[o++] = (n >> 16) & 255;
    if (i + 2 < values.length) out[o++] = (n >> 8) & 255;
    if (i + 3 < values.length) out[o++] = n & 255;
  }
  return out;
}

/** The data `input` encodes: an ArrayBuffer, or with format `s` a string (UTF-8). */
export function b64decode(input, encoding, format) {
  const bytes = decodeBytes(input, encoding);
  if (format === 's') return new TextDecoder().decode(bytes);
  return bytes.buffer;
}

export default { b64encode, b64decode };
