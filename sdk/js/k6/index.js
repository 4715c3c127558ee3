// k6's `k6` module on Volley: check, sleep, group, fail, over the volley:scenario WIT imports.
import { check as recordCheck } from 'volley:scenario/checks@0.1.1';
import { sleep as hostSleep } from 'volley:scenario/timing@0.1.1';
import { enter, exit } from 'volley:scenario/group@0.1.1';
import { checkTagged } from 'volley:scenario/execution@0.1.1';
import { u64 } from 'volley-engine';

export { randomSeed } from '../random.js';

/**
 * Runs every named predicate of `sets` on `value`, records each as one sample of the `checks`
 * metric (with `tags`, if given, on each), and returns whether all passed (k6's
 * `check(val, sets, [tags])`). A non-function value counts as passed when truthy.
 */
export function check(value, sets, tags) {
  const list = tags ? Object.entries(tags).map(([key, v]) => ({ key, value: String(v) })) : [];
  let all = true;
  for (const [name, predicate] of Object.entries(sets || {})) {
    const passed = typeof predicate === 'function' ? !!predicate(value) : !!predicate;
    const ok = list.length ? checkTagged(name, passed, list) : recordCheck(name, passed);
    if (!ok) all = false;
  }
  return all;
}

/** Suspends this VU for `seconds` (fractions allowed) without blocking other VUs. */
export function sleep(seconds) {
  const ms = Math.max(0, Math.round(Number(seconds) * 1000));
  hostSleep(u64(Number.isFinite(ms) ? ms : 0));
}

/** Runs `fn` inside group `name`: its samples carry the `group` tag; returns what `fn` returns. */
export function group(name, fn) {
  enter(String(name));
  try {
    return fn();
  } finally {
    exit();
  }
}

/** Fails the current iteration with `message`, as k6's `fail`. */
export function fail(message) {
  throw new Error(message === undefined ? 'fail() called' : String(message));
}

export default { check, sleep, group, fail };
