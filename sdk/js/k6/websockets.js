// k6's `k6/websockets` (formerly `k6/experimental/websockets`) on Volley: the browser-like
// `WebSocket` whose events run on the VU's event loop (`timers.js`) beside setTimeout and
// setInterval. The host (WIT `websocket` and `websocket-events`) holds the sessions and records
// k6's ws_* metrics; this file keeps k6's states, listeners and event order. As in k6, the
// iteration ends once every socket is closed and no timer is pending; an exception in a handler
// closes that socket and fails the iteration.
import { connect as hostConnect } from 'volley:scenario/websocket@0.1.1';
import { nextEvent, sendPing, closeHandshake } from 'volley:scenario/websocket-events@0.1.1';
import { u64 } from 'volley-engine';
import { addSource } from './timers.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** Longest single wait for a socket event: the loop looks at its timers at least this often. */
const POLL_MS = 1000;

const EVENTS = ['open', 'message', 'error', 'close', 'ping', 'pong'];

function failureMessage(e) {
  const p = e && e.payload !== undefined ? e.payload : e;
  return p && p.message !== undefined ? p.message : String(p);
}

function bytesOf(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

/** k6's Blob: binary data with `size`, `type`, `arrayBuffer()`, `bytes()`, `text()`, `slice()`. */
export class Blob {
  constructor(parts, options) {
    const chunks = [];
    for (const p of parts || []) {
      if (p instanceof Blob) chunks.push(p._bytes);
      else if (bytesOf(p) !== undefined) chunks.push(bytesOf(p));
      else chunks.push(new TextEncoder().encode(String(p)));
    }
    const size = chunks.reduce((n, c) => n + c.byteLength, 0);
    this._bytes = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      this._bytes.set(c, at);
      at += c.byteLength;
    }
    this.type = (options && options.type) || '';
  }

  get size() {
    return this._bytes.byteLength;
  }

  arrayBuffer() {
    return Promise.resolve(this._bytes.slice().buffer);
  }

  bytes() {
    return Promise.resolve(this._bytes.slice());
  }

  text() {
    return Promise.resolve(new TextDecoder().decode(this._bytes));
  }

  slice(start, end, type) {
    return new Blob([this._bytes.slice(start, end)], { type });
  }
}

/** Every socket not yet closed, in the order they were created. */
const live = [];
/** Events ready to dispatch before asking the host: [socket, fn]. */
const ready = [];

function closeCodeAllowed(code) {
  return code === 1000 || (code >= 3000 && code <= 4999);
}

function parseParams(params) {
  const headers = [];
  const tags = [];
  for (const [k, v] of Object.entries(params || {})) {
    if (k === 'headers') {
      for (const [name, value] of Object.entries(v || {})) headers.push({ name, value: String(value) });
    } else if (k === 'tags') {
      for (const [key, value] of Object.entries(v || {})) tags.push({ key, value: String(value) });
    } else if (k !== 'jar' && k !== 'compression') {
      throw new Error(`unknown WebSocket's option ${k}`);
    }
  }
  return { headers, tags };
}

/** k6's `WebSocket`: `new WebSocket(url, protocols?, params?)`. */
export class WebSocket {
  constructor(url, protocols, params) {
    if (url === undefined || url === null) throw new Error('WebSocket requires a url');
    const u = String(url);
    const scheme = u.split(':', 1)[0].toLowerCase();
    if (scheme !== 'ws' && scheme !== 'wss') {
      throw new Error(`WebSocket requires url with scheme ws or wss, but got "${scheme}"`);
    }
    if (u.includes('#')) throw new Error(`WebSocket requires no url fragment, but got "${u.slice(u.indexOf('#') + 1)}"`);
    const { headers, tags } = parseParams(params);
    const subprotocols = [];
    if (typeof protocols === 'string') subprotocols.push(protocols);
    else if (Array.isArray(protocols)) subprotocols.push(...protocols.map(String));
    this._url = u;
    this._state = CONNECTING;
    this._protocol = '';
    this._binaryType = 'blob';
    this._listeners = {};
    this._on = {};
    for (const e of EVENTS) this._listeners[e] = [];
    this._code = undefined;
    this._reason = '';
    live.push(this);
    // The handshake runs now; its outcome is an event, dispatched once the script yields to the
    // event loop (as in k6, `onopen` set after the constructor still runs).
    try {
      this._conn = hostConnect(u, { headers, subprotocols, tags, timeoutMs: undefined });
      this._protocol = this._conn.protocol();
      ready.push([this, () => this._opened()]);
    } catch (e) {
      ready.push([this, () => this._ended(new Error(failureMessage(e)).message)]);
    }
  }

