// k6/html CPU per parse (bench/k6-html/run.sh): each iteration parses PAGE (fetched once, in
// setup) COUNT times and reads two values from it, as a script checking a page would.
import http from 'k6/http';
import { parseHTML } from 'k6/html';

export const options = { vus: 1, iterations: Number(__ENV.ITERATIONS || 1) };
const COUNT = Number(__ENV.COUNT || 1);

export function setup() {
  return { page: http.get(`${__ENV.BASE_URL}/${__ENV.PAGE || 'page.html'}`).body };
}

export default function (data) {
  for (let i = 0; i < COUNT; i++) {
    const doc = parseHTML(data.page);
    if (doc.find('li.product').size() === 0 || doc.find('title').text() === '') throw new Error('no page');
  }
}
