// What `res.html()` parses with in a script that neither imports `k6/html` nor calls `.html(`
// anywhere `volley build` can see (it looks for those in the script and its modules): the
// parser is left out of such scripts, as every byte of the bundle costs every VU its memory
// (docs/design/013-k6-html.md). Reaching it means the look missed a call (`res['html']()`).

/** Throws, naming the way to get the parser in. */
export function parseHTML() {
  throw new Error(
    "res.html() needs k6/html, which this script was built without (volley build includes it when the script imports 'k6/html' or calls .html( in its source): add import 'k6/html'",
  );
}

export default { parseHTML };
