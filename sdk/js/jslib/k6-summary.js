// Volley's k6-summary: what a script imports from https://jslib.k6.io/k6-summary/<version>/index.js
// (`volley build` serves this file for every version, with no network). `textSummary(data,
// { indent, enableColors })` prints what k6's does for the same handleSummary data: the checks
// of each group, then every metric with its values, columns aligned; `jUnit(data)` is the
// thresholds as JUnit XML.

const CHECK_PASSED = '✓';
const CHECK_FAILED = '✗';
const GROUP_MARK = '█';
const DETAIL_MARK = '↳';
const ANSI = { faint: 2, red: 31, green: 32, cyan: 36 };
const TIME_UNITS = { s: ['s', 0.001], ms: ['ms', 1], us: ['µs', 1000] };

/** How many terminal columns `text` takes: ANSI escape sequences take none. */
function width(text) {
  const plain = text.normalize('NFKC').replace(/\x1b\[[0-9;]*[@-~]|\x1b[@-_]/g, '');
  return [...plain].length;
}

/** `text` padded with spaces to `columns` (by [`width`]). */
function pad(text, columns) {
  return text + ' '.repeat(Math.max(0, columns - width(text)));
}

/** Fixed-point with `digits` decimals, trailing zeros dropped (`1.50` → `1.5`). */
function trimmed(value, digits) {
  return String(parseFloat(value.toFixed(digits)));
}

/** [`trimmed`] of `value` cut (not rounded) to `digits` decimals. */
function cut(value, digits) {
  const scale = 10 ** digits;
  return trimmed(Math.trunc(value * scale) / scale, digits);
}

/** A duration in milliseconds as k6 writes it without a fixed unit: `812µs`, `1.2s`, `1m3s`. */
function duration(ms) {
  if (ms === 0) return '0s';
  if (ms < 0.001) return `${Math.trunc(ms * 1e6)}ns`;
  if (ms < 1) return `${cut(ms * 1000, 2)}µs`;
  if (ms < 1000) return `${cut(ms, 2)}ms`;
  let text = `${cut((ms % 60000) / 1000, ms > 60000 ? 0 : 2)}s`;
  let minutes = Math.trunc(ms / 60000);
  if (minutes < 1) return text;
  text = `${minutes % 60}m${text}`;
  const hours = Math.trunc(minutes / 60);
  return hours < 1 ? text : `${hours}h${text}`;
}

/** Bytes in k6's decimal units: `9 B`, `1.2 kB`, `35 MB`. */
function bytes(n) {
  if (n < 10) return `${n} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  const exp = Math.floor(Math.log(n) / Math.log(1000));
  const value = Math.floor((n / 1000 ** exp) * 10 + 0.5) / 10;
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[exp | 0]}`;
}

/** One value of `metric` as the summary shows it (`timeUnit`: `s`, `ms`, `us` or empty). */
export function humanizeValue(value, metric, timeUnit) {
  // value * 100 * 100, not value * 10000: the same float rounding as k6.
  if (metric.type === 'rate') return `${(Math.trunc(value * 100 * 100) / 100).toFixed(2)}%`;
  if (metric.contains === 'data') return bytes(value);
  if (metric.contains === 'time') {
    const unit = timeUnit ? TIME_UNITS[timeUnit] : undefined;
    return unit ? `${(value * unit[1]).toFixed(2)}${unit[0]}` : duration(value);
  }
  return trimmed(value, 6);
}

/** A non-trend metric's value, then its extras (a rate per second, min/max, passes/fails). */
function plainColumns(metric, timeUnit) {
  const show = (v) => humanizeValue(v, metric, timeUnit);
  const v = metric.values;
  switch (metric.type) {
    case 'counter':
      return [show(v.count), `${show(v.rate)}/s`];
    case 'gauge':
      return [show(v.value), `min=${show(v.min)}`, `max=${show(v.max)}`];
    case 'rate':
      return [show(v.rate), `${CHECK_PASSED} ${v.passes}`, `${CHECK_FAILED} ${v.fails}`];
    default:
      return ['[no data]'];
  }
}

/** `text` in ANSI `codes` when colors are on. */
function painter(enabled) {
  if (!enabled) return (text) => text;
  return (text, ...codes) => `\x1b[${codes.join(';')}m${text}\x1b[0m`;
}

function checkLines(indent, check, paint) {
  if (check.fails === 0) return [paint(`${indent}${CHECK_PASSED} ${check.name}`, ANSI.green)];
  const share = Math.floor((100 * check.passes) / (check.passes + check.fails));
  const text =
    `${indent}${CHECK_FAILED} ${check.name}\n` +
    `${indent} ${DETAIL_MARK}  ${share}% — ${CHECK_PASSED} ${check.passes} / ${CHECK_FAILED} ${check.fails}`;
  return [paint(text, ANSI.red)];
}

function groupLines(indent, group, paint) {
  const lines = [];
  let inner = indent;
  if (group.name !== '') {
    lines.push(`${indent}${GROUP_MARK} ${group.name}\n`);
    inner = `${indent}  `;
  }
  for (const check of group.checks) lines.push(...checkLines(inner, check, paint));
  if (group.checks.length > 0) lines.push('');
  for (const sub of group.groups) lines.push(...groupLines(inner, sub, paint));
  return lines;
}

/** A sub-metric (`name{tag:value}`) shows as `{ tag:value }`, indented under its metric. */
function label(name) {
  const brace = name.indexOf('{');
  return brace < 0 ? name : `{ ${name.slice(brace + 1, -1)} }`;
}
const labelIndent = (name) => (name.includes('{') ? '  ' : '');

function metricLines(options, data, paint) {
  const stats = options.summaryTrendStats;
  const names = Object.keys(data.metrics);
  const nameWidth = Math.max(0, ...names.map((n) => width(labelIndent(n) + label(n))));
  // Each row's cells, then each column's widest cell, so the columns line up.
  const cells = {};
  const trendWidths = stats.map(() => 0);
  let valueWidth = 0;
  const extraWidths = [0, 0];
  for (const name of names) {
    const metric = data.metrics[name];
    if (metric.type === 'trend') {
      cells[name] = stats.map((stat, i) => {
        const v = metric.values[stat];
        const text = stat === 'count' ? String(v) : humanizeValue(v, metric, options.summaryTimeUnit);
        trendWidths[i] = Math.max(trendWidths[i], width(text));
        return text;
      });
    } else {
      const [value, ...extras] = plainColumns(metric, options.summaryTimeUnit);
      valueWidth = Math.max(valueWidth, width(value));
      extras.forEach((e, i) => (extraWidths[i] = Math.max(extraWidths[i] || 0, width(e))));
      cells[name] = { value, extras };
    }
  }
  const row = (name) => {
    const c = cells[name];
    if (Array.isArray(c)) {
      return c
        .map((text, i) => `${stats[i]}=${paint(text, ANSI.cyan)}${' '.repeat(trendWidths[i] - width(text))}`)
        .join(' ');
    }
    let text = paint(c.value, ANSI.cyan) + ' '.repeat(valueWidth - width(c.value));
    if (c.extras.length === 1) {
      text += ` ${paint(c.extras[0], ANSI.cyan, ANSI.faint)}`;
    } else if (c.extras.length > 1) {
      const parts = c.extras.map(
        (e, i) => paint(e, ANSI.cyan, ANSI.faint) + ' '.repeat(extraWidths[i] - width(e)),
      );
      text += ` ${parts.join(' ')}`;
    }
    return text;
  };
  const indent = `${options.indent}  `;
  // By metric name, each metric's sub-metrics right after it (k6-summary 0.0.2 on).
  const parent = (n) => n.split('{', 1)[0];
  const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  names.sort((a, b) => byName(parent(a), parent(b)) || byName(a, b));
  return names.map((name) => {
    const metric = data.metrics[name];
    let mark = ' ';
    let markPaint = (t) => t;
    if (metric.thresholds) {
      const held = Object.values(metric.thresholds).every((t) => t.ok);
      mark = held ? CHECK_PASSED : CHECK_FAILED;
      markPaint = (t) => paint(t, held ? ANSI.green : ANSI.red);
    }
    const pre = labelIndent(name);
    const shown = label(name);
    const dots = paint(`${'.'.repeat(nameWidth - width(shown) - width(pre) + 3)}:`, ANSI.faint);
    return `${indent}${pre}${markPaint(mark)} ${shown}${dots} ${row(name)}`;
  });
}

/** k6's text summary of handleSummary `data`: `options.indent` (default ' ') and
 * `options.enableColors` (default true), over the data's own `options`. */
export function textSummary(data, options) {
  const opts = {
    indent: ' ',
    enableColors: true,
    summaryTimeUnit: null,
    summaryTrendStats: null,
    ...data.options,
    ...options,
  };
  const paint = painter(opts.enableColors);
  return [
    ...groupLines(`${opts.indent}    `, data.root_group, paint),
    ...metricLines(opts, data, paint),
  ].join('\n');
}

const XML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&#39;', '"': '&quot;' };
const xml = (text) => String(text).replace(/[&<>'"]/g, (c) => XML_ESCAPES[c]);

/** The thresholds of handleSummary `data` as JUnit XML, one test case per threshold. */
export function jUnit(data, options) {
  const cases = [];
  let failures = 0;
  for (const [metric, m] of Object.entries(data.metrics)) {
    for (const [source, t] of Object.entries(m.thresholds || {})) {
      const name = `${xml(metric)} - ${xml(source)}`;
      if (t.ok) {
        cases.push(`<testcase name="${name}" />`);
      } else {
        failures++;
        cases.push(`<testcase name="${name}"><failure message="failed" /></testcase>`);
      }
    }
  }
  const suite = options && options.name ? xml(options.name) : 'k6 thresholds';
  return (
    `<?xml version="1.0"?>\n<testsuites tests="${cases.length}" failures="${failures}">\n` +
    `<testsuite name="${suite}" tests="${cases.length}" failures="${failures}">` +
    `${cases.join('\n')}\n</testsuite >\n</testsuites >`
  );
}
