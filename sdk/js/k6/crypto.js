// k6's `k6/crypto` on Volley: md5, sha1, sha256, sha384, sha512, sha512_224, sha512_256, their
// HMACs, createHash/createHMAC, hexEncode and randomBytes, with k6's output encodings (hex,
// base64, base64url, base64rawurl, binary). Hashing, HMACs and random bytes run on the host (the
// volley:scenario `crypto` import); md4 and ripemd160 are refused with an error naming them.
import { b64encode } from './encoding.js';
import { digest as hostDigest, hmac as hostHmac, randomBytes as hostRandom } from 'volley:scenario/crypto@0.1.1';

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

/** The WIT algorithm of each name k6 takes. */
const ALGORITHMS = {
  md5: 'md5',
  sha1: 'sha1',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  sha512_224: 'sha512-224',
  sha512_256: 'sha512-256',
};

/** A host call's result; its error (a WIT `result` error) as an Error with the host's text. */
function host(fn) {
  try {
    return fn();
  } catch (e) {
    throw new Error(e && e.payload !== undefined ? String(e.payload) : String(e && e.message ? e.message : e));
  }
}

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

/** The digest of `msg` under algorithm `name`, as bytes. */
function hashSum(name, msg) {
  const alg = algorithm(name);
  return new Uint8Array(host(() => hostDigest(alg, msg)));
}

function hmacSum(name, key, msg) {
  const alg = algorithm(name);
  return new Uint8Array(host(() => hostHmac(alg, toBytes(key), msg)));
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
  algorithm(name);
  return new Hasher((msg) => hashSum(name, msg));
}

export function createHMAC(name, key) {
  algorithm(name);
  const k = toBytes(key).slice();
  return new Hasher((msg) => hmacSum(name, k, msg));
}

export function hmac(name, key, input, outputEncoding) {
  return encode(hmacSum(name, key, toBytes(input)), outputEncoding);
}

const digest = (name) => (input, outputEncoding) => encode(hashSum(name, toBytes(input)), outputEncoding);

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

/** `size` random bytes from the host's secure generator, as an ArrayBuffer. */
export function randomBytes(size) {
  const n = Number(size);
  if (!Number.isInteger(n) || n < 1) throw new Error('invalid size');
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    const len = Math.min(65536, n - off);
    out.set(new Uint8Array(host(() => hostRandom(len))), off);
  }
  return out.buffer;
}

export default {
  createHash, createHMAC, hmac, md4, md5, sha1, sha256, sha384, sha512, sha512_224, sha512_256,
  ripemd160, hexEncode, randomBytes,
};
