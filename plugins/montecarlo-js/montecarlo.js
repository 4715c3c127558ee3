// The Monte Carlo scenario as the k6 script it started as. It runs unchanged under k6
// (`k6 run -e BASE_URL=... montecarlo.js`) and, built with `volley build`, under Volley.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  stages: [
    { duration: '2m', target: 100 },
    { duration: '6m', target: 400 },
    { duration: '2m', target: 0 },
  ],
  thresholds: {
    http_req_duration: ['p(95)<2000'],
    http_req_failed: ['rate<0.01'],
  },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/`, {
    headers: { 'Content-Type': 'application/json', Connection: 'keep-alive' },
    timeout: '60s',
  });
  check(res, { 'is status 200': (r) => r.status === 200 });
  sleep(0.5);
}
