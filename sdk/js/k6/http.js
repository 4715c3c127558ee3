// k6's `k6/http` module on Volley: requests go through the WIT `http.send-packed` and
// `http.batch` imports, which time them and record k6's http_req_* metrics on the host.
import { sendPacked, batch as sendBatch } from 'volley:scenario/http@0.1.1';
import { options as testOptions } from 'volley:scenario/execution@0.1.1';
import {
  set as jarSet,
  forUrl as jarForUrl,
  clear as jarClear,
  delete as jarDelete,
} from 'volley:scenario/cookies@0.1.1';
import { u64 } from 'volley-engine';
// `k6/html` when the script uses it, else a stub (chosen by `volley build`: see html-absent.js).
import { parseHTML } from 'volley-html';

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

/** A file to upload (k6's `http.file(data, [filename], [contentType])`). */
export class FileData {
  constructor(data, filename, contentType) {
    this.data = data;
    this.filename = filename;
    this.content_type = contentType;
  }
}

/** k6's `http.file`: a value of an object body that makes it a multipart/form-data upload. */
export function file(data, filename, contentType) {
  if (data === undefined || data === null) throw new Error('http.file: missing data');
  return new FileData(
    data,
    filename === undefined ? String(Date.now() * 1000000) : String(filename),
    contentType === undefined ? 'application/octet-stream' : String(contentType),
  );
}

/** A string, ArrayBuffer or typed array as bytes. */
function bytesOf(v) {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return encoder.encode(String(v));
}

/** A boundary as Go's mime/multipart makes one (k6's): 30 random bytes in hex. */
function boundary() {
  let b = '';
  for (let i = 0; i < 30; i++) b += Math.floor(Math.random() * 256).toString(16).padStart(2, '0');
  return b;
}

