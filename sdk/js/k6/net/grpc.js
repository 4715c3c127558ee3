// k6's `k6/net/grpc` module on Volley: `Client` with `load`, `connect` (also with `reflect`),
// `invoke` and `close` over the WIT `grpc` import, and `Stream` over `grpc-streams`, whose host
// side records k6's grpc_* metrics. The `.proto` files a script loads are read by `volley build`
// and embedded (`../../protos.js`): `client.load` at the top level only names them, and the host
// compiles them on the first `connect` of each VU. A stream's events run on the VU's event loop
// (`../timers.js`): after the iteration's function returns, until every stream has ended.
import { Client as HostClient } from 'volley:scenario/grpc@0.1.1';
import { reflect as hostReflect, nextEvent, CallStream } from 'volley:scenario/grpc-streams@0.1.1';
import { u64 } from 'volley-engine';
import protos from '../../protos.js';
import { timeoutMs } from '../http.js';
import { addSource } from '../timers.js';

export const StatusOK = 0;
export const StatusCanceled = 1;
export const StatusUnknown = 2;
export const StatusInvalidArgument = 3;
export const StatusDeadlineExceeded = 4;
export const StatusNotFound = 5;
export const StatusAlreadyExists = 6;
export const StatusPermissionDenied = 7;
export const StatusResourceExhausted = 8;
export const StatusFailedPrecondition = 9;
export const StatusAborted = 10;
export const StatusOutOfRange = 11;
export const StatusUnimplemented = 12;
export const StatusInternal = 13;
export const StatusUnavailable = 14;
export const StatusDataLoss = 15;
export const StatusUnauthenticated = 16;

function failureMessage(e) {
  const p = e && e.payload !== undefined ? e.payload : e;
  return p && p.message !== undefined ? p.message : String(p);
}

/** `{k: v}` as [{name|key: k, value: 'v'}]. */
function pairs(obj, keyName) {
  return Object.entries(obj || {}).map(([k, value]) => ({ [keyName]: k, value: String(value) }));
}

/** k6's call params (`metadata`, `tags`, `timeout`) as the host takes them. */
function callParams(params) {
  const ms = timeoutMs(params.timeout);
  return {
    metadata: pairs(params.metadata, 'name'),
    tags: pairs(params.tags, 'key'),
    timeoutMs: ms === undefined ? undefined : u64(ms),
  };
}

function headerObject(list) {
  const out = {};
  for (const { name, value } of list) out[name] = value;
  return out;
}

/** A gRPC client (k6's `new grpc.Client()`). */
export class Client {
  constructor() {
    this._files = [];
    this._host = null;
  }

  /** Names the `.proto` files to use (k6's `client.load(importPaths, ...files)`). */
  load(_importPaths, ...files) {
    for (const f of files) {
      if (!(f in protos)) throw new Error(`${f} was not embedded by volley build`);
    }
    this._files.push(...files);
    return [];
  }

  /** k6's protoset loading is not supported: load the `.proto` files instead. */
  loadProtoset() {
    throw new Error('loadProtoset is not supported by Volley: use client.load with .proto files');
  }

  /**
   * Connects to `address` (`host:port`); params: `plaintext`, `timeout`, `reflect` (the schema
   * from the server's reflection service) and `reflectMetadata`.
   */
  connect(address, params) {
    params = params || {};
    const ms = timeoutMs(params.timeout);
    const connectParams = { plaintext: !!params.plaintext, timeoutMs: ms === undefined ? undefined : u64(ms) };
    if (params.reflect) {
      if (this._host !== null) this._host.close();
      try {
        this._host = hostReflect(String(address), connectParams, pairs(params.reflectMetadata, 'name'));
      } catch (e) {
        throw new Error(failureMessage(e));
      }
      return true;
    }
    if (this._host === null) {
      try {
        this._host = HostClient.load(Object.entries(protos));
      } catch (e) {
        throw new Error(failureMessage(e));
      }
    }
    try {
      this._host.connect(String(address), connectParams);
    } catch (e) {
      throw new Error(failureMessage(e));
    }
    return true;
  }

  /**
   * A unary call (k6's `client.invoke(method, request, params)`): params `metadata`, `tags`,
   * `timeout`. Returns `{status, message, headers, trailers, error}`; a non-OK status is not an
   * exception, as in k6.
   */
  invoke(method, request, params) {
    if (this._host === null) throw new Error('invoke: the client is not connected');
    params = params || {};
    let r;
    try {
      r = this._host.invoke(String(method), JSON.stringify(request === undefined ? {} : request), callParams(params));
    } catch (e) {
      throw new Error(failureMessage(e));
    }
    return {
      status: r.status,
      message: r.messages.length > 0 ? JSON.parse(r.messages[0]) : null,
      headers: headerObject(r.headers),
      trailers: headerObject(r.trailers),
      error: r.status === StatusOK ? null : { code: r.status, message: r.statusMessage },
    };
  }

