#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
test_badinput.py - kllm-serve against bad input and bad clients, with raw
HTTP (http.client and plain sockets, no client library to tidy up what
goes over the wire): malformed JSON, wrong types, invalid UTF-8, missing
fields, a body over the limit (413, by Content-Length and chunked), an
unknown endpoint (404), a wrong method (405), a prompt over the context
(context_length_exceeded); a client that vanishes mid-stream (its sequence
is freed at once: /metrics' active sequences back to 0 within 2 s, long
before the answer would have ended); a thousand connections at once, past
the connection limit; slow clients (half a header, half a body) timed out
per --timeout.  Each answer is OpenAI's error JSON, and at the end the
server holds what it held before: descriptors (/proc/PID/fd), active and
queued sequences, KV bytes; and it still answers.

    tests/serve/test_badinput.py

KLLM_SERVE, KLLM_MODEL as for test_openai.py.  One line per check; exit
status 0 when every check passed.  About 20 s.
"""
import http.client
import json
import os
import resource
import socket
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib  # noqa: E402

ALIAS = "smollm2"
CTX = 512
TIMEOUT = 3            # --timeout (seconds)
MAX_CONNS = 64         # --max-conns
MAX_BODY = 65536       # --max-body (bytes)

M_ACTIVE = "kllm_sequences_active"
M_QUEUED = "kllm_requests_queued"
M_KV = "kllm_kv_bytes"
M_HELD = "kllm_sequences_held"
M_CONNS = "kllm_open_connections"

SUITE = servelib.Suite()
check, server, expect = SUITE.check, SUITE.server, servelib.expect


class Raw:
    """Requests to one server with http.client, answers as (status, headers, body)."""

    def __init__(self, srv):
        self.srv = srv
        self.host, self.port = srv.host, srv.port

    def conn(self, timeout=30):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def req(self, method, path, body=None, headers=None, timeout=30):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def sock(self, timeout=10):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        return s


def error_body(data, status, code=None):
    """OpenAI's error JSON: {"error": {"message", "type", "code"...}}."""
    try:
        j = json.loads(data)
    except ValueError:
        raise AssertionError("%d: body is not JSON: %r" % (status, data[:200]))
    e = j.get("error") if isinstance(j, dict) else None
    expect(isinstance(e, dict), "%d: no error object: %r" % (status, j))
    expect(isinstance(e.get("message"), str) and e["message"], "no error.message: %r" % e)
    expect(isinstance(e.get("type"), str) and e["type"], "no error.type: %r" % e)
    if code is not None:
        expect(e.get("code") == code, "error.code %r, not %r" % (e.get("code"), code))
    return e


def expect_error(ans, status, code=None):
    st, hd, data = ans
    expect(st == status, "status %d, not %d: %r" % (st, status, data[:200]))
    expect(hd.get("content-type", "").startswith("application/json"),
           "content-type %r" % hd.get("content-type"))
    return error_body(data, st, code)


# --- resource counts -------------------------------------------------------

def mval(m, name):
    """The sum of every series of metric @name (labels or none)."""
    tot = None
    for k, v in m.items():
        if k == name or k.startswith(name + "{"):
            tot = (tot or 0) + v
    return tot


def counts(srv):
    m = srv.metrics()
    return {"fds": srv.fds(),
            "active": mval(m, M_ACTIVE),
            "queued": mval(m, M_QUEUED),
            "kv": mval(m, M_KV),
            "held": mval(m, M_HELD),
            "conns": mval(m, M_CONNS)}


ALL = ("fds", "active", "queued", "kv", "held", "conns")


def settle(srv, base, within=3.0, keys=ALL):
    """Wait until the counts in @keys equal @base's; the counts; else raise."""
    end = time.monotonic() + within
    while True:
        c = counts(srv)
        diff = {k: (base[k], c[k]) for k in keys if c[k] != base[k]}
        if not diff:
            return c
        if time.monotonic() > end:
            raise AssertionError("not back at baseline after %.1f s (baseline, now): %r"
                                 % (within, diff))
        time.sleep(0.05)


# --- checks ----------------------------------------------------------------

