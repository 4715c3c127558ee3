// Math.random for every VU, and k6's randomSeed. The engine's own generator is part of the
// build-time snapshot every VU starts from, so on QuickJS every VU drew the same numbers. Here
// each VU seeds an sfc32 generator on its first draw from its VU id and the host's clock (to
// the nanosecond), so VUs and runs differ; randomSeed(n) makes a VU's draws repeatable, as k6's.
import { id } from 'volley:scenario/vu@0.1.1';
import { now } from 'volley:scenario/timing@0.1.1';

const state = new Uint32Array(4);
let seeded = false;

/** sfc32: 32-bit state words a, b, c and counter d; a number in [0, 1). */
function next() {
  const [a, b, c, d] = state;
  const t = (((a + b) >>> 0) + d) >>> 0;
  state[3] = (d + 1) >>> 0;
  state[0] = b ^ (b >>> 9);
  state[1] = (c + (c << 3)) >>> 0;
  state[2] = (((c << 21) | (c >>> 11)) + t) >>> 0;
  return t / 4294967296;
}

function seedWith(a, b, c) {
  state[0] = a >>> 0;
  state[1] = b >>> 0;
  state[2] = c >>> 0;
  state[3] = 1;
  for (let i = 0; i < 15; i++) next();
  seeded = true;
}

function seedFromHost() {
  let vu = 0;
  let t = 0;
  try {
    vu = id();
    t = now();
  } catch (_) {
    // At build time (the snapshot) there is no VU: draw from a fixed seed, reseed in a VU.
    seedWith(0x9e3779b9, 0x243f6a88, 0xb7e15162);
    seeded = false;
    return;
  }
  seedWith(vu, Math.floor(t), Math.floor((t % 1) * 4294967296));
}

Math.random = function random() {
  if (!seeded) seedFromHost();
  return next();
};

/** k6's `randomSeed(n)`: this VU's Math.random draws the same sequence for the same `n`. */
export function randomSeed(n) {
  const x = Math.floor(Number(n)) || 0;
  seedWith(x, Math.floor(x / 4294967296), 0x6a09e667);
}
