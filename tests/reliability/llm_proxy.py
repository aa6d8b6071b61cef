"""A logging HTTP/1.1 proxy in front of the llm-stub, for the fault driver.

The llm-stub counts requests per key and model; the driver needs to know how often each
*task* called a model (to tell an at-least-once rerun from a task that ran twice for no
reason). The driver puts a marker in every prompt it sends (`atid=<task id>` in an
analysis hint, `gtid=<task id>` in a generation question, `ctid=<task id>` in a corpus
case's hint); this proxy forwards every
request unchanged and records, per request: start and end time, path, status, API key
and the markers found in the body. It never changes a byte in either direction (except
that it answers `Expect: 100-continue` itself and forwards the request without it).

One asyncio loop in a daemon thread, one upstream connection per client connection
(keep-alive both ways), Content-Length and chunked bodies.
"""

import asyncio
import re
import threading
import time

MARKER = re.compile(rb"\b([agc])tid=([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


class ProxyRecord:
    __slots__ = ("start", "end", "path", "status", "key", "markers")

    def __init__(self, start, path, key, markers):
        self.start = start
        self.end = None
        self.path = path
        self.status = None  # None: no answer reached the client (reset, client gone)
        self.key = key
        self.markers = markers  # [(kind 'a'|'g', task id)]


async def _read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _header(headers, name):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def _read_body(reader, headers):
    """The body as raw bytes exactly as sent (chunked framing kept)."""
    length = _header(headers, b"content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if (_header(headers, b"transfer-encoding") or b"").lower() == b"chunked":
        out = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            out += size_line
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers until an empty line
                while True:
                    line = await reader.readuntil(b"\r\n")
                    out += line
                    if line == b"\r\n":
                        return bytes(out)
            out += await reader.readexactly(size + 2)
    return b""


def _encode_head(start_line, headers):
    return start_line + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"


class LlmProxy:
    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.records = []
        self.lock = threading.Lock()
        self.port = None
        self.loop = None
        self.thread = None
        self.server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        ready = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self._client, "127.0.0.1", 0, limit=64 * 1024 * 1024))
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="llm-proxy", daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("llm proxy did not start")
        return self

    def stop(self):
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)

    def snapshot(self):
        with self.lock:
            return list(self.records)

    async def _client(self, reader, writer):
        up_reader = up_writer = None
        try:
            while True:
                try:
                    start_line, headers = await _read_head(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if (_header(headers, b"expect") or b"").lower() == b"100-continue":
                    headers = [(k, v) for k, v in headers if k.lower() != b"expect"]
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await writer.drain()
                body = await _read_body(reader, headers)
                auth = (_header(headers, b"authorization") or _header(headers, b"x-api-key")
                        or b"").decode("latin-1")
                key = auth.split()[-1] if auth else ""
                markers = [(m.group(1).decode(), m.group(2).decode())
                           for m in MARKER.finditer(body)]
                path = start_line.split(b" ")[1].decode("latin-1") if b" " in start_line else "?"
                record = ProxyRecord(time.time(), path, key, markers)
                with self.lock:
                    self.records.append(record)
                if up_writer is None:
                    up_reader, up_writer = await asyncio.open_connection(
                        *self.upstream, limit=64 * 1024 * 1024)
                up_writer.write(_encode_head(start_line, headers) + body)
                await up_writer.drain()
                try:
                    status_line, resp_headers = await _read_head(up_reader)
                    resp_body = await _read_body(up_reader, resp_headers)
                except (asyncio.IncompleteReadError, ConnectionError):
                    record.end = time.time()
                    return  # upstream reset: close the client too (it sees a reset)
                writer.write(_encode_head(status_line, resp_headers) + resp_body)
                await writer.drain()
                record.end = time.time()
                record.status = int(status_line.split(b" ")[1])
                if (_header(resp_headers, b"connection") or b"").lower() == b"close":
                    return
        except Exception:  # noqa: BLE001 - a broken client connection ends only itself
            return
        finally:
            writer.close()
            if up_writer is not None:
                up_writer.close()