  get url() {
    return this._url;
  }

  get readyState() {
    return this._state;
  }

  get protocol() {
    return this._protocol;
  }

  get extensions() {
    return [];
  }

  /** Always 0: `send` hands the message to the host before it returns. */
  get bufferedAmount() {
    return 0;
  }

  get binaryType() {
    return this._binaryType;
  }

  set binaryType(t) {
    if (t !== 'blob' && t !== 'arraybuffer') {
      throw new Error(`unknown binaryType ${t}, the supported ones are "blob" and "arraybuffer"`);
    }
    this._binaryType = t;
  }

  /** Adds a listener for `open`, `message`, `error`, `close`, `ping` or `pong`. */
  addEventListener(type, handler) {
    if (typeof handler !== 'function') throw new Error(`handler for event type "${type}" isn't a callable function`);
    if (this._listeners[type] === undefined) {
      console.warn(`can't add event handler: unknown event type: ${type}`);
      return;
    }
    this._listeners[type].push(handler);
  }

  /** Sends a string (text message) or an ArrayBuffer, typed array or Blob (binary message). */
  send(data) {
    this._assertOpen();
    try {
      if (typeof data === 'string') this._conn.sendText(data);
      else if (data instanceof Blob) this._conn.sendBinary(data._bytes);
      else if (bytesOf(data) !== undefined) this._conn.sendBinary(bytesOf(data));
      else throw new TypeError(`unsupported send type ${typeof data}`);
    } catch (e) {
      if (e instanceof TypeError) throw e;
      this._failLater(failureMessage(e));
    }
  }

  /** Pings the server; `pong` listeners run when it answers (its round trip is `ws_ping`). */
  ping() {
    this._assertOpen();
    try {
      sendPing(this._conn);
    } catch (e) {
      this._failLater(failureMessage(e));
    }
  }

  /** Starts closing (code 1000, or 3000–4999; reason up to 123 bytes); `close` listeners run after the server answers. */
  close(code, reason) {
    if (this._state === CLOSED || this._state === CLOSING) return;
    const c = code === undefined || code === null ? 1000 : Number(code);
    const r = reason === undefined || reason === null ? '' : String(reason);
    if (!closeCodeAllowed(c)) {
      throw new Error(
        `InvalidAccessError: Failed to execute 'close' on 'WebSocket': The close code must be either 1000, or between 3000 and 4999. ${c} is neither`,
      );
    }
    if (new TextEncoder().encode(r).byteLength > 123) {
      throw new Error(`SyntaxError: Failed to execute 'close' on 'WebSocket': The message must not be greater than 123 bytes`);
    }
    this._state = CLOSING;
    this._code = c;
    if (this._conn === undefined) return;
    ready.push([
      this,
      () => {
        const reply = closeHandshake(this._conn, c, r);
        if (reply === undefined || reply === null) this._ended(undefined);
        else this._closedBy(reply);
      },
    ]);
  }

  _assertOpen() {
    if (this._state !== OPEN) throw new Error('InvalidStateError');
  }

  _event(type, extra) {
    return Object.assign({ type, target: this, timestamp: Date.now() }, extra);
  }

  _dispatch(type, event) {
    const on = this._on[type];
    const all = on ? [on, ...this._listeners[type]] : this._listeners[type].slice();
    for (const h of all) h.call(this, event);
  }

