// k6's `k6/ws` module on Volley: `ws.connect(url, params, callback)` runs the session's event
// loop (handlers, setTimeout/setInterval) over the WIT `websocket` import, which records k6's
// ws_* metrics on the host. As in k6, `connect` returns when the socket is closed.
import { connect as hostConnect } from 'volley:scenario/websocket@0.1.1';
import { u64 } from 'volley-engine';

/** Longest single wait for a message, so timers and close() are never held up for long. */
const POLL_MS = 1000;
/** How long `socket.ping()` waits for its pong. */
const PING_TIMEOUT_MS = 10000;

function headerList(headers) {
  return Object.entries(headers || {}).map(([name, value]) => ({ name, value: String(value) }));
}

function failureMessage(e) {
  const p = e && e.payload !== undefined ? e.payload : e;
  return p && p.message !== undefined ? p.message : String(p);
}

class Socket {
  constructor(conn) {
    this._conn = conn;
    this._handlers = {};
    this._timers = [];
    this._closed = false;
    this._queued = [];
  }

  /** Registers `handler` for `open`, `message`, `binaryMessage`, `ping`, `pong`, `close` or `error`. */
  on(event, handler) {
    (this._handlers[event] = this._handlers[event] || []).push(handler);
  }

  _fire(event, ...args) {
    for (const h of this._handlers[event] || []) h.apply(this, args);
  }

  /** Sends a text message. */
  send(data) {
    if (this._closed) return;
    try {
      this._conn.sendText(String(data));
    } catch (e) {
      this._fail(e);
    }
  }

  /** Sends a binary message (an ArrayBuffer or typed array). */
  sendBinary(data) {
    if (this._closed) return;
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    try {
      this._conn.sendBinary(bytes);
    } catch (e) {
      this._fail(e);
    }
  }

  /** Pings the server; the `pong` handlers run once it answers (recorded in ws_ping). */
  ping() {
    if (this._closed) return;
    try {
      this._conn.ping(u64(PING_TIMEOUT_MS));
      this._queued.push(['pong']);
    } catch (e) {
      this._fail(e);
    }
  }

  /** Closes the session (code 1000 unless given) and runs the `close` handlers. */
  close(code) {
    if (this._closed) return;
    const c = code === undefined ? 1000 : Number(code);
    try {
      this._conn.close(c, '');
    } catch (_) {
      // As k6: closing never throws.
    }
    this._end(c);
  }

  /** Runs `fn` once after `ms` milliseconds, inside the session. */
  setTimeout(fn, ms) {
    this._timers.push({ fn, at: Date.now() + Number(ms), every: 0 });
  }

  /** Runs `fn` every `ms` milliseconds until the session ends. */
  setInterval(fn, ms) {
    const every = Math.max(1, Number(ms));
    this._timers.push({ fn, at: Date.now() + every, every });
  }

  _end(code) {
    if (this._closed) return;
    this._closed = true;
    this._fire('close', code);
  }

  _fail(e) {
    this._fire('error', { error: () => failureMessage(e) });
    this._end(1006);
  }

  _runDue() {
    while (this._queued.length > 0 && !this._closed) this._fire(...this._queued.shift());
    const now = Date.now();
    for (const t of this._timers.filter((t) => t.at <= now)) {
      if (this._closed) return;
      t.fn.call(this);
      if (t.every > 0) t.at = now + t.every;
    }
    this._timers = this._timers.filter((t) => t.every > 0 || t.at > now);
  }

  _loop() {
    this._fire('open');
    while (!this._closed) {
      this._runDue();
      if (this._closed) break;
      let wait = POLL_MS;
      for (const t of this._timers) wait = Math.min(wait, t.at - Date.now());
      if (this._queued.length > 0) wait = 0;
      if (wait <= 0) continue;
      let msg;
      try {
        msg = this._conn.receive(u64(Math.ceil(wait)));
      } catch (e) {
        this._fail(e);
        break;
      }
      if (msg === undefined || msg === null) continue;
      if (msg.tag === 'text') this._fire('message', msg.val);
      else if (msg.tag === 'binary') this._fire('binaryMessage', msg.val.buffer.slice(msg.val.byteOffset, msg.val.byteOffset + msg.val.byteLength));
      else if (msg.tag === 'close') this._end(msg.val.code);
    }
  }
}

/**
 * Opens a session to `url` (k6's `ws.connect(url, [params], callback)`), calls `callback(socket)`
 * to register handlers, then runs the session until it closes. Params: `headers` (a
 * `Sec-WebSocket-Protocol` header offers subprotocols) and `tags`. Returns k6's response object;
 * throws when the connection or handshake fails.
 */
export function connect(url, params, callback) {
  if (typeof params === 'function') {
    callback = params;
    params = {};
  }
  params = params || {};
  const headers = [];
  const subprotocols = [];
  for (const h of headerList(params.headers)) {
    if (h.name.toLowerCase() === 'sec-websocket-protocol') {
      subprotocols.push(...h.value.split(',').map((p) => p.trim()).filter((p) => p));
    } else {
      headers.push(h);
    }
  }
  const tags = Object.entries(params.tags || {}).map(([key, value]) => ({ key, value: String(value) }));
  let conn;
  try {
    conn = hostConnect(String(url), { headers, subprotocols, tags, timeoutMs: undefined });
  } catch (e) {
    throw new Error(failureMessage(e));
  }
  const socket = new Socket(conn);
  if (callback) callback(socket);
  socket._loop();
  return { url: String(url), status: 101, headers: {}, body: '', error: '', subprotocol: conn.protocol() };
}

export default { connect };