CHAT = "/v1/chat/completions"
CMPL = "/v1/completions"
MSGS = [{"role": "user", "content": "Hi"}]


def t_malformed(r):
    for body in ('{"model": "smollm2", "messages": [', "not json", "", "[]", "null", "42",
                 '{"model": "smollm2", "messages": [{"role": "user", "content": "x"}]}}'):
        e = expect_error(r.req("POST", CHAT, body), 400)
        del e


def t_types(r):
    bad = [
        {"model": ALIAS, "messages": MSGS, "max_tokens": "x"},
        {"model": ALIAS, "messages": "hello"},
        {"model": ALIAS, "messages": MSGS, "temperature": "hot"},
        {"model": ALIAS, "messages": [{"role": "user", "content": 5}]},
        {"model": ALIAS, "messages": [{"role": 7, "content": "x"}]},
        {"model": ALIAS, "messages": ["x"]},
        {"model": 17, "messages": MSGS},
        {"model": ALIAS, "messages": MSGS, "stream": "yes please"},
        {"model": ALIAS, "messages": MSGS, "stop": 5},
        {"model": ALIAS, "messages": MSGS, "top_logprobs": 99, "logprobs": True},
        {"model": ALIAS, "messages": MSGS, "max_tokens": -5},
        {"model": ALIAS, "messages": MSGS, "temperature": -1},
        {"model": ALIAS, "messages": MSGS, "stream_options": "x", "stream": True},
    ]
    for b in bad:
        st, _, data = r.req("POST", CHAT, b)
        expect(st == 400, "%s: status %d %r" % (json.dumps(b), st, data[:160]))
        error_body(data, st)
    expect_error(r.req("POST", CMPL, {"model": ALIAS, "prompt": 5}), 400)
    expect_error(r.req("POST", CMPL, {"model": ALIAS, "prompt": "x", "logprobs": "many"}), 400)


def t_edges(r):
    """Odd but well-formed input: an answer (200 or 400), never 5xx, never a crash."""
    cases = [
        ("nesting 20000 deep", "POST", CHAT, b"[" * 20000 + b"]" * 20000, (400,)),
        ("nesting in a field", "POST", CHAT, b'{"model": "smollm2", "x": ' + b"[" * 5000 +
         b"]" * 5000 + b', "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}',
         (200, 400)),
        ("max_tokens 1e30", "POST", CMPL, {"model": ALIAS, "prompt": "x", "max_tokens": 1e30},
         (400,)),
        ("max_tokens 2^63", "POST", CMPL, b'{"model": "smollm2", "prompt": "x", '
         b'"max_tokens": 9223372036854775808}', (400,)),
        ("max_tokens 0", "POST", CMPL, {"model": ALIAS, "prompt": "x", "max_tokens": 0},
         (200, 400)),
        ("NaN", "POST", CMPL, b'{"model": "smollm2", "prompt": "x", "temperature": NaN}', (400,)),
        ("empty prompt", "POST", CMPL, {"model": ALIAS, "prompt": "", "max_tokens": 1},
         (200, 400)),
        ("NUL in content", "POST", CHAT, {"model": ALIAS, "max_tokens": 1, "messages": [
            {"role": "user", "content": "a\u0000b"}]}, (200, 400)),
        ("NUL in the model name", "POST", CHAT, {"model": "smollm2\u0000x", "max_tokens": 1,
                                                 "messages": MSGS}, (400, 404)),
        ("5 stop strings", "POST", CMPL, {"model": ALIAS, "prompt": "x", "max_tokens": 1,
                                          "stop": ["a", "b", "c", "d", "e"]}, (200, 400)),
        ("a stop string of 100 kB", "POST", CMPL, b'{"model": "smollm2", "prompt": "x", '
         b'"max_tokens": 1, "stop": "' + b"s" * 60000 + b'"}', (200, 400)),
        ("a model name of 10 kB", "POST", CHAT, {"model": "m" * 10000, "messages": MSGS},
         (400, 404)),
        ("an unknown role", "POST", CHAT, {"model": ALIAS, "max_tokens": 1, "messages": [
            {"role": "wizard", "content": "hi"}]}, (200, 400)),
        ("content parts", "POST", CHAT, {"model": ALIAS, "max_tokens": 1, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}]}, (200,)),
        ("an image part", "POST", CHAT, {"model": ALIAS, "max_tokens": 1, "messages": [
            {"role": "user", "content": [{"type": "image_url",
                                          "image_url": {"url": "http://x/y.png"}}]}]},
         (400,)),
        ("no Content-Type", "POST", CMPL, None, (200,)),
        ("prompt as a list", "POST", CMPL, {"model": ALIAS, "prompt": ["a", "b"],
                                            "max_tokens": 1}, (200, 400)),
        ("priority 'urgent'", "POST", CHAT, {"model": ALIAS, "messages": MSGS,
                                             "priority": "urgent"}, (400,)),
        ("route 'sideways'", "POST", CHAT, {"model": ALIAS, "messages": MSGS,
                                            "route": "sideways"}, (400,)),
        ("route 'cloud' without an upstream", "POST", CHAT, {"model": ALIAS, "messages": MSGS,
                                                             "route": "cloud"}, (503,)),
    ]
    bad = []
    for name, m, path, body, want in cases:
        if body is None:   # raw, without a Content-Type header
            c = r.conn()
            c.putrequest(m, path)
            b = json.dumps({"model": ALIAS, "prompt": "x", "max_tokens": 1}).encode()
            c.putheader("Content-Length", str(len(b)))
            c.endheaders(b)
            resp = c.getresponse()
            st, data = resp.status, resp.read()
            c.close()
        else:
            st, _, data = r.req(m, path, body)
        if st not in want:
            bad.append("%s: %d, not %s: %r" % (name, st, want, data[:120]))
        elif st >= 400:
            try:
                error_body(data, st)
            except AssertionError as e:
                bad.append("%s: %s" % (name, e))
        expect(r.srv.alive(), "the server died on %s" % name)
    expect(not bad, "; ".join(bad))


