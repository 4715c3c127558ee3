// Volley's glue between a k6 script and the volley:scenario world: k6's init context (the
// script's top level, run once per VU), k6's globals (__ENV, __VU, __ITER), and the world's
// exports (options, setup, iteration, teardown) built from the script's `options`, `setup`,
// `default` (or the scenario's `exec`) and `teardown`.
import { env, id, iteration as iterationNumber, exec } from 'volley:scenario/vu@0.1.1';
import { failed } from 'volley:scenario/init@0.1.1';
import { toToml } from './toml.js';
import { configure } from './k6/http.js';
import { declared } from './k6/metrics.js';
import { b64encode } from './k6/encoding.js';
import { drain as runTimers, reset as dropTimers } from './k6/timers.js';

// The shim's own top level runs once, when the component is built (a snapshot), where there is
// no test and no VU yet; `running` turns true when a VU first calls an export.
let running = false;

function envVar(name) {
  if (typeof name !== 'string') return undefined;
  if (!running) {
    throw new Error(
      `__ENV.${name} is read while the component is built (the shim's top level), not in a VU`,
    );
  }
  if (seenEnv.has(name)) return seenEnv.get(name);
  const value = env(name);
  // An absent variable is `undefined`, whichever way the engine lifts a WIT `none`.
  const found = value === null ? undefined : value;
  seenEnv.set(name, found);
  return found;
}

/** Variables already asked of the host: a VU's are fixed for its life, and a host call costs
 * more than the lookup, so a script may read `__ENV` in every iteration for free. */
const seenEnv = new Map();

/** k6's `__ENV`: the test's `-e NAME=VALUE` variables, read from the host on first access. */
const ENV = new Proxy(
  {},
  {
    get: (_, name) => envVar(name),
    has: (_, name) => envVar(name) !== undefined,
    // As in k6, a VU's __ENV is its own to change (`__ENV.X = __ENV.X || 'default'`).
    set: (_, name, value) => {
      seenEnv.set(name, value);
      return true;
    },
    deleteProperty: (_, name) => {
      seenEnv.set(name, undefined);
      return true;
    },
  },
);

// __ENV, __VU and __ITER on the global object, there when the script's top level runs.
Object.defineProperty(globalThis, '__ENV', { value: ENV, configurable: true });
// __VU is the VU's number, also in its init context (0 in the options pass); __ITER is 0 there.
Object.defineProperty(globalThis, '__VU', { get: () => (running ? id() : 0), configurable: true });
Object.defineProperty(globalThis, '__ITER', {
  get: () => (running && !initializing ? Number(iterationNumber()) : 0),
  configurable: true,
});

/** An error's message as the WIT `string` error of an export. */
function message(e) {
  if (e instanceof Error) return e.stack ? `${e.message}\n${e.stack}`.trim() : e.message;
  return String(e);
}

function parse(data) {
  return data === '' ? undefined : JSON.parse(data);
}

/**
 * The entry point this VU's iterations run (the WIT `vu.exec`): fixed for a VU's life, so it is
 * asked once instead of once per iteration (a host call costs more than the cache).
 */
let execName;

/**
 * The WIT `handle-summary`: the script's `handleSummary(data)` outputs as a JSON object of
 * strings (ArrayBuffer and typed-array values as `{ "base64": ... }`), or `undefined` (the WIT
 * `none`) when the script has none.
 */
function summaryOutputs(script, data) {
  if (typeof script.handleSummary !== 'function') return undefined;
  try {
    const out = script.handleSummary(JSON.parse(data));
    runTimers();
    const outputs = {};
    for (const [name, value] of Object.entries(out || {})) {
      if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
        const bytes = value instanceof ArrayBuffer ? value : value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
        outputs[name] = { base64: b64encode(bytes) };
      } else {
        outputs[name] = typeof value === 'string' ? value : JSON.stringify(value);
      }
    }
    return JSON.stringify(outputs);
  } catch (e) {
    dropTimers();
    throw message(e);
  }
}

/** Whether the script's top level is running (k6's init context). */
export let initializing = false;

/**
 * k6's `require` inside the script: the snapshot's shim module `name` as a CommonJS module
 * (`__esModule`, so `import http from 'k6/http'` is its default export). The wrappers are made
 * here, in the snapshot, so a VU's init context allocates none.
 */
function requireFrom(modules) {
  const wrapped = {};
  for (const [name, ns] of Object.entries(modules)) {
    const m = { __esModule: true };
    for (const key of Object.keys(ns)) {
      Object.defineProperty(m, key, { get: () => ns[key], enumerable: true });
    }
    wrapped[name] = m;
  }
  return function require(name) {
    const m = wrapped[name];
    if (m === undefined) throw new Error(`module '${name}' is not available in Volley`);
    return m;
  };
}

/** The world's exports for the script function `main` (see user.js) and its shim `modules`. */
export function exportsFor(main, modules) {
  const require = requireFrom(modules);
  let script;
  let failure;

  /** Runs this VU's init context once: the script's top level; throws what it threw. */
  function init() {
    if (script !== undefined) return script;
    if (failure !== undefined) throw failure;
    running = true;
    initializing = true;
    const module = { exports: {} };
    try {
      main(require, module, module.exports);
      script = module.exports;
      configure(script.options);
      return script;
    } catch (e) {
      failure = message(e);
      // The host fails the run with it (k6: exit 107), rather than every iteration.
      failed(failure);
      throw failure;
    } finally {
      initializing = false;
      // As in k6, a VU's iterations start from a fresh __ENV: what the init context set is gone.
      seenEnv.clear();
    }
  }

  return {
    options() {
      try {
        init();
      } catch (_) {
        // Reported through init.failed: the host fails the VU (k6: exit 107) with its message.
        return '';
      }
      // The metrics the top level created are declared, so thresholds may name them.
      const metrics = { ...declared, ...(script.options || {}).metrics };
      if (script.options === undefined && Object.keys(metrics).length === 0) return '';
      return toToml(Object.keys(metrics).length ? { ...script.options, metrics } : script.options);
    },
    setup() {
      try {
        init();
        if (typeof script.setup !== 'function') return '';
        const data = script.setup();
        runTimers();
        return data === undefined ? '' : JSON.stringify(data);
      } catch (e) {
        dropTimers();
        throw message(e);
      }
    },
    iteration(data) {
      init();
      if (execName === undefined) execName = exec();
      const name = execName;
      const fn = name === 'default' ? script.default : script[name];
      if (typeof fn !== 'function') throw `this script exports no function '${name}'`;
      try {
        fn(parse(data));
        // As in k6, the iteration ends once its timers have run (k6/timers).
        runTimers();
      } catch (e) {
        dropTimers();
        throw message(e);
      }
    },
    handleSummary(data) {
      return summaryOutputs(init(), data);
    },
    teardown(data) {
      try {
        init();
        if (typeof script.teardown !== 'function') return;
        script.teardown(parse(data));
        runTimers();
      } catch (e) {
        dropTimers();
        throw message(e);
      }
    },
  };
}
