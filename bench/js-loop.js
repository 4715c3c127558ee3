// JS benchmark, tight loop: one GET per iteration, no sleep. The same file runs on k6 and on Volley
// (`volley run bench/js-loop.js`), so both engines run the same script (bench/run.sh js).
import http from 'k6/http';

export default function () {
  http.get(__ENV.BASE_URL + '/');
}