def t_unknown_fields(r):
    st, _, data = r.req("POST", CHAT, {"model": ALIAS, "messages": MSGS, "max_tokens": 2,
                                       "frobnicate": {"a": [1, 2]}, "user": "u1", "n": 1})
    expect(st == 200, "unknown fields not ignored: %d %r" % (st, data[:200]))


BAD_UTF8 = [
    (b"\xff\xfe", "bytes that are never UTF-8"),
    (b"a\xc3", "a truncated sequence"),
    (b"\x80abc", "a lone continuation byte"),
    (b"\xc0\xaf", "an overlong '/'"),
    (b"\xe0\x80\xaf", "an overlong 3-byte '/'"),
    (b"\xed\xa0\x80", "an encoded surrogate U+D800"),
    (b"\xf4\x90\x80\x80", "a code point over U+10FFFF"),
]


def t_utf8(r):
    bad = []
    for raw, what in BAD_UTF8:
        for path, body in ((CHAT, b'{"model": "smollm2", "max_tokens": 1, "messages": '
                                  b'[{"role": "user", "content": "x%sy"}]}' % raw),
                           (CMPL, b'{"model": "smollm2", "max_tokens": 1, "prompt": "x%sy"}'
                                  % raw)):
            st, _, data = r.req("POST", path, body)
            if st != 400:
                bad.append("%s in %s: %d" % (what, path, st))
            else:
                error_body(data, st)
    # outside strings too
    st, _, _ = r.req("POST", CMPL, b'{"model": "smollm2", "max_tokens": 1, "prompt": "x", '
                                   b'"\xff": 1}')
    if st != 400:
        bad.append("in a key: %d" % st)
    expect(not bad, "invalid UTF-8 accepted: " + "; ".join(bad))
    # a lone surrogate escape is not text either
    st, _, data = r.req("POST", CMPL, b'{"model": "smollm2", "prompt": "a\\ud800b", "max_tokens": 1}')
    expect(st in (200, 400), "\\ud800: status %d" % st)


