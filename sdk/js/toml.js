// k6's `export const options` object → the TOML text of Volley's `options` export.
// Every value is written inline (`key = value`, objects as inline tables), which TOML allows at
// any depth; keys are always quoted so `http_req_duration{scenario:a}` survives.

function key(k) {
  return JSON.stringify(String(k));
}

function value(v, path) {
  if (v === null || v === undefined) throw new Error(`options.${path}: null is not allowed`);
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return String(v);
    case 'number':
      if (!Number.isFinite(v)) throw new Error(`options.${path}: ${v} is not a number TOML can hold`);
      return Number.isInteger(v) ? String(v) : String(v);
    case 'bigint':
      return String(v);
    case 'object':
      if (Array.isArray(v)) return `[${v.map((x, i) => value(x, `${path}[${i}]`)).join(', ')}]`;
      return `{ ${Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => `${key(k)} = ${value(x, `${path}.${k}`)}`)
        .join(', ')} }`;
    default:
      throw new Error(`options.${path}: a ${typeof v} cannot be an option`);
  }
}

/** The TOML document for the options object `options`. */
export function toToml(options) {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error('options must be an object');
  }
  return Object.entries(options)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${key(k)} = ${value(v, k)}\n`)
    .join('');
}
