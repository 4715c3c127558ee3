// k6's `k6/metrics` module on Volley: Counter, Gauge, Rate, Trend over the WIT `metrics` import.
import { add } from 'volley:scenario/metrics@0.1.1';

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

  /** Adds one sample with optional tags. Throws when the name is invalid or of another kind. */
  add(value, tags) {
    const v = typeof value === 'boolean' ? (value ? 1 : 0) : Number(value);
    add(this.name, this.kind, v, tagList(tags));
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
