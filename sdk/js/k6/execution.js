// k6's `k6/execution` on Volley: the parts the host exposes today through volley:scenario/vu
// (the VU's id, its iteration in the scenario, the scenario's name). Every other property k6
// has throws an error naming it, rather than giving a wrong value: they need host support.
import { id, iteration, scenario as scenarioName } from 'volley:scenario/vu@0.1.1';

function missing(path) {
  return () => {
    throw new Error(`k6/execution: ${path} is not available in Volley yet`);
  };
}

function object(getters) {
  const o = {};
  for (const [name, get] of Object.entries(getters)) Object.defineProperty(o, name, { get, enumerable: true });
  return o;
}

export const vu = object({
  idInTest: () => id(),
  idInInstance: () => id(),
  iterationInScenario: () => Number(iteration()),
  iterationInInstance: missing('vu.iterationInInstance'),
  tags: missing('vu.tags'),
  metrics: missing('vu.metrics'),
});

export const scenario = object({
  name: () => scenarioName(),
  executor: missing('scenario.executor'),
  startTime: missing('scenario.startTime'),
  progress: missing('scenario.progress'),
  iterationInInstance: missing('scenario.iterationInInstance'),
  iterationInTest: missing('scenario.iterationInTest'),
});

export const instance = object({
  iterationsInterrupted: missing('instance.iterationsInterrupted'),
  iterationsCompleted: missing('instance.iterationsCompleted'),
  vusActive: missing('instance.vusActive'),
  vusInitialized: missing('instance.vusInitialized'),
  currentTestRunDuration: missing('instance.currentTestRunDuration'),
});

export const test = object({
  abort: () => missing('test.abort()'),
  options: missing('test.options'),
  fail: () => missing('test.fail()'),
});

export default { vu, scenario, instance, test };
