// k6 side of the gRPC benchmark: one unary SayHello per iteration over a connection opened once
// per VU, with the same two checks as Volley's grpc-probe (status, greeting).
import grpc from 'k6/net/grpc';
import { check } from 'k6';

const client = new grpc.Client();
client.load(['../tests/servers/proto'], 'hello.proto');

export default function () {
  if (__ITER === 0) {
    client.connect(__ENV.GRPC_TARGET, { plaintext: true });
  }
  const res = client.invoke('hello.Greeter/SayHello', { name: 'volley' });
  check(res, {
    'status is OK': (r) => r && r.status === grpc.StatusOK,
    'reply greets by name': (r) => r && r.message.message === 'Hello volley',
  });
}
