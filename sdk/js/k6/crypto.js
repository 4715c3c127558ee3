// k6's `k6/crypto` on Volley, in plain JavaScript: md5, sha1, sha256, sha384, sha512,
// sha512_224, sha512_256, their HMACs, createHash/createHMAC, hexEncode and randomBytes, with
// k6's output encodings (hex, base64, base64url, base64rawurl, binary). md4 and ripemd160 are
// refused with an error naming them.
import { b64encode } from './encoding.js';

function toBytes(input) {
  if (typeof input === 'string') return new TextEncoder().encode(input);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (Array.isArray(input)) return Uint8Array.from(input);
  throw new TypeError(`invalid type ${input === null ? 'null' : typeof input}, expected string, []byte or ArrayBuffer`);
}

function concat(parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The message padded as MD5/SHA-1/SHA-2 pad it: 0x80, zeros, and the bit length. */
function pad(msg, block, lenBytes, littleEndian) {
  const total = Math.ceil((msg.length + 1 + lenBytes) / block) * block;
  const out = new Uint8Array(total);
  out.set(msg);
  out[msg.length] = 0x80;
  const bits = msg.length * 8;
  const hi = Math.floor(bits / 0x100000000);
  const lo = bits >>> 0;
  const view = new DataView(out.buffer);
  if (littleEndian) {
    view.setUint32(total - 8, lo, true);
    view.setUint32(total - 4, hi, true);
  } else {
    view.setUint32(total - 8, hi);
    view.setUint32(total - 4, lo);
  }
  return out;
}

const rotl = (x, n) => (x << n) | (x >>> (32 - n));
const rotr = (x, n) => (x >>> n) | (x << (32 - n));

const MD5_S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const MD5_K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) >>> 0);

function md5Sum(msg) {
  const m = pad(msg, 64, 8, true);
  const v = new DataView(m.buffer);
  let [a0, b0, c0, d0] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
  for (let off = 0; off < m.length; off += 64) {
    let [a, b, c, d] = [a0, b0, c0, d0];
    for (let i = 0; i < 64; i++) {
      let f;
      let g;
      if (i < 16) [f, g] = [(b & c) | (~b & d), i];
      else if (i < 32) [f, g] = [(d & b) | (~d & c), (5 * i + 1) % 16];
      else if (i < 48) [f, g] = [b ^ c ^ d, (3 * i + 5) % 16];
      else [f, g] = [c ^ (b | ~d), (7 * i) % 16];
      const t = d;
      d = c;
      c = b;
      b = (b + rotl((a + f + MD5_K[i] + v.getUint32(off + g * 4, true)) | 0, MD5_S[(i >> 4) * 4 + (i % 4)])) | 0;
      a = t;
    }
    [a0, b0, c0, d0] = [(a0 + a) | 0, (b0 + b) | 0, (c0 + c) | 0, (d0 + d) | 0];
  }
  const out = new DataView(new ArrayBuffer(16));
  [a0, b0, c0, d0].forEach((x, i) => out.setUint32(i * 4, x >>> 0, true));
  return new Uint8Array(out.buffer);
}

function words(list, bytes) {
  const out = new DataView(new ArrayBuffer(bytes));
  for (let i = 0; i * 4 < bytes; i++) out.setUint32(i * 4, list[i] >>> 0);
  return new Uint8Array(out.buffer);
}

function sha1Sum(msg) {
  const m = pad(msg, 64, 8, false);
  const v = new DataView(m.buffer);
  const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
  const w = new Int32Array(80);
  for (let off = 0; off < m.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = v.getInt32(off + i * 4);
    for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    let [a, b, c, d, e] = h;
    for (let i = 0; i < 80; i++) {
      let f;
      let k;
      if (i < 20) [f, k] = [(b & c) | (~b & d), 0x5a827999];
      else if (i < 40) [f, k] = [b ^ c ^ d, 0x6ed9eba1];
      else if (i < 60) [f, k] = [(b & c) | (b & d) | (c & d), 0x8f1bbcdc];
      else [f, k] = [b ^ c ^ d, 0xca62c1d6];
      const t = (rotl(a, 5) + f + e + k + w[i]) | 0;
      [e, d, c, b, a] = [d, c, rotl(b, 30), a, t];
    }
    [a, b, c, d, e].forEach((x, i) => (h[i] = (h[i] + x) | 0));
  }
  return words(h, 20);
}

