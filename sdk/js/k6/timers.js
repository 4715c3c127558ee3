// k6's `k6/timers` (and the global setTimeout family) on Volley, in plain JavaScript. As in k6,
// timers run within the iteration that set them: once the iteration's function returns, the VU
// runs every pending timer in due order (sleeping in between without blocking other VUs), and
// the iteration ends when none is left; event sources (gRPC streams) are waited on between
// timers, and the iteration also waits until none is active. An interval never cleared keeps its iteration running
// until the scenario stops it, as in k6.
import { sleep, now } from 'volley:scenario/timing@0.1.1';
import { u64 } from 'volley-engine';

/** Pending timers: { id, due, seq, fn, args, every }. */
const pending = [];
/**
 * Event sources the loop also waits on (gRPC streams): { active(), wait(ms), reset() }.
 * `wait(ms)` waits at most `ms` for the source's next events and runs their handlers.
 */
const sources = [];
/** Longest single wait on a source when no timer is due sooner. */
const SOURCE_WAIT_MS = 1000;
/** Longest single wait on each source when several are active, so none holds up the others. */
const SHARED_WAIT_MS = 10;
let nextId = 1;
let seq = 0;

function delayOf(ms) {
  const d = Number(ms);
  return Number.isFinite(d) && d > 0 ? d : 0;
}

function add(fn, ms, args, repeat) {
  if (typeof fn !== 'function') throw new TypeError('setTimeout/setInterval: the callback is not a function');
  const every = delayOf(ms);
  const id = nextId++;
  pending.push({ id, due: now() + every, seq: seq++, fn, args, every: repeat ? every : undefined });
  return id;
}

function clear(id) {
  const i = pending.findIndex((t) => t.id === id);
  if (i >= 0) pending.splice(i, 1);
}

/** Calls `fn(...args)` once, `ms` milliseconds from now; returns its id. */
export function setTimeout(fn, ms, ...args) {
  return add(fn, ms, args, false);
}

/** Calls `fn(...args)` every `ms` milliseconds until cleared; returns its id. */
export function setInterval(fn, ms, ...args) {
  return add(fn, ms, args, true);
}

/** Cancels a timeout. */
export function clearTimeout(id) {
  clear(id);
}

/** Cancels an interval. */
export function clearInterval(id) {
  clear(id);
}

/** Adds an event source the iteration's end waits for (once per source). */
export function addEventSource(source) {
  if (!sources.includes(source)) sources.push(source);
}

/** The timer due first, or undefined. */
function nextTimer() {
  let next;
  for (const t of pending) {
    if (next === undefined || t.due < next.due || (t.due === next.due && t.seq < next.seq)) next = t;
  }
  return next;
}

/**
 * Runs the pending timers in due order, and the events of active sources as they come, until
 * no timer is left and no source is active (the end of an iteration).
 */
export function drain() {
  for (;;) {
    const live = sources.filter((s) => s.active());
    const t = nextTimer();
    if (t === undefined && live.length === 0) return;
    const wait = t === undefined ? SOURCE_WAIT_MS : t.due - now();
    if (t !== undefined && wait <= 0) {
      if (t.every === undefined) {
        pending.splice(pending.indexOf(t), 1);
      } else {
        t.due += t.every;
        t.seq = seq++;
      }
      t.fn(...t.args);
    } else if (live.length === 0) {
      sleep(u64(Math.ceil(wait)));
    } else {
      const each = Math.ceil(Math.min(wait, SOURCE_WAIT_MS, live.length > 1 ? SHARED_WAIT_MS : Infinity));
      for (const s of live) s.wait(each);
    }
  }
}

/** Forgets every pending timer (an iteration that failed leaves none for the next). */
export function reset() {
  pending.length = 0;
  for (const s of sources) s.reset();
}

// k6 has these as globals too.
Object.assign(globalThis, { setTimeout, clearTimeout, setInterval, clearInterval });

export default { setTimeout, clearTimeout, setInterval, clearInterval };