  /** Closes the connection; `connect` may be called again. */
  close() {
    if (this._host !== null) this._host.close();
  }
}

/** This VU's open streams by number. */
const openStreams = new Map();
/** Most events handled in one wait, so that timers due meanwhile are not held up. */
const EVENTS_PER_WAIT = 64;

/** The streams as an event source of the VU's event loop. */
const streamEvents = {
  busy() {
    return openStreams.size > 0;
  },
  poll(ms) {
    let event = nextEvent(u64(ms));
    for (let n = 0; event != null && n < EVENTS_PER_WAIT; n++) {
      const s = openStreams.get(event.stream);
      if (s !== undefined) s._event(event.kind);
      if (openStreams.size === 0) return;
      event = nextEvent(u64(0));
    }
  },
  reset() {
    for (const s of openStreams.values()) s._host.cancel();
    openStreams.clear();
  },
};

const EVENTS = ['data', 'error', 'end', 'status'];

/** grpc-go's names of the status codes, as k6's error objects print them. */
const CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists',
  'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange',
  'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

/**
 * A stream's error as k6 gives it: `code` is the number in JSON and its name as a string
 * (`${e.code}` is `InvalidArgument`), `error()` says both.
 */
function statusError(code, message) {
  const boxed = new Number(code);
  const name = CODE_NAMES[code] || `Code(${code})`;
  boxed.toString = () => name;
  return { code: boxed, details: [], message, error: () => `code: ${code}, message: ${message}` };
}

/**
 * A stream on a connected client (k6's `new grpc.Stream(client, 'pkg.Service/Method', params)`):
 * client-, server- or bidirectional streaming. Handlers (`on('data'|'error'|'end'|'status')`)
 * run on the event loop once the iteration's function has returned; the iteration ends when the
 * stream has ended. As in k6: `data` gets each message, `error` a non-OK status
 * (`{code, details, message}`) just before `end`, and each handler a `{ts}` (seconds) second.
 */
export class Stream {
  constructor(client, method, params) {
    if (!(client instanceof Client)) throw new Error("invalid GRPC Stream's client: not a grpc.Client");
    if (client._host === null) throw new Error('failed to create a new stream: the client is not connected');
    try {
      this._host = CallStream.open(client._host, String(method), callParams(params || {}));
    } catch (e) {
      throw new Error(`failed to create a new stream: ${failureMessage(e)}`);
    }
    this._handlers = { data: [], error: [], end: [], status: [] };
    this._writing = true;
    openStreams.set(this._host.id(), this);
    addSource(streamEvents);
  }

  /** Registers `handler` for `data`, `error`, `end` or `status`. */
  on(event, handler) {
    if (typeof handler !== 'function') throw new Error(`handler for "${event}" event isn't a callable function`);
    if (!EVENTS.includes(event)) {
      console.warn(`can't register ${event} event handler: unknown event`);
      return;
    }
    this._handlers[event].push(handler);
  }

  /** Sends a message (an object, as JSON); ignored once `end` was called. */
  write(message) {
    if (!this._writing) return;
    if (message === null || message === undefined) {
      console.warn("can't send empty message");
      return;
    }
    try {
      this._host.write(JSON.stringify(message));
    } catch (e) {
      throw new Error(failureMessage(e));
    }
  }

  /** Ends the client's side of the stream. */
  end() {
    if (!this._writing) return;
    this._writing = false;
    this._host.end();
  }

  _fire(event, value) {
    const meta = { ts: Math.floor(Date.now() / 1000) };
    for (const h of this._handlers[event]) h(value, meta);
  }

  _event(kind) {
    if (kind.tag === 'data') {
      this._fire('data', JSON.parse(kind.val));
      return;
    }
    openStreams.delete(this._host.id());
    this._writing = false;
    const { code, message } = kind.val;
    if (code !== StatusOK) this._fire('error', statusError(code, message));
    this._fire('end', {});
  }
}

export default {
  Client,
  Stream,
  StatusOK,
  StatusCanceled,
  StatusUnknown,
  StatusInvalidArgument,
  StatusDeadlineExceeded,
  StatusNotFound,
  StatusAlreadyExists,
  StatusPermissionDenied,
  StatusResourceExhausted,
  StatusFailedPrecondition,
  StatusAborted,
  StatusOutOfRange,
  StatusUnimplemented,
  StatusInternal,
  StatusUnavailable,
  StatusDataLoss,
  StatusUnauthenticated,
};
