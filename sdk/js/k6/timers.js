// k6's `k6/timers` (and the global setTimeout family) on Volley, in plain JavaScript, and the
// VU's event loop. As in k6, timers run within the iteration that set them: once the
// iteration's function returns, the VU runs every pending timer in due order and the events of
// its event sources (`k6/websockets`, gRPC streams), waiting in between without blocking other VUs, and the
// iteration ends when no timer is pending and no source is busy. An interval never cleared (or
// a socket never closed) keeps its iteration running until the scenario stops it, as in k6.
import { sleep, now } from 'volley:scenario/timing@0.1.1';
import { u64 } from 'volley-engine';

/** Pending timers: { id, due, seq, fn, args, every }. */
const pending = [];
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

/**
 * Event sources besides timers: `{ busy(), poll(ms), reset() }`. `busy()` says whether the
 * iteration must wait for it; `poll(ms)` handles its next event, waiting at most `ms`
 * milliseconds (0: only what is ready); `reset()` forgets everything (a failed iteration).
 */
const sources = [];
/** Longest single wait on the sources when no timer is due sooner. */
const SOURCE_WAIT_MS = 1000;
/** Longest single wait on each source when several are busy, so none holds up the others. */
const SHARED_WAIT_MS = 10;

/** Adds an event source to the loop `drain` runs (once per source). */
export function addSource(source) {
  if (!sources.includes(source)) sources.push(source);
}

/** The pending timer due first (ties: the one set first), or undefined. */
function earliest() {
  let next;
  for (const t of pending) {
    if (next === undefined || t.due < next.due || (t.due === next.due && t.seq < next.seq)) next = t;
  }
  return next;
}

/** Runs `t` (an interval is rescheduled first, so that it may clear itself). */
function fire(t) {
  if (t.every === undefined) {
    pending.splice(pending.indexOf(t), 1);
  } else {
    t.due += t.every;
    t.seq = seq++;
  }
  t.fn(...t.args);
}

/**
 * Runs the pending timers and the sources' events in due order until no timer is pending and no
 * source is busy (the end of an iteration).
 */
export function drain() {
  // Most iterations leave nothing: return without building the list of busy sources.
  if (pending.length === 0 && !sources.some((s) => s.busy())) return;
  for (;;) {
    const t = earliest();
    const busy = sources.filter((s) => s.busy());
    if (t === undefined && busy.length === 0) return;
    const wait = t === undefined ? Infinity : Math.max(0, t.due - now());
    if (busy.length > 0) {
      // Events due before the timer; a timer due now still lets ready events go first.
      const slice = Math.min(wait, SOURCE_WAIT_MS, busy.length > 1 ? SHARED_WAIT_MS : Infinity);
      for (const s of busy) s.poll(Math.ceil(slice));
      if (t === undefined || t.due > now()) continue;
    } else if (wait > 0) {
      sleep(u64(Math.ceil(wait)));
    }
    if (pending.includes(t)) fire(t);
  }
}

/** Forgets every pending timer and source event (an iteration that failed leaves none for the next). */
export function reset() {
  pending.length = 0;
  for (const s of sources) s.reset();
}

// k6 has these as globals too.
Object.assign(globalThis, { setTimeout, clearTimeout, setInterval, clearInterval });

export default { setTimeout, clearTimeout, setInterval, clearInterval };
