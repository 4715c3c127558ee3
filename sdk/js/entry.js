// The module componentize-js builds: the world's exports around the user's k6 script, which
// the bundler provides as `volley-script` (see build.sh / `volley build`).
// Web globals the engine may lack; first, so that they exist when the other modules run.
import './polyfills.js';
import './random.js';
import { exportsFor } from './runtime.js';
import * as script from 'volley-script';

const world = exportsFor(script);

/** The script's `options` as TOML. */
export const options = world.options;
/** The script's `setup()`, its result as JSON. */
export const setup = world.setup;
/** One iteration: `default` (or the scenario's `exec` function) with setup's data. */
export const iteration = world.iteration;
/** The script's `teardown(data)`. */
export const teardown = world.teardown;
/** The script's `handleSummary(data)` outputs as JSON, or none without one (world 0.1.4). */
export const handleSummary = world.handleSummary;
