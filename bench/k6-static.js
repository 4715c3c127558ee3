// k6 side of the throughput benchmark: only http.get, no sleep, bodies discarded.
import http from 'k6/http';
export const options = { discardResponseBodies: true };
export default function () {
  http.get(__ENV.URL);
}
