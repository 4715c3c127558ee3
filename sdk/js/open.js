// k6's `open(path[, mode])`: a file the script names with a string literal, embedded in the
// component by `volley build` and held once by the host; each call gives the VU its own copy.
import { readFile, readText } from 'volley:scenario/init@0.1.1';
import { initializing } from './runtime.js';

/** k6's `open`: the file's text, or with mode 'b' an ArrayBuffer of its bytes. */
function open(path, mode) {
  if (!initializing) {
    throw new Error(
      'The "open()" function is only available in the init stage (i.e. the global scope), ' +
        'see https://grafana.com/docs/k6/using-k6/test-life-cycle for more information',
    );
  }
  const name = String(path);
  const binary = mode === 'b';
  const data = binary ? readFile(name) : readText(name);
  if (data === null || data === undefined) {
    throw new Error(
      `open('${name}'): the file was not embedded when the script was built. volley build embeds ` +
        "the files the script and its modules name in open('...') with a string literal, relative " +
        'to the file that names them; a path computed at run time (from __ENV, a variable...) ' +
        'cannot be read, as a scenario reads no files when it runs',
    );
  }
  if (!binary) return data;
  const bytes = data instanceof Uint8Array ? data : Uint8Array.from(data);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

Object.defineProperty(globalThis, 'open', { value: open, configurable: true, writable: true });
