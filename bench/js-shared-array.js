// JS benchmark, k6's SharedArray: a large CSV (bench/run.sh shared-array writes it next to a copy
// of this script) parsed once into a SharedArray, read by every VU: one random row, one GET, then
// sleep(1). The same file runs on k6 and on Volley; what counts is the peak RSS beside the CSV's size.
import http from 'k6/http';
import { sleep } from 'k6';
import { SharedArray } from 'k6/data';

const rows = new SharedArray('rows', function () {
  return open('./shared-array.csv')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(','));
});

export default function () {
  const row = rows[Math.floor(Math.random() * rows.length)];
  http.get(`${__ENV.BASE_URL}/?user=${row[0]}`);
  sleep(1);
}
