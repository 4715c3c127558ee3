// k6's side of `bench/run.sh websocket`: per iteration, one session to the echo endpoint that
// sends MESSAGES text lines at once, reads them all back, and closes — as the chat plugin does
// with MODE=echo PLAIN=1.
import ws from 'k6/ws';
import { check } from 'k6';

const N = parseInt(__ENV.MESSAGES || '100');

export default function () {
  let back = 0;
  const res = ws.connect(`${__ENV.WS_URL}/echo`, { headers: { 'Sec-WebSocket-Protocol': 'echo.v1' } }, function (socket) {
    socket.on('open', () => {
      for (let i = 0; i < N; i++) socket.send(`line ${i} from VU ${__VU}`);
    });
    socket.on('message', () => {
      back++;
      if (back === N) socket.close();
    });
    socket.setTimeout(() => socket.close(), 10000);
  });
  check(res, { 'status is 101': (r) => r && r.status === 101 });
  check(back, { 'every line came back': (b) => b === N });
}
