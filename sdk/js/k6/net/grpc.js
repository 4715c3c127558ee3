// k6's `k6/net/grpc` module on Volley: `Client` with `load`, `connect`, `invoke` and `close` over
// the WIT `grpc` import, which records k6's grpc_* metrics on the host. The `.proto` files a
// script loads are read by `volley build` and embedded (`../../protos.js`): `client.load` at the
// top level only names them, and the host compiles them on the first `connect` of each VU.
import { Client as HostClient } from 'volley:scenario/grpc@0.1.1';
import { u64 } from 'volley-engine';
import protos from '../../protos.js';
import { timeoutMs } from '../http.js';

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

  /** Connects to `address` (`host:port`); params: `plaintext`, `timeout`. */
  connect(address, params) {
    params = params || {};
    if (params.reflect) throw new Error('server reflection is not supported by Volley: use client.load');
    if (this._host === null) {
      try {
        this._host = HostClient.load(Object.entries(protos));
      } catch (e) {
        throw new Error(failureMessage(e));
      }
    }
    const ms = timeoutMs(params.timeout);
    try {
      this._host.connect(String(address), {
        plaintext: !!params.plaintext,
        timeoutMs: ms === undefined ? undefined : u64(ms),
      });
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
    const ms = timeoutMs(params.timeout);
    let r;
    try {
      r = this._host.invoke(String(method), JSON.stringify(request === undefined ? {} : request), {
        metadata: Object.entries(params.metadata || {}).map(([name, value]) => ({ name, value: String(value) })),
        tags: Object.entries(params.tags || {}).map(([key, value]) => ({ key, value: String(value) })),
        timeoutMs: ms === undefined ? undefined : u64(ms),
      });
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

export default {
  Client,
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
