// Web globals a k6 script and the shim rely on that some engines lack (QuickJS has no TextEncoder,
// TextDecoder or console). Each is installed only when the engine has none, so SpiderMonkey keeps
// its own.
import { write } from 'volley:scenario/log@0.1.1';

/** UTF-8 encoder (WHATWG `TextEncoder`, `encode` only). */
class Utf8Encoder {
  get encoding() {
    return 'utf-8';
  }

  encode(input = '') {
    const s = String(input);
    const out = new Uint8Array(s.length * 3);
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        out[n++] = c;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate
      if (c < 0x800) {
        out[n++] = 0xc0 | (c >> 6);
      } else if (c < 0x10000) {
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
      } else {
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 0x3f);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
      }
      if (c >= 0x80) out[n++] = 0x80 | (c & 0x3f);
    }
    return out.slice(0, n);
  }
}

/** UTF-8 decoder (WHATWG `TextDecoder` for `utf-8`; invalid sequences become U+FFFD). */
class Utf8Decoder {
  constructor(label = 'utf-8') {
    const l = String(label).toLowerCase();
    if (l !== 'utf-8' && l !== 'utf8') throw new RangeError(`TextDecoder: unsupported encoding '${label}'`);
  }

  get encoding() {
    return 'utf-8';
  }

  decode(input) {
    if (input === undefined) return '';
    const b = input instanceof Uint8Array
      ? input
      : ArrayBuffer.isView(input)
        ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        : new Uint8Array(input);
    let out = '';
    let chunk = [];
    const flush = () => {
      out += String.fromCharCode.apply(null, chunk);
      chunk = [];
    };
    for (let i = 0; i < b.length;) {
      const c = b[i];
      let cp = 0xfffd;
      let len = 1;
      if (c < 0x80) {
        cp = c;
      } else if (c >= 0xc2 && c <= 0xdf && i + 1 < b.length && (b[i + 1] & 0xc0) === 0x80) {
        cp = ((c & 0x1f) << 6) | (b[i + 1] & 0x3f);
        len = 2;
      } else if (c >= 0xe0 && c <= 0xef && i + 2 < b.length && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
        const v = ((c & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
        if (v >= 0x800 && (v < 0xd800 || v > 0xdfff)) {
          cp = v;
          len = 3;
        }
      } else if (c >= 0xf0 && c <= 0xf4 && i + 3 < b.length && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80) {
        const v = ((c & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f);
        if (v >= 0x10000 && v <= 0x10ffff) {
          cp = v;
          len = 4;
        }
      }
      if (cp >= 0x10000) {
        cp -= 0x10000;
        chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else {
        chunk.push(cp);
      }
      if (chunk.length >= 8192) flush();
      i += len;
    }
    flush();
    return out;
  }
}

if (typeof globalThis.TextEncoder === 'undefined') globalThis.TextEncoder = Utf8Encoder;
if (typeof globalThis.TextDecoder === 'undefined') globalThis.TextDecoder = Utf8Decoder;

/** One console argument as k6 prints it: strings as they are, anything else as JSON. */
function show(value) {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.stack ? `${value.message}\n${value.stack}`.trim() : value.message;
  try {
    const json = JSON.stringify(value);
    return json === undefined ? String(value) : json;
  } catch (_) {
    return String(value);
  }
}

/** `console.*` on the host's log (`level=info source=console`, as k6 prints it). */
function logAt(level) {
  return (...args) => write(level, args.map(show).join(' '));
}

if (typeof globalThis.console === 'undefined') {
  globalThis.console = {
    log: logAt('info'),
    info: logAt('info'),
    debug: logAt('debug'),
    warn: logAt('warn'),
    error: logAt('error'),
  };
}
