// k6's `k6/execution` on Volley, over the volley:scenario `execution` import: the VU, its
// scenario and this process's counters (read from the host on access), the VU's metric tags,
// the test's options, `test.abort()` and `test.fail()`.
import {
  vu as vuState,
  scenario as scenarioState,
  instance as instanceState,
  options as optionsJson,
  tags as vuTags,
  setTag,
  deleteTag,
  abort as hostAbort,
} from 'volley:scenario/execution@0.1.1';
import { fail as hostFail } from 'volley:scenario/test-status@0.1.1';

function object(getters) {
  const o = {};
  for (const [name, get] of Object.entries(getters)) Object.defineProperty(o, name, { get, enumerable: true });
  return o;
}

/** The VU's tags as a plain object. */
function currentTags() {
  const out = {};
  for (const t of vuTags()) out[t.key] = t.value;
  return out;
}

/** A tag value as k6 takes it: strings, numbers and booleans only. */
function tagValue(name, value) {
  const type = typeof value;
  if (type !== 'string' && type !== 'number' && type !== 'boolean') {
    throw new TypeError(`invalid value for metric tag '${name}': only String, Boolean and Number types are accepted`);
  }
  return String(value);
}

/** k6's `exec.vu.metrics.tags`: reading, setting and deleting go to the VU's tags on the host. */
const tags = new Proxy(
  {},
  {
    get: (_, name) => (typeof name === 'string' ? currentTags()[name] : undefined),
    set: (_, name, value) => {
      try {
        setTag(String(name), tagValue(name, value));
      } catch (e) {
        if (e instanceof TypeError) throw e;
        throw new Error(e && e.payload !== undefined ? String(e.payload) : String(e && e.message ? e.message : e));
      }
      return true;
    },
    deleteProperty: (_, name) => {
      deleteTag(String(name));
      return true;
    },
    has: (_, name) => typeof name === 'string' && name in currentTags(),
    ownKeys: () => Object.keys(currentTags()),
    getOwnPropertyDescriptor: (_, name) => {
      const all = currentTags();
      if (!(name in all)) return undefined;
      return { value: all[name], writable: true, enumerable: true, configurable: true };
    },
  },
);

/** Metadata (k6's `exec.vu.metrics.metadata`): kept on the VU, not sent with samples. */
const metadata = {};

export const vu = object({
  idInInstance: () => vuState().idInInstance,
  idInTest: () => vuState().idInTest,
  iterationInInstance: () => Number(vuState().iterationInInstance),
  iterationInScenario: () => Number(vuState().iterationInScenario),
  tags: () => tags,
  metrics: () => ({ tags, metadata }),
});

export const scenario = object({
  name: () => scenarioState().name,
  executor: () => scenarioState().executor,
  startTime: () => scenarioState().startTime,
  progress: () => scenarioState().progress,
  iterationInInstance: () => Number(scenarioState().iterationInInstance),
  iterationInTest: () => Number(scenarioState().iterationInTest),
});

export const instance = object({
  iterationsInterrupted: () => Number(instanceState().iterationsInterrupted),
  iterationsCompleted: () => Number(instanceState().iterationsCompleted),
  vusActive: () => instanceState().vusActive,
  vusInitialized: () => instanceState().vusInitialized,
  currentTestRunDuration: () => instanceState().currentTestRunDuration,
});

/** The test's options, parsed once per VU. */
let options;

export const test = object({
  abort: () => (reason) => hostAbort(reason === undefined ? undefined : String(reason)),
  options: () => {
    if (options === undefined) options = Object.freeze(JSON.parse(optionsJson()));
    return options;
  },
  // k6's `test.fail(reason)`: the test is marked failed (exit 110 at its end) and runs on.
  fail: () => (reason) => hostFail(reason === undefined || reason === null ? undefined : String(reason)),
});

export default { vu, scenario, instance, test };
