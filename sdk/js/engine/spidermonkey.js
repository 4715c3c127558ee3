// What differs between engines at the WIT boundary, for componentize-js (SpiderMonkey).
// `volley build` aliases `volley-engine` to this file or to its sibling for the chosen engine.

/** A WIT `u64` argument: componentize-js takes a BigInt. */
export const u64 = (n) => BigInt(n);
