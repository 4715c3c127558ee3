// What differs between engines at the WIT boundary, for componentize-qjs (QuickJS).
// `volley build` aliases `volley-engine` to this file or to its sibling for the chosen engine.

/** A WIT `u64` argument: componentize-qjs takes a number (exact up to 2^53). */
export const u64 = (n) => Number(n);
