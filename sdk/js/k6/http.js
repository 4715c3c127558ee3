// k6's `k6/http` module on Volley: requests go through the WIT `http.send-with-params` and
// `http.batch` imports, which time them and record k6's http_req_* metrics on the host.
import { sendWithParams, batch as sendBatch } from 'volley:scenario/http@0.1.1';
import { u64 } from 'volley-engine';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000 };

/** A k6 timeout (`'60s'`, `'1m30s'`, `'500ms'`, or a number of milliseconds) in milliseconds. */
export function timeoutMs(value) {
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

/** Canonical header names already computed (`content-type` → `Content-Type`), at most 256. */
const canonicalNames = new Map();

/** `Content-type` → `Content-Type`, as k6 canonicalises response header names. */
function canonical(name) {
  let c = canonicalNames.get(name);
  if (c === undefined) {
    c = name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase()).join('-');
    if (canonicalNames.size < 256) canonicalNames.set(name, c);
  }
  return c;
}

/** k6's `res.headers` from the WIT header list: canonical names, repeated ones joined. */
function headerObject(list) {
  const headers = {};
  for (const h of list) {
    const name = canonical(h.name);
    headers[name] = name in headers ? `${headers[name]}, ${h.value}` : h.value;
  }
  return headers;
}

/** k6's `res.timings` from the WIT record. */
function timingsObject(t) {
  return {
    blocked: t.blocked,
    connecting: t.connecting,
    tls_handshaking: t.tlsHandshaking,
    sending: t.sending,
    waiting: t.waiting,
    receiving: t.receiving,
    duration: t.duration,
  };
}

const NO_TIMINGS = {
  blocked: 0, connecting: 0, tls_handshaking: 0, sending: 0, waiting: 0, receiving: 0, duration: 0,
};

/** k6's error code and text for a WIT `failure` (or anything else thrown). */
function errorOf(err) {
  if (err && typeof err.code === 'number') return [err.code, String(err.message)];
  return [1000, String(err)];
}

/** The default response callback (`http.setResponseCallback`); `undefined`: the test's. */
let defaultCallback;

/** The default `responseType`: `none` when the script's options set `discardResponseBodies`. */
let defaultResponseType = 'text';

/** Takes the defaults the script's `options` set (called before every export runs). */
export function configure(options) {
  defaultResponseType = options && options.discardResponseBodies ? 'none' : 'text';
}

/**
 * k6's `http.expectedStatuses(200, { min: 300, max: 399 }, ...)`: a response callback that
 * counts those statuses as expected (`http_req_failed`, the `expected_response` tag).
 */
export function expectedStatuses(...statuses) {
  const ranges = statuses.map((s) => {
    if (typeof s === 'number') return { min: s, max: s };
    if (s && typeof s.min === 'number' && typeof s.max === 'number') return { min: s.min, max: s.max };
    throw new Error(`expectedStatuses: ${JSON.stringify(s)} is neither a status nor { min, max }`);
  });
  return { expectedStatuses: ranges };
}

/** k6's `http.setResponseCallback(callback)`: the default for requests that set none. */
export function setResponseCallback(callback) {
  defaultCallback = callback;
}

/** Params of a request that sets none (k6's `http.get(url)`): nothing to convert. */
const NO_PARAMS = {};