const K256 = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
];

function sha256Sum(msg) {
  const m = pad(msg, 64, 8, false);
  const v = new DataView(m.buffer);
  const h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  const w = new Int32Array(64);
  for (let off = 0; off < m.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = v.getInt32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      [hh, g, f, e, d, c, b, a] = [g, f, e, (d + t1) | 0, c, b, a, (t1 + t2) | 0];
    }
    [a, b, c, d, e, f, g, hh].forEach((x, i) => (h[i] = (h[i] + x) | 0));
  }
  return words(h, 32);
}

// SHA-512 round constants and initial values, as pairs of 32-bit halves (high, low).
const K512 = [
  '428a2f98d728ae22', '7137449123ef65cd', 'b5c0fbcfec4d3b2f', 'e9b5dba58189dbbc', '3956c25bf348b538',
  '59f111f1b605d019', '923f82a4af194f9b', 'ab1c5ed5da6d8118', 'd807aa98a3030242', '12835b0145706fbe',
  '243185be4ee4b28c', '550c7dc3d5ffb4e2', '72be5d74f27b896f', '80deb1fe3b1696b1', '9bdc06a725c71235',
  'c19bf174cf692694', 'e49b69c19ef14ad2', 'efbe4786384f25e3', '0fc19dc68b8cd5b5', '240ca1cc77ac9c65',
  '2de92c6f592b0275', '4a7484aa6ea6e483', '5cb0a9dcbd41fbd4', '76f988da831153b5', '983e5152ee66dfab',
  'a831c66d2db43210', 'b00327c898fb213f', 'bf597fc7beef0ee4', 'c6e00bf33da88fc2', 'd5a79147930aa725',
  '06ca6351e003826f', '142929670a0e6e70', '27b70a8546d22ffc', '2e1b21385c26c926', '4d2c6dfc5ac42aed',
  '53380d139d95b3df', '650a73548baf63de', '766a0abb3c77b2a8', '81c2c92e47edaee6', '92722c851482353b',
  'a2bfe8a14cf10364', 'a81a664bbc423001', 'c24b8b70d0f89791', 'c76c51a30654be30', 'd192e819d6ef5218',
  'd69906245565a910', 'f40e35855771202a', '106aa07032bbd1b8', '19a4c116b8d2d0c8', '1e376c085141ab53',
  '2748774cdf8eeb99', '34b0bcb5e19b48a8', '391c0cb3c5c95a63', '4ed8aa4ae3418acb', '5b9cca4f7763e373',
  '682e6ff3d6b2b8a3', '748f82ee5defb2fc', '78a5636f43172f60', '84c87814a1f0ab72', '8cc702081a6439ec',
  '90befffa23631e28', 'a4506cebde82bde9', 'bef9a3f7b2c67915', 'c67178f2e372532b', 'ca273eceea26619c',
  'd186b8c721c0c207', 'eada7dd6cde0eb1e', 'f57d4f7fee6ed178', '06f067aa72176fba', '0a637dc5a2c898a6',
  '113f9804bef90dae', '1b710b35131c471b', '28db77f523047d84', '32caab7b40c72493', '3c9ebe0a15c9bebc',
  '431d67c49c100d4c', '4cc5d4becb3e42b6', '597f299cfc657e2a', '5fcb6fab3ad6faec', '6c44198c4a475817',
].map((x) => [parseInt(x.slice(0, 8), 16) | 0, parseInt(x.slice(8), 16) | 0]);