def t_missing(r):
    expect_error(r.req("POST", CHAT, {"model": ALIAS}), 400)
    expect_error(r.req("POST", CHAT, {"model": ALIAS, "messages": []}), 400)
    expect_error(r.req("POST", CMPL, {"model": ALIAS}), 400)
    expect_error(r.req("POST", CHAT, {"model": ALIAS, "messages": [{"content": "x"}]}), 400)
    # no "model": an error or the only model, never a crash
    st, _, _ = r.req("POST", CHAT, {"messages": MSGS, "max_tokens": 1})
    expect(st in (200, 400, 404), "no model: status %d" % st)


def read_answer(s, limit=8.0):
    """Read what the server sends until it closes or @limit s; (bytes, closed)."""
    s.settimeout(0.2)
    buf = b""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            if b"\r\n\r\n" in buf and status_of(buf) >= 400:
                hd = buf.split(b"\r\n\r\n", 1)
                m = [ln for ln in hd[0].split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                if m and len(hd[1]) >= int(m[0].split(b":")[1]):
                    return buf, False
            continue
        except (ConnectionResetError, BrokenPipeError):
            return buf, True
        if not d:
            return buf, True
        buf += d
    return buf, False


def status_of(buf):
    try:
        return int(buf.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def head(r, n, extra=b""):
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n"
            b"Content-Type: application/json\r\n%sContent-Length: %d\r\n\r\n"
            % (r.host.encode(), extra, n))


def t_too_big(r):
    body = b'{"model": "smollm2", "messages": [{"role": "user", "content": "' + \
        b"a" * MAX_BODY + b'"}]}'
    # by Content-Length, with Expect: 100-continue: 413 before any of the body
    s = r.sock()
    s.sendall(head(r, len(body), b"Expect: 100-continue\r\n"))
    buf, _ = read_answer(s, 5)
    s.close()
    expect(status_of(buf) == 413, "Expect: 100-continue: %r" % buf[:120])
    # the whole body sent
    s = r.sock()
    try:
        s.sendall(head(r, len(body)) + body)
    except (BrokenPipeError, ConnectionResetError):
        pass
    buf, _ = read_answer(s, 5)
    s.close()
    expect(status_of(buf) == 413, "Content-Length %d: %r" % (len(body), buf[:120]))
    error_body(buf.split(b"\r\n\r\n", 1)[1], 413)
    # chunked, no length given: the limit holds while it streams in
    s = r.sock()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    try:
        for i in range(0, len(body), 8192):
            c = body[i:i + 8192]
            s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
        s.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    buf, _ = read_answer(s, 5)
    s.close()
    expect(status_of(buf) == 413, "chunked: %r" % buf[:120])
    # just under the limit is fine (400 or 200, not 413)
    ok = b'{"model": "smollm2", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}'
    ok += b" " * (MAX_BODY - len(ok) - 16)
    st, _, data = r.req("POST", CHAT, ok)
    expect(st == 200, "a body under the limit: %d %r" % (st, data[:200]))


def t_not_found(r):
    for path in ("/v1/nothing", "/", "/v2/chat/completions", "/v1/chat/completions/x"):
        expect_error(r.req("GET", path), 404)
    expect_error(r.req("POST", "/v1/embeddings", {"model": ALIAS, "input": "x"}), 404)


def t_method(r):
    for m, p in (("GET", CHAT), ("PUT", CMPL), ("DELETE", "/v1/models"), ("POST", "/health"),
                 ("POST", "/metrics")):
        st, hd, data = r.req(m, p, b"{}" if m != "GET" else None)
        expect(st == 405, "%s %s: status %d" % (m, p, st))
        error_body(data, st)
        expect("allow" in hd, "%s %s: no Allow header" % (m, p))


def t_context(r):
    long = "hello there " * (CTX * 2)
    e = expect_error(r.req("POST", CHAT, {"model": ALIAS, "messages": [
        {"role": "user", "content": long}]}), 400, "context_length_exceeded")
    del e
    expect_error(r.req("POST", CMPL, {"model": ALIAS, "prompt": long, "stream": True}), 400,
                 "context_length_exceeded")


COUNT_PROMPT = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"


def stream_req(r, n_tokens, stream=True):
    body = json.dumps({"model": ALIAS, "prompt": COUNT_PROMPT, "max_tokens": n_tokens,
                       "temperature": 0, "stream": stream}).encode()
    return (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def t_vanish(srv, r, base):
    for how in ("mid-stream", "reset mid-stream"):
        s = r.sock()
        s.sendall(stream_req(r, 400))
        buf = b""
        s.settimeout(20)
        while buf.count(b"data: ") < 3:
            d = s.recv(4096)
            expect(d, "closed before three events: %r" % buf[:300])
            buf += d
        expect(status_of(buf) == 200, "stream status: %r" % buf[:100])
        m = srv.metrics()
        expect(mval(m, M_ACTIVE) == 1, "%s: active %r while streaming"
               % (how, mval(m, M_ACTIVE)))
        if how.startswith("reset"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        t0 = time.monotonic()
        s.close()
        # 400 tokens take far longer than 2 s on one thread: freed, not finished
        settle(srv, base, within=2.0, keys=("active", "queued"))
        dt = time.monotonic() - t0
        settle(srv, base, within=2.0)
        print("     (%s: sequence freed %.0f ms after the close)" % (how, dt * 1000))


def t_vanish_before(srv, r, base):
    """Closing before the answer (non-streamed, and with the request still in prefill)."""
    s = r.sock()
    s.sendall(stream_req(r, 400, stream=False))
    time.sleep(0.5)
    s.close()
    settle(srv, base, within=3.0, keys=("active", "queued"))
    settle(srv, base, within=2.0)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def t_many(srv, r, base, n=1000):
    lim = raise_nofile(n + 64)
    n = min(n, lim - 64)
    socks = []
    refused = 0
    try:
        for _ in range(n):
            try:
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex((r.host, r.port))
                socks.append(s)
            except OSError:
                refused += 1
        time.sleep(0.5)
        fds = srv.fds()
        expect(fds < base["fds"] + MAX_CONNS + 16, "%d connections open: the server holds %d fds"
               " (baseline %d, limit %d)" % (n, fds, base["fds"], MAX_CONNS))
        expect(srv.alive(), "server died with %d connections" % n)
    finally:
        for s in socks:
            s.close()
    # once they are gone, it answers again at once
    end = time.monotonic() + 5
    while not srv.healthy():
        expect(time.monotonic() < end, "no /health 5 s after closing %d connections" % n)
        time.sleep(0.1)
    st, _, _ = r.req("POST", CMPL, {"model": ALIAS, "prompt": "Hi", "max_tokens": 1})
    expect(st == 200, "a request after the flood: %d" % st)
    settle(srv, base, within=3.0)
    print("     (%d connections opened, %d failed at connect, server fds peaked at %d)"
          % (n, refused, fds))


def t_many_requests_over_limit(srv, r, base):
    """Connections past the limit with a request on each: answered or refused, never 5xx."""
    n = MAX_CONNS * 2
    socks = []
    try:
        for _ in range(n):
            s = r.sock()
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        got = {}
        for s in socks:
            buf, _ = read_answer(s, 0.5)
            st = status_of(buf)
            got[st] = got.get(st, 0) + 1
        expect(not any(k >= 500 for k in got), "statuses %r" % got)
        expect(got.get(200, 0) >= 1, "none answered: %r" % got)
        print("     (%d connections with a request: statuses %r, 0 = refused/closed)" % (n, got))
    finally:
        for s in socks:
            s.close()
    settle(srv, base, within=TIMEOUT + 3.0)


def wait_closed(s, limit):
    """Seconds until the server closes @s (reading anything it says), or None."""
    s.settimeout(0.1)
    t0 = time.monotonic()
    buf = b""
    while time.monotonic() - t0 < limit:
        try:
            d = s.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - t0, buf
        if not d:
            return time.monotonic() - t0, buf
        buf += d
    return None, buf


def t_slow(srv, r, base):
    cases = [
        ("idle, nothing sent", b""),
        ("half a header", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le"),
        ("half a body", head(r, 200) + b'{"model": "smollm2", "mess'),
    ]
    socks = []
    for name, data in cases:
        s = r.sock()
        if data:
            s.sendall(data)
        socks.append((name, s))
    try:
        for name, s in socks:
            dt, buf = wait_closed(s, TIMEOUT + 5)
            expect(dt is not None, "%s: still open %d s after --timeout %d"
                   % (name, TIMEOUT + 5, TIMEOUT))
            expect(status_of(buf) in (0, 408), "%s: answer %r" % (name, buf[:100]))
    finally:
        for _, s in socks:
            s.close()
    # a connection that keeps sending is not cut off meanwhile
    s = r.sock()
    try:
        req = stream_req(r, 1, stream=False)
        step = max(1, len(req) // 4)
        for i in range(0, len(req), step):
            s.sendall(req[i:i + step])
            time.sleep(TIMEOUT * 0.4)
        buf, _ = read_answer(s, 20)
        expect(status_of(buf) == 200, "slow but steady sender: %r" % buf[:100])
    finally:
        s.close()
    settle(srv, base, within=3.0)


def t_keepalive_pipelined(r):
    s = r.sock()
    try:
        one = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(one * 3)
        s.settimeout(5)
        buf = b""
        end = time.monotonic() + 5
        while buf.count(b"HTTP/1.1 200") < 3 and time.monotonic() < end:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        expect(buf.count(b"HTTP/1.1 200") == 3, "3 pipelined /health: %r" % buf[:300])
    finally:
        s.close()


def main():
    srv = None
    fd, cfg = tempfile.mkstemp(prefix="kllm-serve-badinput-", suffix=".json")
    os.close(fd)
    try:
        # no prompt reuse: idle, the server holds no KV at all
        with open(cfg, "w") as f:
            f.write('{"prefix_keep": 0}\n')
        srv = server(["--config", cfg, "-t", "1", "-c", str(CTX), "--alias", ALIAS,
                               "--timeout", str(TIMEOUT), "--max-conns", str(MAX_CONNS),
                               "--max-body", str(MAX_BODY)])
        srv.start()
        r = Raw(srv)
        # warm: the model loaded, one answer given, every connection closed
        st, _, data = r.req("POST", CMPL, {"model": ALIAS, "prompt": "Hi", "max_tokens": 2})
        expect(st == 200, "warm-up: %d %r" % (st, data[:200]))
        time.sleep(0.3)
        base = counts(srv)
        print("     baseline: %r" % base)
        expect(base["active"] == 0 and base["queued"] == 0 and base["kv"] == 0 and
               base["held"] == 0, "baseline not idle: %r" % base)

        check("malformed JSON: 400", t_malformed, r)
        check("wrong types: 400", t_types, r)
        check("unknown fields ignored", t_unknown_fields, r)
        check("odd input: 200 or 400, never 5xx", t_edges, r)
        check("invalid UTF-8: 400", t_utf8, r)
        check("missing fields: 400", t_missing, r)
        check("body over --max-body: 413", t_too_big, r)
        check("unknown endpoint: 404", t_not_found, r)
        check("wrong method: 405 with Allow", t_method, r)
        check("prompt over the context: context_length_exceeded", t_context, r)
        check("pipelined keep-alive requests", t_keepalive_pipelined, r)
        check("counts at baseline after the bad requests", settle, srv, base)
        check("client vanishes mid-stream: sequence freed", t_vanish, srv, r, base)
        check("client vanishes before the answer: freed", t_vanish_before, srv, r, base)
        check("1000 idle connections (limit %d)" % MAX_CONNS, t_many, srv, r, base)
        check("requests on connections past the limit: no 5xx", t_many_requests_over_limit,
              srv, r, base)
        check("slow clients timed out (--timeout %d)" % TIMEOUT, t_slow, srv, r, base)
        check("end: counts at baseline", settle, srv, base)
        check("end: server healthy", lambda: expect(srv.healthy(), "no /health"))
    except Exception as e:  # noqa: BLE001
        SUITE.failed += 1
        print("FAIL set-up: %s: %s" % (type(e).__name__, e))
        traceback.print_exc()
    finally:
        if srv:
            srv.stop()
        os.unlink(cfg)
    return SUITE.finish("test_badinput")


if __name__ == "__main__":
    sys.exit(main())
