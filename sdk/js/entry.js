// The module the engine's componentize tool builds: the world's exports around the user's k6
// script. `volley build` writes `user.js` (the script and its own modules as one function, run
// once per VU: k6's init context) and `modules.js` (the shim modules it imports) next to this
// file; the shim is evaluated here, once, in the build snapshot every VU starts from.
// Web globals the engine may lack; first, so that they exist when the other modules run.
import './polyfills.js';
import './random.js';
import './open.js';
import { exportsFor } from './runtime.js';
import script from './user.js';
import modules from './modules.js';

const world = exportsFor(script, modules);

/** Runs this VU's init context (the script's top level), then gives the script's `options` as TOML. */
export const options = world.options;
/** The script's `setup()`, its result as JSON. */
export const setup = world.setup;
/** One iteration: `default` (or the scenario's `exec` function) with setup's data. */
export const iteration = world.iteration;
/** The script's `teardown(data)`. */
export const teardown = world.teardown;
/** The script's `handleSummary(data)` outputs as JSON, or none without one (world 0.1.4). */
export const handleSummary = world.handleSummary;
