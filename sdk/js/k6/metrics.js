// k6's `k6/metrics` module on Volley: Counter, Gauge, Rate, Trend over the WIT `metrics` import.
import { add } from 'volley:scenario/metrics@0.1.1';
import { options as testOptions } from 'volley:scenario/execution@0.1.1';

function tagList(tags) {
  return Object.entries(tags || {}).map(([key, value]) => ({ key, value: String(value) }));
}

/** Metrics the script created, by name → kind: `options()` declares them, so thresholds on them
 * need no separate declaration (k6 knows them from the init context). */
export const declared = {};

class Metric {
  constructor(name, kind) {
    this.name = name;
    this.kind = kind;
    declared[name] = kind;
  }

  /** Adds one sample with optional tags; returns whether it was added. Throws when the name is
   * invalid or of another kind. A value that is no number is dropped with a warning, or thrown
   * under k6's `throw` option, as in k6. */
  add(value, tags) {
    const v = typeof value === 'boolean' ? (value ? 1 : 0) : Number(value);
    if (Number.isNaN(v)) {
      const message = `'${String(value).slice(0, 100)}' is an invalid value for metric '${this.name}', a number or a boolean value is expected`;
      if (JSON.parse(testOptions()).throw === true) throw new Error(message);
      console.warn(message);
      return false;
    }
    add(this.name, this.kind, v, tagList(tags));
    return true;
  }
}

/** A sum (k6's `Counter`). */
export class Counter extends Metric {
  constructor(name) { super(name, 'counter'); }
}

/** The last value, with min and max (k6's `Gauge`). */
export class Gauge extends Metric {
  constructor(name) { super(name, 'gauge'); }
}

/** The share of non-zero values (k6's `Rate`). */
export class Rate extends Metric {
  constructor(name) { super(name, 'rate'); }
}

/** A distribution; `isTime` makes it a duration in milliseconds (k6's `Trend`). */
export class Trend extends Metric {
  constructor(name, isTime) { super(name, isTime ? 'trend-time' : 'trend'); }
}
