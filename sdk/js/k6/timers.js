// k6's `k6/timers` (and the global setTimeout family) on Volley, in plain JavaScript. As in k6,
// timers run within the iteration that set them: once the iteration's function returns, the VU
// runs every pending timer in due order (sleeping in between without blocking other VUs), and
// the iteration ends when none is left. An interval never cleared keeps its iteration running
// until the scenario stops it, as in k6.
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

/** Runs the pending timers in due order until none is left (the end of an iteration). */
export function drain() {
  while (pending.length > 0) {
    let next = 0;
    for (let i = 1; i < pending.length; i++) {
      const a = pending[i];
      const b = pending[next];
      if (a.due < b.due || (a.due === b.due && a.seq < b.seq)) next = i;
    }
    const t = pending[next];
    const wait = t.due - now();
    if (wait > 0) sleep(u64(Math.ceil(wait)));
    if (t.every === undefined) {
      pending.splice(pending.indexOf(t), 1);
    } else {
      t.due += t.every;
      t.seq = seq++;
    }
    t.fn(...t.args);
  }
}

/** Forgets every pending timer (an iteration that failed leaves none for the next). */
export function reset() {
  pending.length = 0;
}

// k6 has these as globals too.
Object.assign(globalThis, { setTimeout, clearTimeout, setInterval, clearInterval });

export default { setTimeout, clearTimeout, setInterval, clearInterval };
