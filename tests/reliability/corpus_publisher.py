"""Putting corpus messages on the broker: RawPublisher sends a built case byte for byte
(py-amqp, publisher confirms) and counts or purges a queue; dead_letter_policy gives the
queues under test a dead-letter exchange, so a rejected message can be counted. Part of
corpus_lib.py (see its docstring).
"""

import json
import urllib.parse

import amqp

class RawPublisher:
    """Publishes exactly the bytes, properties and header table a case describes, with
    publisher confirms, through py-amqp (kombu's own AMQP transport). kombu's Producer
    would re-serialise a body whose content_type is empty, so it cannot send every case.
    """

    def __init__(self, broker_url, timeout=30):
        self.url, self.timeout = broker_url, timeout
        self.connect()

    def reconnect(self):
        self.close()
        self.connect()

    def connect(self):
        broker_url, timeout = self.url, self.timeout
        u = urllib.parse.urlparse(broker_url)
        vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
        self.conn = amqp.Connection(host="%s:%d" % (u.hostname, u.port or 5672),
                                    userid=urllib.parse.unquote(u.username or "guest"),
                                    password=urllib.parse.unquote(u.password or "guest"),
                                    virtual_host=vhost, confirm_publish=True,
                                    connect_timeout=timeout, read_timeout=timeout,
                                    write_timeout=timeout)
        self.conn.connect()
        self.channel = self.conn.channel()

    def publish(self, queue, built, exchange=""):
        msg = amqp.Message(body=built.body, application_headers=built.headers,
                           **built.properties)
        self.channel.basic_publish(msg, exchange=exchange, routing_key=queue)

    def ready(self, queue):
        """Messages ready in `queue` (a passive declare: fast, unlike rabbitmqctl).
        Raises amqp.exceptions.NotFound (and the channel is replaced) if there is none."""
        try:
            return self.channel.queue_declare(queue, passive=True).message_count
        except amqp.exceptions.NotFound:
            self.channel = self.conn.channel()
            raise

    def purge(self, queue):
        return self.channel.queue_purge(queue)

    def close(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing after a broker restart may fail
            pass


def dead_letter_policy(rabbit, publisher, queue_pattern, exchange, dead_queue):
    """Gives every queue matching `queue_pattern` a dead-letter exchange through a
    RabbitMQ policy (a policy, not a queue argument, so the worker's own declaration of
    the queue stays as it is and no PRECONDITION_FAILED can follow), and binds
    `dead_queue` to that exchange to collect what is rejected without requeue."""
    ch = publisher.channel
    ch.exchange_declare(exchange, "fanout", durable=True, auto_delete=False)
    ch.queue_declare(dead_queue, durable=True, auto_delete=False)
    ch.queue_bind(dead_queue, exchange, routing_key="")
    rabbit.ctl("set_policy", "-p", "/", "dlx-" + exchange, queue_pattern,
               json.dumps({"dead-letter-exchange": exchange}), "--apply-to", "queues")
