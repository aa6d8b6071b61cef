/* ack_consumer: the broker's own delivery ceiling, for bench/run.
 *
 * What for: consumes N messages from one queue and only acknowledges them (one
 * basic.ack with multiple=1 per batch of deliveries already read, so acks cost the broker
 * as little as they can), then prints the rate. No decoding, no result store: what no
 * worker on this broker can beat. What not: a worker or a test; it asserts nothing.
 *
 *   ack_consumer <host> <port> <queue> <count> [prefetch]
 *
 * Prints one line: "consumed <n> in <seconds> s: <rate> msg/s" (seconds from the first
 * delivery to the last ack). Exit 0 when <count> were consumed. Owns its one connection.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int failed(amqp_rpc_reply_t r, const char* what) {
  if (r.reply_type == AMQP_RESPONSE_NORMAL) return 0;
  fprintf(stderr, "ack_consumer: %s failed (reply type %d)\n", what, (int)r.reply_type);
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s host port queue count [prefetch]\n", argv[0]);
    return 2;
  }
  const long count = atol(argv[4]);
  const int prefetch = argc > 5 ? atoi(argv[5]) : 2000;
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t* sock = amqp_tcp_socket_new(conn);
  if (!sock || amqp_socket_open(sock, argv[1], atoi(argv[2])) != AMQP_STATUS_OK) {
    fprintf(stderr, "ack_consumer: cannot connect to %s:%s\n", argv[1], argv[2]);
    return 1;
  }
  if (failed(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
             "login"))
    return 1;
  amqp_channel_open(conn, 1);
  if (failed(amqp_get_rpc_reply(conn), "channel.open")) return 1;
  amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
  if (failed(amqp_get_rpc_reply(conn), "basic.qos")) return 1;
  amqp_basic_consume(conn, 1, amqp_cstring_bytes(argv[3]), amqp_empty_bytes, 0, 0, 0,
                     amqp_empty_table);
  if (failed(amqp_get_rpc_reply(conn), "basic.consume")) return 1;

  long consumed = 0;
  uint64_t last_tag = 0;
  long unacked = 0;
  double first = 0;
  while (consumed < count) {
    amqp_envelope_t env;
    amqp_maybe_release_buffers(conn);
    if (failed(amqp_consume_message(conn, &env, NULL, 0), "consume")) return 1;
    if (consumed == 0) first = now_s();
    ++consumed;
    ++unacked;
    last_tag = env.delivery_tag;
    amqp_destroy_envelope(&env);
    /* Coalesce: ack everything read so far once nothing more is buffered, or every
     * half prefetch, so the broker's window never runs dry. */
    if (!amqp_data_in_buffer(conn) || unacked >= prefetch / 2 || consumed == count) {
      amqp_basic_ack(conn, 1, last_tag, 1);
      unacked = 0;
    }
  }
  const double elapsed = now_s() - first;
  printf("consumed %ld in %.3f s: %.0f msg/s\n", consumed, elapsed,
         elapsed > 0 ? (double)consumed / elapsed : 0.0);
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  return 0;
}
