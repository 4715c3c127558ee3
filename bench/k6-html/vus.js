// k6/html memory per VU (bench/k6-html/run.sh): each VU GETs the page and sleeps 1 s; with
// HTML=1 it also parses it (res.html()) and reads from it, holding the document until the next
// iteration, as a script walking a site would.
import http from 'k6/http';
import { sleep } from 'k6';

let doc;
export default function () {
  const res = http.get(`${__ENV.BASE_URL}/page.html`);
  if (__ENV.HTML === '1') {
    doc = res.html();
    if (doc.find('li.product').size() !== 3) throw new Error('no products');
  }
  sleep(1);
}
