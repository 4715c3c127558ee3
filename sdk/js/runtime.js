// Volley's glue between a k6-style ES module and the volley:scenario world: k6's globals
// (__ENV, __VU, __ITER), and the world's exports (options, setup, iteration, teardown) built
// from the script's `options`, `setup`, `default` (or the scenario's `exec`) and `teardown`.
import { env, id, iteration as iterationNumber, exec } from 'volley:scenario/vu@0.1.1';
import { toToml } from './toml.js';

/** k6's `__ENV`: the test's `-e NAME=VALUE` variables, read from the host on access. */
const ENV = new Proxy(
  {},
  {
    get: (_, name) => (typeof name === 'string' ? env(name) : undefined),
    has: (_, name) => typeof name === 'string' && env(name) !== undefined,
  },
);

// __ENV, __VU and __ITER on the global object. This module is imported before the script, so
// they exist while the script's own top level runs.
Object.defineProperty(globalThis, '__ENV', { value: ENV, configurable: true });
Object.defineProperty(globalThis, '__VU', { get: () => id(), configurable: true });
Object.defineProperty(globalThis, '__ITER', { get: () => Number(iterationNumber()), configurable: true });

/** An error's message as the WIT `string` error of an export. */
function message(e) {
  if (e instanceof Error) return e.stack ? `${e.message}\n${e.stack}`.trim() : e.message;
  return String(e);
}

function parse(data) {
  return data === '' ? undefined : JSON.parse(data);
}

/** The world's exports for the script module namespace `script`. */
export function exportsFor(script) {
  return {
    options() {
      return script.options === undefined ? '' : toToml(script.options);
    },
    setup() {
      if (typeof script.setup !== 'function') return '';
      try {
        const data = script.setup();
        return data === undefined ? '' : JSON.stringify(data);
      } catch (e) {
        throw message(e);
      }
    },
    iteration(data) {
      const name = exec();
      const fn = name === 'default' ? script.default : script[name];
      if (typeof fn !== 'function') throw `this script exports no function '${name}'`;
      try {
        fn(parse(data));
      } catch (e) {
        throw message(e);
      }
    },
    teardown(data) {
      if (typeof script.teardown !== 'function') return;
      try {
        script.teardown(parse(data));
      } catch (e) {
        throw message(e);
      }
    },
  };
}