/** `"` and `\` escaped, as Go's multipart writer quotes names. */
function quote(s) {
  return String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** An object body with `http.file` values as multipart/form-data (as k6 sends it). */
function multipart(body, headers) {
  const b = boundary();
  const parts = [];
  let size = 0;
  const push = (bytes) => {
    parts.push(bytes);
    size += bytes.byteLength;
  };
  let first = true;
  for (const [name, v] of Object.entries(body)) {
    push(encoder.encode(`${first ? '' : '\r\n'}--${b}\r\n`));
    first = false;
    if (v instanceof FileData) {
      push(encoder.encode(
        `Content-Disposition: form-data; name="${quote(name)}"; filename="${quote(v.filename)}"\r\n` +
          `Content-Type: ${v.content_type}\r\n\r\n`,
      ));
      push(bytesOf(v.data));
    } else {
      push(encoder.encode(`Content-Disposition: form-data; name="${quote(name)}"\r\n\r\n`));
      push(bytesOf(v));
    }
  }
  push(encoder.encode(`\r\n--${b}--\r\n`));
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  if (!headers.some((h) => h.name.toLowerCase() === 'content-type')) {
    headers.push({ name: 'Content-Type', value: `multipart/form-data; boundary=${b}` });
  }
  return out;
}

/** Go's `url.QueryEscape`, which k6 encodes form bodies with. */
function queryEscape(s) {
  return encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Body to bytes: strings as UTF-8, binary as is, plain objects as a form (as k6 does): a
 * multipart/form-data one when a value is an `http.file`, else URL-encoded. */
function bodyBytes(body, headers) {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'object' && Object.values(body).some((v) => v instanceof FileData)) {
    return multipart(body, headers);
  }
  if (typeof body === 'object') {
    if (!headers.some((h) => h.name.toLowerCase() === 'content-type')) {
      headers.push({ name: 'Content-Type', value: 'application/x-www-form-urlencoded' });
    }
    // As Go's url.Values.Encode (k6's): keys sorted, spaces as `+`, `!'()*` escaped too.
    const form = Object.keys(body)
      .sort()
      .map((k) => `${queryEscape(k)}=${queryEscape(String(body[k]))}`)
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

/** A WIT response's headers as `{ name, value }` items: `send-packed` packs them into one
 * string (`name: value` lines joined by CRLF), split here only when a script reads them;
 * `batch` gives the list itself. */
function headerList(res) {
  const packed = res.headers;
  if (typeof packed !== 'string') return packed;
  const list = [];
  if (packed === '') return list;
  for (const line of packed.split('\r\n')) {
    const at = line.indexOf(': ');
    if (at > 0) list.push({ name: line.slice(0, at), value: line.slice(at + 2) });
  }
  return list;
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

/** Whether a request that fails without a response throws (k6's `throw` option); read from the
 * test's options at the first failure, as the options pass has none. */
let throwing;

function throwsOnFailure() {
  if (throwing === undefined) throwing = JSON.parse(testOptions()).throw === true;
  return throwing;
}

/** The exception k6 throws for a failed request under `throw`: its `error` text. */
function failedRequest(response) {
  return new Error(response.error);
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

/** The empty list a request without headers, tags, cookies or expected statuses sends: one
 * frozen array for every such request instead of four new ones each. */
const NONE = Object.freeze([]);

/** The WIT request and params for k6's `(method, url, body, params)`. */
function prepare(method, url, body, params) {
  const p = params || NO_PARAMS;
  if (p.jar !== undefined && p.jar !== null && p.jar !== vuJar) {
    throw new Error('params.jar: Volley has one cookie jar per VU; pass http.cookieJar() or leave jar out');
  }
  // A form or multipart body adds its Content-Type to the headers.
  const headers = p.headers
    ? Object.entries(p.headers).map(([name, value]) => ({ name, value: String(value) }))
    : body === undefined || body === null ? NONE : [];
  const bytes = bodyBytes(body, headers);
  const tags = p.tags ? Object.entries(p.tags).map(([key, value]) => ({ key, value: String(value) })) : NONE;
  const responseType = p.responseType || defaultResponseType;
  const ms = p.timeout === undefined ? undefined : timeoutMs(p.timeout);
  const callback = p.responseCallback !== undefined ? p.responseCallback : defaultCallback;
  const cookies = p.cookies
    ? Object.entries(p.cookies).map(([name, v]) => ({
      name,
      value: String(v !== null && typeof v === 'object' ? v.value : v),
    }))
    : NONE;
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
    expectedStatuses: (callback && callback.expectedStatuses) || NONE,
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
    if (this._headers === undefined) this._headers = this._res ? headerObject(headerList(this._res)) : {};
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

  /** The cookies the response set, by name (k6's `res.cookies`): `{ name: [{ name, value,
   * domain, path, http_only, secure, max_age, expires }] }`. */
  get cookies() {
    if (this._cookies === undefined) {
      this._cookies = {};
      for (const h of this._res ? headerList(this._res) : []) {
        if (h.name.toLowerCase() !== 'set-cookie') continue;
        const c = parseSetCookie(h.value);
        if (c) (this._cookies[c.name] = this._cookies[c.name] || []).push(c);
      }
    }
    return this._cookies;
  }

  set cookies(value) {
    this._cookies = value;
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

  /** The body parsed as HTML (k6/html's Selection of the document, or of what `selector`
   * finds in it); links resolve against the response's URL. Throws when there is no body. */
  html(selector) {
    const body = this.body;
    if (body === null) {
      throw new Error("the body is null so we can't transform it to HTML - this likely was because of a request error getting the response");
    }
    const doc = parseHTML(typeof body === 'string' ? body : decoder.decode(new Uint8Array(body)), this.url);
    return selector === undefined ? doc : doc.find(selector);
  }

  /** The body parsed as JSON, or the value at a dotted `selector` in it. Throws on invalid JSON. */
  json(selector) {
    const body = this.body;
    if (body === null) throw new Error('the response has no body (responseType is none)');
    const value = JSON.parse(typeof body === 'string' ? body : decoder.decode(new Uint8Array(body)));
    return selector === undefined ? value : select(value, selector);
  }
}

/** One `Set-Cookie` value as k6 shows it in `res.cookies` (`null` when it has no name). */
function parseSetCookie(text) {
  const [pair, ...attrs] = text.split(';');
  const eq = pair.indexOf('=');
  if (eq <= 0) return null;
  const c = {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'),
    domain: '',
    path: '',
    http_only: false,
    secure: false,
    max_age: 0,
    expires: 0,
  };
  for (const attr of attrs) {
    const i = attr.indexOf('=');
    const key = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
    const val = i < 0 ? '' : attr.slice(i + 1).trim();
    if (key === 'domain') c.domain = val;
    else if (key === 'path') c.path = val;
    else if (key === 'httponly') c.http_only = true;
    else if (key === 'secure') c.secure = true;
    else if (key === 'max-age') c.max_age = parseInt(val, 10) || 0;
    else if (key === 'expires') {
      const t = Date.parse(val);
      c.expires = Number.isNaN(t) ? 0 : t;
    }
  }
  return c;
}

/** An error a WIT `result` threw, as an Error with the host's message. */
function hostError(e) {
  return new Error(e && e.payload !== undefined ? String(e.payload) : String(e && e.message ? e.message : e));
}

function jarCall(fn) {
  try {
    return fn();
  } catch (e) {
    throw hostError(e);
  }
}

/** The VU's cookie jar (k6's `http.cookieJar()`), kept by the host with the VU's requests. */
export class CookieJar {
  constructor() {
    if (!creatingVuJar) {
      throw new Error('new http.CookieJar(): Volley has one cookie jar per VU; use http.cookieJar()');
    }
  }

  /** Sets cookie `name` for `url` (k6's options: domain, path, expires, max_age, secure, http_only). */
  set(url, name, value, options) {
    const o = options || {};
    let text = `${name}=${value}`;
    if (o.domain) text += `; Domain=${o.domain}`;
    if (o.path) text += `; Path=${o.path}`;
    if (o.expires) text += `; Expires=${o.expires}`;
    if (o.max_age) text += `; Max-Age=${o.max_age}`;
    if (o.secure) text += '; Secure';
    if (o.http_only) text += '; HttpOnly';
    jarCall(() => jarSet(String(url), text));
  }

  /** The cookies a request to `url` would carry: `{ name: [value, ...] }`. */
  cookiesForURL(url) {
    const out = {};
    let pairs;
    try {
      pairs = jarForUrl(String(url));
    } catch (e) {
      // As k6: a URL no request could go to has no cookies.
      return out;
    }
    for (const [name, value] of pairs) (out[name] = out[name] || []).push(value);
    return out;
  }

  /** Forgets every cookie for `url`. */
  clear(url) {
    jarCall(() => jarClear(String(url)));
  }

  /** Forgets cookie `name` for `url`. */
  delete(url, name) {
    jarCall(() => jarDelete(String(url), String(name)));
  }
}

let creatingVuJar = true;
const vuJar = new CookieJar();
creatingVuJar = false;

/** k6's `http.cookieJar()`: the VU's jar. */
export function cookieJar() {
  return vuJar;
}

/** Sends one request (k6's `http.request(method, url, [body], [params])`). */
export function request(method, url, body, params) {
  const { req, wire, responseType } = prepare(method, url, body, params);
  let response;
  try {
    response = new Response(req.method, req.url, sendPacked(req, wire), undefined);
  } catch (e) {
    response = new Response(req.method, req.url, undefined, e && e.payload !== undefined ? e.payload : e);
    if (throwsOnFailure()) throw failedRequest(response);
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
 * k6's `http.batch`: sends the requests in parallel on the host (at most `batch` at once, 20 by
 * default, and `batchPerHost` to one host, 6 by default) and returns the responses in the same shape (array or object). Each request is a URL,
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
  // As k6 under `throw`: every request was sent, then the first failure throws.
  const failed = responses.find((r) => r.error_code !== 0);
  if (failed && throwsOnFailure()) throw failedRequest(failed);
  if (!keys) return responses;
  const out = {};
  keys.forEach((k, i) => { out[k] = responses[i]; });
  return out;
}

export default {
  request, get, head, del, options, post, put, patch, batch, Response, expectedStatuses, setResponseCallback,
  file, FileData, cookieJar, CookieJar,
};
