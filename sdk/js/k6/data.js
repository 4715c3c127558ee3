// k6's `k6/data`: `SharedArray`, made once per test and read by every VU. Its callback runs in
// the first init context (the options pass, __VU 0), which hands the elements to the host as
// JSON; every VU's SharedArray reads them from there by index, each access a frozen copy (as
// k6 decodes an element on each access). The host bounds what all shared arrays hold.
import { shareAppend, shared, sharedElement } from 'volley:scenario/init@0.1.1';
import { initializing } from '../runtime.js';

/** Elements handed to the host per call, so their JSON texts are never all in memory at once. */
const BATCH = 10000;

function deepFreeze(v) {
  if (v !== null && typeof v === 'object') {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze(v[k]);
  }
  return v;
}

/** Hands the callback's array to the host; returns its `[handle, length]`. */
function make(name, callback) {
  const data = callback();
  if (!Array.isArray(data)) throw new Error('only arrays can be made into SharedArray');
  for (let i = 0; i < data.length || i === 0; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(i + BATCH, data.length); j++) {
      const text = JSON.stringify(data[j]);
      batch.push(text === undefined ? 'null' : text);
    }
    shareAppend(name, batch);
  }
  return shared(name);
}

function index(prop) {
  if (typeof prop !== 'string' || prop === '' || prop.length > 10) return -1;
  const n = Number(prop);
  return Number.isInteger(n) && n >= 0 && String(n) === prop ? n : -1;
}

/** k6's `SharedArray(name, callback)`: a read-only array, made once (by `callback`) per test. */
export class SharedArray {
  constructor(name, callback) {
    if (!initializing) throw new Error('new SharedArray must be called in the init context');
    if (typeof name !== 'string' || name === '') {
      throw new Error("empty name provided to SharedArray's constructor");
    }
    if (typeof callback !== 'function') {
      throw new Error("a function is expected as the second argument of SharedArray's constructor");
    }
    const [handle, length] = shared(name) || make(name, callback);
    const element = (i) => deepFreeze(JSON.parse(sharedElement(handle, i)));
    function* iterate() {
      for (let i = 0; i < length; i++) yield element(i);
    }
    return new Proxy(this, {
      get(target, prop) {
        if (prop === 'length') return length;
        if (prop === Symbol.iterator) return iterate;
        const i = index(prop);
        if (i >= 0) return i < length ? element(i) : undefined;
        return Reflect.get(target, prop);
      },
      has(target, prop) {
        const i = index(prop);
        return i >= 0 ? i < length : prop === 'length' || Reflect.has(target, prop);
      },
      set() {
        throw new TypeError('SharedArray is read-only');
      },
      deleteProperty() {
        throw new TypeError('SharedArray is read-only');
      },
    });
  }
}

export default { SharedArray };
