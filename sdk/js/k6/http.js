// k6's `k6/http` module on Volley: requests go through the WIT `http.send` import, which times
// them and records k6's http_req_* metrics on the host.
import { send } from 'volley:scenario/http@0.1.1';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000 };

/** A k6 timeout (`'60s'`, `'1m30s'`, `'500ms'`, or a number of milliseconds) in milliseconds. */
function timeoutMs(value) {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return Math.max(0, Math.round(value));
  let total = 0;
  let rest = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(rest)) return Math.round(Number(rest));
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`invalid timeout '${value}'`);
    total += Number(m[1]) * UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** Body to bytes: strings as UTF-8, binary as is, plain objects as a form (as k6 does). */
function bodyBytes(body, headers) {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'object') {
    if (!headers.some((h) => h.name.toLowerCase() === 'content-type')) {
      headers.push({ name: 'Content-Type', value: 'application/x-www-form-urlencoded' });
    }
    const form = Object.entries(body)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    return encoder.encode(form);
  }
  return encoder.encode(String(body));
}

/** `Content-type` → `Content-Type`, as k6 canonicalises response header names. */
function canonical(name) {
  return name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase()).join('-');
}

/** k6's error code for a WIT `http-error`. */
function errorOf(err) {
  const tag = err && err.tag;
  const detail = err && err.val !== undefined ? String(err.val) : '';
  switch (tag) {
    case 'timeout': return [1050, 'request timeout'];
    case 'connect': {
      const code = /refused/i.test(detail) ? 1212 : /reset/i.test(detail) ? 1220 : 1210;
      return [code, detail];
    }
    case 'dns': return [1101, detail];
    case 'invalid-url': return [1020, detail];
    case 'denied': return [1400, `host not allowed by the sandbox: ${detail}`];
    default: return [1000, detail || String(err)];
  }
}

/** Follows a k6/gjson-style dotted selector (`a.b.0.c`) into a parsed JSON value. */
function select(value, selector) {
  let v = value;
  for (const part of String(selector).split('.')) {
    if (v === undefined || v === null) return undefined;
    v = v[part];
  }
  return v;
}

/** A response, shaped like k6's: status, body, headers, timings, error, error_code, json(). */
export class Response {
  constructor(method, url, res, error) {
    this.request = { method, url };
    this.url = url;
    if (res) {
      this.status = res.status;
      this.proto = res.proto;
      this._bytes = res.body;
      this.headers = {};
      for (const h of res.headers) {
        const name = canonical(h.name);
        this.headers[name] = name in this.headers ? `${this.headers[name]}, ${h.value}` : h.value;
      }
      const t = res.timings;
      this.timings = {
        blocked: t.blocked,
        connecting: t.connecting,
        tls_handshaking: t.tlsHandshaking,
        sending: t.sending,
        waiting: t.waiting,
        receiving: t.receiving,
        duration: t.duration,
      };
      this.error = '';
      this.error_code = 0;
    } else {
      const [code, message] = errorOf(error);
      this.status = 0;
      this.proto = '';
      this._bytes = undefined;
      this.headers = {};
      this.timings = {
        blocked: 0, connecting: 0, tls_handshaking: 0, sending: 0, waiting: 0, receiving: 0, duration: 0,
      };
      this.error = message;
      this.error_code = code;
    }
    this._type = 'text';
  }

  /** The body: a string (`responseType: 'text'`, the default), an ArrayBuffer (`'binary'`), or null. */
  get body() {
    if (this._bytes === undefined || this._type === 'none') return null;
    if (this._type === 'binary') {
      const b = this._bytes;
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    }
    if (this._text === undefined) this._text = decoder.decode(this._bytes);
    return this._text;
  }

  /** The body parsed as JSON, or the value at a dotted `selector` in it. Throws on invalid JSON. */
  json(selector) {
    const body = this.body;
    if (body === null) throw new Error('the response has no body (responseType is none)');
    const value = JSON.parse(typeof body === 'string' ? body : decoder.decode(new Uint8Array(body)));
    return selector === undefined ? value : select(value, selector);
  }
}

/** Sends one request (k6's `http.request(method, url, [body], [params])`). */
export function request(method, url, body, params) {
  const p = params || {};
  const headers = Object.entries(p.headers || {}).map(([name, value]) => ({ name, value: String(value) }));
  const bytes = bodyBytes(body, headers);
  const tags = Object.entries(p.tags || {}).map(([key, value]) => ({ key, value: String(value) }));
  const responseType = p.responseType || 'text';
  const ms = timeoutMs(p.timeout);
  const m = String(method).toUpperCase();
  const u = String(url);
  let response;
  try {
    const res = send({
      method: m,
      url: u,
      headers,
      body: bytes,
      timeoutMs: ms === undefined ? undefined : BigInt(ms),
      tags,
      bodyMode: responseType === 'none' ? 'discard' : 'keep',
    });
    response = new Response(m, u, res, undefined);
  } catch (e) {
    response = new Response(m, u, undefined, e && e.payload !== undefined ? e.payload : e);
  }
  response._type = responseType;
  return response;
}

/** `GET url` (k6's `http.get(url, [params])`). */
export function get(url, params) { return request('GET', url, undefined, params); }
/** `HEAD url`. */
export function head(url, params) { return request('HEAD', url, undefined, params); }
/** `DELETE url` (k6's `http.del(url, [body], [params])`). */
export function del(url, body, params) { return request('DELETE', url, body, params); }
/** `OPTIONS url`. */
export function options(url, body, params) { return request('OPTIONS', url, body, params); }
/** `POST url` with a body. */
export function post(url, body, params) { return request('POST', url, body, params); }
/** `PUT url` with a body. */
export function put(url, body, params) { return request('PUT', url, body, params); }
/** `PATCH url` with a body. */
export function patch(url, body, params) { return request('PATCH', url, body, params); }

/**
 * Sends each request of `requests` in turn and returns the responses in the same shape (array or
 * object). Volley's WIT has no parallel batch yet, so unlike k6 they go one after another.
 */
export function batch(requests) {
  const one = (r) => {
    if (typeof r === 'string') return get(r);
    if (Array.isArray(r)) return request(r[0], r[1], r[2], r[3]);
    return request(r.method || 'GET', r.url, r.body, r.params);
  };
  if (Array.isArray(requests)) return requests.map(one);
  const out = {};
  for (const [k, r] of Object.entries(requests)) out[k] = one(r);
  return out;
}

export default { request, get, head, del, options, post, put, patch, batch, Response };
