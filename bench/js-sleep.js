// JS benchmark, many VUs: one GET, then sleep(1). The same file runs on k6 and on Volley
// (bench/run.sh js): memory per VU and whether the VUs keep to the schedule.
import http from 'k6/http';
import { sleep } from 'k6';

export default function () {
  http.get(__ENV.BASE_URL + '/');
  sleep(1);
}