const IV512 = {
  sha512: ['6a09e667f3bcc908', 'bb67ae8584caa73b', '3c6ef372fe94f82b', 'a54ff53a5f1d36f1', '510e527fade682d1', '9b05688c2b3e6c1f', '1f83d9abfb41bd6b', '5be0cd19137e2179'],
  sha384: ['cbbb9d5dc1059ed8', '629a292a367cd507', '9159015a3070dd17', '152fecd8f70e5939', '67332667ffc00b31', '8eb44a8768581511', 'db0c2e0d64f98fa7', '47b5481dbefa4fa4'],
  sha512_224: ['8c3d37c819544da2', '73e1996689dcd4d6', '1dfab7ae32ff9c82', '679dd514582f9fcf', '0f6d2b697bd44da8', '77e36f7304c48942', '3f9d85a86a1d36c8', '1112e6ad91d692a1'],
  sha512_256: ['22312194fc2bf72c', '9f555fa3c84c64c2', '2393b86b6f53b151', '963877195940eabd', '96283ee2a88effe3', 'be5e1e2553863992', '2b0199fc2c85b8aa', '0eb72ddc81c52ca2'],
};

/** 64-bit addition of (high, low) pairs. */
function add64(...pairs) {
  let lo = 0;
  let hi = 0;
  for (const [h, l] of pairs) {
    lo += l >>> 0;
    hi += h >>> 0;
  }
  hi += Math.floor(lo / 0x100000000);
  return [hi | 0, lo | 0];
}

/** 64-bit rotate right by n (0 < n < 64) of a (high, low) pair. */
function rotr64([h, l], n) {
  if (n === 32) return [l, h];
  if (n > 32) return rotr64([l, h], n - 32);
  return [(h >>> n) | (l << (32 - n)), (l >>> n) | (h << (32 - n))];
}

const shr64 = ([h, l], n) => [h >>> n, (l >>> n) | (h << (32 - n))];
const xor64 = (a, b, c) => [a[0] ^ b[0] ^ c[0], a[1] ^ b[1] ^ c[1]];

function sha512Sum(msg, variant, outBytes) {
  const m = pad(msg, 128, 16, false);
  const v = new DataView(m.buffer);
  const h = IV512[variant].map((x) => [parseInt(x.slice(0, 8), 16) | 0, parseInt(x.slice(8), 16) | 0]);
  const w = new Array(80);
  for (let off = 0; off < m.length; off += 128) {
    for (let i = 0; i < 16; i++) w[i] = [v.getInt32(off + i * 8), v.getInt32(off + i * 8 + 4)];
    for (let i = 16; i < 80; i++) {
      const s0 = xor64(rotr64(w[i - 15], 1), rotr64(w[i - 15], 8), shr64(w[i - 15], 7));
      const s1 = xor64(rotr64(w[i - 2], 19), rotr64(w[i - 2], 61), shr64(w[i - 2], 6));
      w[i] = add64(w[i - 16], s0, w[i - 7], s1);
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 80; i++) {
      const s1 = xor64(rotr64(e, 14), rotr64(e, 18), rotr64(e, 41));
      const ch = [(e[0] & f[0]) ^ (~e[0] & g[0]), (e[1] & f[1]) ^ (~e[1] & g[1])];
      const t1 = add64(hh, s1, ch, K512[i], w[i]);
      const s0 = xor64(rotr64(a, 28), rotr64(a, 34), rotr64(a, 39));
      const maj = [(a[0] & b[0]) ^ (a[0] & c[0]) ^ (b[0] & c[0]), (a[1] & b[1]) ^ (a[1] & c[1]) ^ (b[1] & c[1])];
      const t2 = add64(s0, maj);
      [hh, g, f, e, d, c, b, a] = [g, f, e, add64(d, t1), c, b, a, add64(t1, t2)];
    }
    [a, b, c, d, e, f, g, hh].forEach((x, i) => (h[i] = add64(h[i], x)));
  }
  return words(h.flat(), 64).slice(0, outBytes);
}