  /** Runs `open` or `message` listeners; as in k6, one that throws closes the socket first. */
  _guarded(type, event) {
    try {
      this._dispatch(type, event);
    } catch (e) {
      this._release();
      this._ended(String(e && e.message !== undefined ? e.message : e));
      throw e;
    }
  }

  _opened() {
    if (this._state !== CONNECTING) return;
    this._state = OPEN;
    this._guarded('open', this._event('open'));
  }

  _failLater(message) {
    ready.push([this, () => this._ended(message)]);
  }

  /** The socket is closed: error listeners (for `error`), then close listeners (k6's order). */
  _ended(error) {
    if (this._state === CLOSED) return;
    this._state = CLOSED;
    const i = live.indexOf(this);
    if (i >= 0) live.splice(i, 1);
    this._release();
    if (error !== undefined) this._dispatch('error', this._event('error', { error }));
    const close = { reason: this._reason };
    if (this._code !== undefined) close.code = this._code;
    this._dispatch('close', this._event('close', close));
  }

  /** Gives the session back to the host (frees its slot). */
  _release() {
    const conn = this._conn;
    this._conn = undefined;
    const dispose = conn && typeof Symbol.dispose === 'symbol' ? conn[Symbol.dispose] : undefined;
    if (typeof dispose === 'function') dispose.call(conn);
  }

  /**
   * The server's close frame ended the session (its own close, or its answer to ours). As in k6
   * (gorilla's IsUnexpectedCloseError), codes other than 1000 and 1001 are also an error.
   */
  _closedBy(frame) {
    this._code = frame.code;
    this._reason = frame.reason;
    const expected = frame.code === 1000 || frame.code === 1001;
    const text = frame.reason ? `: ${frame.reason}` : '';
    this._ended(expected ? undefined : `websocket: close ${frame.code}${text}`);
  }

  /** Handles one host event for this socket. */
  _handle(ev) {
    switch (ev.tag) {
      case 'text':
      case 'binary': {
        if (this._state !== OPEN) return;
        let data = ev.val;
        if (ev.tag === 'binary') {
          const bytes = new Uint8Array(data);
          data = this._binaryType === 'arraybuffer' ? bytes.buffer : new Blob([bytes]);
        }
        this._guarded('message', this._event('message', { data, origin: this._url }));
        return;
      }
      case 'ping':
        this._dispatch('ping', this._event('ping'));
        return;
      case 'pong':
        this._dispatch('pong', this._event('pong'));
        return;
      case 'closed':
        this._closedBy(ev.val);
        return;
      case 'failed':
        this._code = this._code === undefined ? 1006 : this._code;
        this._ended(failureMessage(ev.val));
        return;
      default:
    }
  }
}

for (const type of EVENTS) {
  Object.defineProperty(WebSocket.prototype, `on${type}`, {
    get() {
      return this._on[type] || null;
    },
    set(fn) {
      if (fn === null || fn === undefined) {
        delete this._on[type];
        return;
      }
      if (typeof fn !== 'function') throw new Error(`a value for 'on${type}' should be callable`);
      this._on[type] = fn;
    },
  });
}
Object.assign(WebSocket, { CONNECTING, OPEN, CLOSING, CLOSED });

addSource({
  busy() {
    return ready.length > 0 || live.length > 0;
  },
  poll(ms) {
    if (ready.length > 0) {
      const [, fn] = ready.shift();
      fn();
      return;
    }
    const open = live.filter((s) => s._conn !== undefined && s._state !== CONNECTING);
    const wait = Math.max(0, Math.min(ms, POLL_MS));
    const got = nextEvent(
      open.map((s) => s._conn),
      u64(wait),
    );
    if (got === undefined || got === null) return;
    open[got.index]._handle(got.event);
  },
  reset() {
    ready.length = 0;
    for (const s of live.splice(0)) {
      s._state = CLOSED;
      s._release();
    }
  },
});

export default { WebSocket, Blob };