/** The WIT request and params for k6's `(method, url, body, params)`. */
function prepare(method, url, body, params) {
  const p = params || NO_PARAMS;
  const headers = p.headers ? Object.entries(p.headers).map(([name, value]) => ({ name, value: String(value) })) : [];
  const bytes = bodyBytes(body, headers);
  const tags = p.tags ? Object.entries(p.tags).map(([key, value]) => ({ key, value: String(value) })) : [];
  const responseType = p.responseType || defaultResponseType;
  const ms = p.timeout === undefined ? undefined : timeoutMs(p.timeout);
  const callback = p.responseCallback !== undefined ? p.responseCallback : defaultCallback;
  const cookies = p.cookies
    ? Object.entries(p.cookies).map(([name, v]) => ({
      name,
      value: String(v !== null && typeof v === 'object' ? v.value : v),
    }))
    : [];
  const req = {
    method: String(method).toUpperCase(),
    url: String(url),
    headers,
    body: bytes,
    timeoutMs: ms === undefined ? undefined : u64(ms),
    tags,
    bodyMode: responseType === 'none' ? 'discard' : 'keep',
  };
  const wire = {
    redirects: typeof p.redirects === 'number' ? p.redirects : undefined,
    expectedStatuses: (callback && callback.expectedStatuses) || [],
    cookies,
    compression: p.compression ? String(p.compression) : undefined,
  };
  return { req, wire, responseType };
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

/**
 * A response, shaped like k6's: status, body, headers, timings, error, error_code, json().
 * `headers`, `timings` and `body` are built from the WIT response on first access (most scripts
 * read one or two fields; building them all cost a tight loop ~20 % of its CPU, see
 * docs/design/008-javascript-engine.md); assigning to them replaces them, as on a k6 response.
 */
export class Response {
  constructor(method, url, res, error) {
    this.request = { method, url };
    this.url = url;
    this._res = res;
    if (res) {
      this.status = res.status;
      this.proto = res.proto;
      this._bytes = res.body;
      this.error = '';
      this.error_code = 0;
    } else {
      const [code, message] = errorOf(error);
      this.status = 0;
      this.proto = '';
      this._bytes = undefined;
      this.error = message;
      this.error_code = code;
    }
    this._type = 'text';
  }

  /** Response headers by canonical name (`Content-Type`); repeated headers joined with `, `. */
  get headers() {
    if (this._headers === undefined) this._headers = this._res ? headerObject(this._res.headers) : {};
    return this._headers;
  }

  set headers(value) {
    this._headers = value;
  }

  /** k6's phase timings in milliseconds (all 0 when the request failed). */
  get timings() {
    if (this._timings === undefined) this._timings = this._res ? timingsObject(this._res.timings) : { ...NO_TIMINGS };
    return this._timings;
  }

  set timings(value) {
    this._timings = value;
  }

  /** The fields a k6 response serialises with (`JSON.stringify(res)`). */
  toJSON() {
    return {
      status: this.status,
      proto: this.proto,
      url: this.url,
      request: this.request,
      headers: this.headers,
      timings: this.timings,
      body: this.body,
      error: this.error,
      error_code: this.error_code,
    };
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
  const { req, wire, responseType } = prepare(method, url, body, params);
  let response;
  try {
    response = new Response(req.method, req.url, sendWithParams(req, wire), undefined);
  } catch (e) {
    response = new Response(req.method, req.url, undefined, e && e.payload !== undefined ? e.payload : e);
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
 * k6's `http.batch`: sends the requests in parallel on the host (at most 20 at once, 6 per
 * host) and returns the responses in the same shape (array or object). Each request is a URL,
 * an array `[method, url, body, params]`, or an object `{ method, url, body, params }`.
 */
export function batch(requests) {
  const one = (r) => {
    if (typeof r === 'string') return prepare('GET', r, undefined, undefined);
    if (Array.isArray(r)) return prepare(r[0], r[1], r[2], r[3]);
    return prepare(r.method || 'GET', r.url, r.body, r.params);
  };
  const keys = Array.isArray(requests) ? null : Object.keys(requests);
  const list = (keys ? keys.map((k) => requests[k]) : requests).map(one);
  const results = sendBatch(list.map((p) => [p.req, p.wire]));
  const responses = results.map((r, i) => {
    const { req, responseType } = list[i];
    const response = r.tag === 'ok'
      ? new Response(req.method, req.url, r.val, undefined)
      : new Response(req.method, req.url, undefined, r.val);
    response._type = responseType;
    return response;
  });
  if (!keys) return responses;
  const out = {};
  keys.forEach((k, i) => { out[k] = responses[i]; });
  return out;
}

export default {
  request, get, head, del, options, post, put, patch, batch, Response, expectedStatuses, setResponseCallback,
};
