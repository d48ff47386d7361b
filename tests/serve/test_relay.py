#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
test_relay.py - backpressure in kllm-serve's cloud relay: a client that
stops reading slows the upstream down; it does not fill the daemon's memory.

The upstream here is a small HTTP server in this script that answers
/v1/chat/completions with an SSE stream of TOTAL bytes, as fast as its
socket takes them, and counts what it got to send (the hand-off itself is
tested against a real kllm-serve in test_cloud.py; this needs an upstream
faster than any model).  A kllm-serve ("device") relays it (--route-default
cloud).  The client reads the head and a first chunk, then reads nothing
for PAUSE seconds:

- the upstream got no further than the relay's bound on unread bytes plus
  the sockets' buffers (under LIMIT; without backpressure it sends all
  TOTAL bytes into the daemon);
- the daemon's resident memory grew by less than LIMIT;

then the client reads on: every byte arrives in order, through [DONE].  A
second client stops reading and goes away: its relay ends (none in
flight), and the device's descriptors are back at their count.

    tests/serve/test_relay.py

KLLM_SERVE: the binary (default build/bin/kllm-serve).  One line per check;
exit status 0 when every check passed, 1 otherwise.  About 10 s.
"""
import hashlib
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib  # noqa: E402

TOTAL = 64 << 20	# bytes the upstream streams per request
LIMIT = 24 << 20	# what backpressure must hold it (and the daemon's growth) under
PAUSE = 3.0		# seconds the client reads nothing
EVENT = 1000		# bytes of one SSE event's JSON

SUITE = servelib.Suite()
check, expect = SUITE.check, servelib.expect


def event(i):
    """SSE event i: `data: JSON\\n\\n`, EVENT bytes of JSON."""
    head = '{"i": %d, "pad": "' % i
    return ("data: " + head + "x" * (EVENT - len(head) - 2) + '"}\n\n').encode()


def stream_bytes():
    """The whole answer, event by event, then [DONE]."""
    i = 0
    sent = 0
    while sent < TOTAL:
        e = event(i)
        yield e
        sent += len(e)
        i += 1
    yield b"data: [DONE]\n\n"


def expected_digest():
    h = hashlib.sha256()
    n = 0
    for chunk in stream_bytes():
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


class Upstream(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.sent = {}		# request number -> bytes sent so far
        self.requests = 0
        self.lock = threading.Lock()

    @property
    def url(self):
        return "http://127.0.0.1:%d/v1" % self.server_address[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        json.loads(self.rfile.read(n) or b"{}")
        srv = self.server
        with srv.lock:
            srv.requests += 1
            num = srv.requests
            srv.sent[num] = 0
        # small kernel buffers: what is in flight is what the relay took
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 10)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        buf = b""
        try:
            for chunk in stream_bytes():
                buf += chunk
                if len(buf) >= 64 << 10:
                    self.wfile.write(buf)
                    with srv.lock:
                        srv.sent[num] += len(buf)
                    buf = b""
            self.wfile.write(buf)
            with srv.lock:
                srv.sent[num] += len(buf)
            self.wfile.flush()
        except OSError:
            pass		# the relay went away
        self.close_connection = True


def open_stream(dev):
    """A raw streaming request to the device; the socket, head read."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    s.connect((dev.host, dev.port))
    body = json.dumps({"model": "cloud-only", "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(4096)
        expect(d, "the device closed before its head: %r" % head)
        head += d
    head, rest = head.split(b"\r\n\r\n", 1)
    expect(head.startswith(b"HTTP/1.1 200"), "head: %r" % head[:200])
    expect(b"x-kllm-route: cloud" in head.lower(), "not routed to the cloud: %r" % head)
    return s, head, rest


def dechunk(data):
    """The body of a chunked transfer (the device streams chunked)."""
    out = bytearray()
    pos = 0
    while True:
        eol = data.index(b"\r\n", pos)
        size = int(data[pos:eol].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


def t_backpressure(dev, up):
    rss0 = dev.rss_kib()
    s, head, rest = open_stream(dev)
    try:
        got = bytearray(rest)
        while len(got) < 256 << 10:
            d = s.recv(65536)
            expect(d, "the stream ended early")
            got += d
        num = up.requests
        time.sleep(PAUSE)		# the client reads nothing
        with up.lock:
            sent = up.sent[num]
        grew = (dev.rss_kib() - rss0) << 10
        expect(sent < LIMIT, "the upstream sent %d MiB while the client read %d KiB "
               "(no backpressure)" % (sent >> 20, len(got) >> 10))
        expect(grew < LIMIT, "the daemon grew by %d MiB" % (grew >> 20))
        s.settimeout(30)
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got += d
            if got.endswith(b"\r\n0\r\n\r\n"):
                break
    finally:
        s.close()
    chunked = b"chunked" in head.lower()
    body = dechunk(bytes(got)) if chunked else bytes(got)
    want, n = expected_digest()
    expect(len(body) == n, "%d bytes arrived, %d sent" % (len(body), n))
    expect(hashlib.sha256(body).hexdigest() == want, "the bytes differ from the upstream's")
    expect(body.endswith(b"data: [DONE]\n\n"), "no [DONE] at the end")


def t_stalled_client_leaves(dev, up):
    s, _, _ = open_stream(dev)
    num = up.requests
    time.sleep(1.0)			# the relay waits for room
    s.close()
    end = time.time() + 10
    while time.time() < end:
        if dev.relays_in_flight() == 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("a relay is still in flight: %s" % dev.log()[-600:])
    with up.lock:
        sent = up.sent[num]
    expect(sent < LIMIT, "the upstream sent %d MiB to a client that read nothing" %
           (sent >> 20))


def main():
    t0 = time.time()
    up = Upstream()
    threading.Thread(target=up.serve_forever, daemon=True).start()
    dev = SUITE.server(["-t", "1", "-v", "--route-default", "cloud", "--upstream", up.url],
                       name="device")
    try:
        dev.start()
        fds = dev.fd_targets()
        check("a stalled client holds the upstream back; every byte arrives after",
              t_backpressure, dev, up)
        check("a stalled client that leaves ends its relay", t_stalled_client_leaves, dev, up)
        check("device descriptors back at their count", servelib.expect_fds_back, dev, fds)
        check("device stops cleanly (SIGTERM: exit status 0)",
              lambda: expect(dev.stop() == 0, "exit status: %s" % dev.log()[-1500:]))
    except Exception as e:  # noqa: BLE001 - a set-up failure is a report
        SUITE.failed += 1
        print("FAIL set-up: %s: %s" % (type(e).__name__, e), flush=True)
    finally:
        up.shutdown()
    print("(%.0f s)" % (time.time() - t0))
    return SUITE.finish("test_relay")


if __name__ == "__main__":
    sys.exit(main())
