// k6 side of the scale benchmark: one GET, then sleep 10 s; VUs ramped 0 -> VUS over RAMP, held HOLD.
import http from 'k6/http';
import { sleep } from 'k6';
export const options = {
  discardResponseBodies: true,
  scenarios: {
    ramp: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: __ENV.RAMP, target: Number(__ENV.VUS) },
        { duration: __ENV.HOLD, target: Number(__ENV.VUS) },
      ],
      gracefulRampDown: '0s',
      gracefulStop: '0s',
    },
  },
};
export default function () {
  http.get(__ENV.URL);
  sleep(10);
}