/** Digest function and block size of each algorithm k6 names. */
const ALGORITHMS = {
  md5: [md5Sum, 64],
  sha1: [sha1Sum, 64],
  sha256: [sha256Sum, 64],
  sha384: [(m) => sha512Sum(m, 'sha384', 48), 128],
  sha512: [(m) => sha512Sum(m, 'sha512', 64), 128],
  sha512_224: [(m) => sha512Sum(m, 'sha512_224', 28), 128],
  sha512_256: [(m) => sha512Sum(m, 'sha512_256', 32), 128],
};

function algorithm(name) {
  const alg = ALGORITHMS[name];
  if (alg) return alg;
  if (name === 'md4' || name === 'ripemd160') throw new Error(`${name} is not supported by Volley's k6/crypto`);
  throw new Error(`invalid algorithm: ${name}`);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function encode(sum, outputEncoding) {
  switch (outputEncoding) {
    case 'base64':
      return b64encode(sum.buffer.slice(sum.byteOffset, sum.byteOffset + sum.length), 'std');
    case 'base64url':
      return b64encode(sum.buffer.slice(sum.byteOffset, sum.byteOffset + sum.length), 'url');
    case 'base64rawurl':
      return b64encode(sum.buffer.slice(sum.byteOffset, sum.byteOffset + sum.length), 'rawurl');
    case 'hex':
      return hex(sum);
    case 'binary':
      return sum.slice().buffer;
    default:
      throw new Error(`invalid output encoding: ${outputEncoding}`);
  }
}

function hmacSum(name, key, msg) {
  const [fn, block] = algorithm(name);
  let k = toBytes(key);
  if (k.length > block) k = fn(k);
  const padded = new Uint8Array(block);
  padded.set(k);
  const inner = padded.map((b) => b ^ 0x36);
  const outer = padded.map((b) => b ^ 0x5c);
  return fn(concat([outer, fn(concat([inner, msg]))]));
}

/** A hash fed with `update` and read with `digest(encoding)` (k6's Hasher). */
class Hasher {
  constructor(sum) {
    this.sum = sum;
    this.parts = [];
  }

  update(input) {
    this.parts.push(toBytes(input).slice());
  }

  digest(outputEncoding) {
    return encode(this.sum(concat(this.parts)), outputEncoding);
  }
}

export function createHash(name) {
  const [fn] = algorithm(name);
  return new Hasher(fn);
}

export function createHMAC(name, key) {
  algorithm(name);
  const k = toBytes(key).slice();
  return new Hasher((msg) => hmacSum(name, k, msg));
}

export function hmac(name, key, input, outputEncoding) {
  return encode(hmacSum(name, key, toBytes(input)), outputEncoding);
}

const digest = (name) => (input, outputEncoding) => encode(algorithm(name)[0](toBytes(input)), outputEncoding);

export const md5 = digest('md5');
export const sha1 = digest('sha1');
export const sha256 = digest('sha256');
export const sha384 = digest('sha384');
export const sha512 = digest('sha512');
export const sha512_224 = digest('sha512_224');
export const sha512_256 = digest('sha512_256');

export function md4() {
  algorithm('md4');
}

export function ripemd160() {
  algorithm('ripemd160');
}

/** Hex of an ArrayBuffer or byte array. */
export function hexEncode(data) {
  return hex(toBytes(data));
}

/** `size` random bytes (from the host's WASI random source), as an ArrayBuffer. */
export function randomBytes(size) {
  const n = Number(size);
  if (!Number.isInteger(n) || n < 1) throw new Error('invalid size');
  const out = new Uint8Array(n);
  if (typeof globalThis.crypto === 'undefined') {
    // QuickJS has no Web Crypto: the per-VU generator of random.js (not for secrets).
    for (let i = 0; i < n; i++) out[i] = Math.floor(Math.random() * 256);
    return out.buffer;
  }
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  return out.buffer;
}

export default {
  createHash, createHMAC, hmac, md4, md5, sha1, sha256, sha384, sha512, sha512_224, sha512_256,
  ripemd160, hexEncode, randomBytes,
};
