#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
test_load.py - the bounded load test of kllm-serve for CI, loopback only:

  load      16 concurrent streaming clients x 3 chat requests each (short
            answers), every one a 200 with [DONE], a usage chunk and the
            text in order; /metrics counts exactly those requests and
            tokens; the engine batched them (several sequences at once);
  overload  --parallel 2 --max-queue 2 and a burst of 12 at once: some
            answered, the rest 429 with Retry-After, none 5xx, none lost;
            a client gone while queued frees its place in the queue at
            once, clients gone while running free their sequences;

and after each the server holds what it held before (descriptors, active
and queued sequences, connections; KV only that of the sequences held for
prompt reuse) and still answers.  Bounded: 48 + 12 + 4 requests, about
15 s on two idle cores, a 60 s limit on the whole.

    tests/serve/test_load.py

KLLM_SERVE, KLLM_MODEL as for test_openai.py.  One line per check; exit
status 0 when every check passed.
"""
import json
import os
import socket
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib  # noqa: E402

ALIAS = "smollm2"
CTX = 512
CLIENTS = 16
PER_CLIENT = 3
MAX_TOKENS = 8
LIMIT_S = 60           # the clients give up past it (about 15 s on an idle machine)

SUITE = servelib.Suite()
t_start = time.monotonic()
check, server, expect = SUITE.check, SUITE.server, servelib.expect


PREFIX_KEEP = 4        # the server's default: finished sequences held for reuse
EXACT = ("fds", "active", "queued", "conns")


def counts(srv):
    m = srv.metrics()
    s = servelib.metric_sum
    return {"fds": srv.fds(),
            "active": s(m, "kllm_sequences_active"),
            "queued": s(m, "kllm_requests_queued"),
            "kv": s(m, "kllm_kv_bytes"),
            "held": s(m, "kllm_sequences_held"),
            "conns": s(m, "kllm_open_connections")}


def kv_ok(c, base):
    """KV left is that of the held sequences alone: at most PREFIX_KEEP of them,
    each at most a context's worth (bytes per token from the warm-up's)."""
    if c["held"] > PREFIX_KEEP:
        return "%d sequences held (prefix_keep %d)" % (c["held"], PREFIX_KEEP)
    if c["held"] == 0 and c["kv"] != 0:
        return "%d bytes of KV and no sequence" % c["kv"]
    if c["kv"] > c["held"] * CTX * base["kv_token"]:
        return "%d bytes of KV for %d held sequences of at most %d tokens of %d bytes" % (
            c["kv"], c["held"], CTX, base["kv_token"])
    return None


def settle(srv, base, within=3.0):
    end = time.monotonic() + within
    while True:
        c = counts(srv)
        diff = {k: (base[k], c[k]) for k in EXACT if c[k] != base[k]}
        kv = kv_ok(c, base)
        if not diff and not kv:
            return c
        if time.monotonic() > end:
            raise AssertionError("not back at baseline after %.1f s (baseline, now): %r %s"
                                 % (within, diff, kv or ""))
        time.sleep(0.05)


def one_stream(srv, i, timeout):
    """One streamed chat request: a dict of what came back."""
    body = {"model": ALIAS, "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Say something about the number %d." % i}]}
    t0 = time.monotonic()
    conn = srv.connection(timeout)
    res = {"status": 0, "events": [], "retry_after": None, "t_first": None}
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        res["status"] = r.status
        res["retry_after"] = r.getheader("Retry-After")
        if r.status != 200:
            res["body"] = r.read()
            return res
        for line in r:
            line = line.decode("utf-8").rstrip("\r\n")
            if line.startswith("data:"):
                if res["t_first"] is None:
                    res["t_first"] = time.monotonic() - t0
                res["events"].append(line[5:].strip())
    except Exception as e:  # noqa: BLE001
        res["exc"] = "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()
        res["t"] = time.monotonic() - t0
    return res


def validate(res):
    """A complete 200 stream: chunks, finish, usage chunk, [DONE]; its usage."""
    expect("exc" not in res, res.get("exc"))
    expect(res["status"] == 200, "status %d %r" % (res["status"], res.get("body", b"")[:200]))
    ev = res["events"]
    expect(ev and ev[-1] == "[DONE]", "no [DONE] at the end: %r" % ev[-3:])
    chunks = [json.loads(e) for e in ev[:-1]]
    expect(chunks[0]["choices"][0]["delta"].get("role") == "assistant", "no role first")
    expect(len({c["id"] for c in chunks}) == 1, "ids differ within one stream")
    last = chunks[-1]
    expect(last["choices"] == [] and last.get("usage"), "no usage chunk: %r" % last)
    fin = [c for c in chunks[:-1] if c["choices"][0].get("finish_reason")]
    expect(len(fin) == 1, "%d finish chunks" % len(fin))
    u = last["usage"]
    expect(0 < u["completion_tokens"] <= MAX_TOKENS, "completion_tokens %r" % u)
    return u


def run_clients(srv, n_clients, per_client, deadline, mk=one_stream):
    results = [[] for _ in range(n_clients)]
    barrier = threading.Barrier(n_clients)

    def client(k):
        barrier.wait()
        for j in range(per_client):
            left = deadline - time.monotonic()
            if left <= 1:
                results[k].append({"status": 0, "exc": "out of time", "events": []})
                continue
            results[k].append(mk(srv, k * per_client + j, left))

    th = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(n_clients)]
    for t in th:
        t.start()
    for t in th:
        t.join(max(0.1, deadline - time.monotonic() + 5))
    expect(not any(t.is_alive() for t in th), "clients still running at the deadline")
    return [r for rs in results for r in rs]


def t_load(srv, base):
    m0 = srv.metrics()
    peak = {"active": 0}
    stop = threading.Event()

    def sampler():     # how many sequences the engine runs at once
        while not stop.is_set():
            try:
                a = servelib.metric_sum(srv.metrics(), "kllm_sequences_active")
                peak["active"] = max(peak["active"], a)
            except OSError:
                pass
            stop.wait(0.1)

    smp = threading.Thread(target=sampler, daemon=True)
    smp.start()
    t0 = time.monotonic()
    try:
        res = run_clients(srv, CLIENTS, PER_CLIENT, t_start + LIMIT_S - 20)
    finally:
        stop.set()
        smp.join()
    dt = time.monotonic() - t0
    n = CLIENTS * PER_CLIENT
    expect(len(res) == n, "%d results" % len(res))
    bad = []
    comp = prompt = 0
    for r in res:
        try:
            u = validate(r)
            comp += u["completion_tokens"]
            prompt += u["prompt_tokens"]
        except AssertionError as e:
            bad.append(str(e))
    expect(not bad, "%d of %d failed, first: %s" % (len(bad), n, bad[:1]))
    m1 = srv.metrics()
    d = servelib.metric_sum(m1, "kllm_requests_total", endpoint="chat_completions",
                            status="200", route="local") - \
        servelib.metric_sum(m0, "kllm_requests_total", endpoint="chat_completions",
                            status="200", route="local")
    expect(d == n, "kllm_requests_total{chat_completions,200,local} grew by %d, not %d" % (d, n))
    other = servelib.metric_sum(m1, "kllm_requests_total", endpoint="chat_completions") - \
        servelib.metric_sum(m0, "kllm_requests_total", endpoint="chat_completions")
    expect(other == n, "chat requests of other statuses: %d" % (other - n))
    dc = servelib.metric_sum(m1, "kllm_completion_tokens_total") - \
        servelib.metric_sum(m0, "kllm_completion_tokens_total")
    expect(dc == comp, "kllm_completion_tokens_total grew by %d, usage says %d" % (dc, comp))
    dp = servelib.metric_sum(m1, "kllm_prompt_tokens_total") - \
        servelib.metric_sum(m0, "kllm_prompt_tokens_total")
    expect(dp == prompt, "kllm_prompt_tokens_total grew by %d, usage says %d" % (dp, prompt))
    dt_n = servelib.metric_sum(m1, "kllm_ttft_seconds_count") - \
        servelib.metric_sum(m0, "kllm_ttft_seconds_count")
    expect(dt_n == n, "kllm_ttft_seconds_count grew by %d" % dt_n)
    expect(peak["active"] >= 2, "never more than %d sequence at once" % peak["active"])
    ttft = sorted(r["t_first"] for r in res)
    print("     (%d streams in %.1f s, %d tokens, %.1f tok/s, up to %d sequences at once,"
          " TTFT p50 %.2f s p99 %.2f s)" % (n, dt, comp, comp / dt, peak["active"],
                                             ttft[len(ttft) // 2], ttft[-1]))
    settle(srv, base)


def t_overload(srv, base, n=12):
    m0 = srv.metrics()
    res = run_clients(srv, n, 1, t_start + LIMIT_S)
    by = {}
    for r in res:
        by[r["status"]] = by.get(r["status"], 0) + 1
    print("     (a burst of %d on --parallel 2 --max-queue 2: statuses %r)" % (n, by))
    expect(not any("exc" in r for r in res), "exceptions: %r" %
           [r["exc"] for r in res if "exc" in r][:2])
    expect(set(by) <= {200, 429}, "statuses other than 200 and 429: %r" % by)
    expect(by.get(429, 0) >= 1, "no 429 for %d requests on 2 + 2 places" % n)
    expect(by.get(200, 0) >= 4, "only %d answered (2 running + 2 queued fit)" % by.get(200, 0))
    for r in res:
        if r["status"] == 429:
            ra = r["retry_after"]
            expect(ra is not None and ra.isdigit() and int(ra) >= 1, "Retry-After %r" % ra)
            e = json.loads(r["body"]).get("error")
            expect(isinstance(e, dict) and e.get("message"), "429 body %r" % r["body"][:200])
        else:
            validate(r)
    m1 = srv.metrics()
    for st in (200, 429):
        d = servelib.metric_sum(m1, "kllm_requests_total", endpoint="chat_completions",
                                status=str(st)) - \
            servelib.metric_sum(m0, "kllm_requests_total", endpoint="chat_completions",
                                status=str(st))
        expect(d == by.get(st, 0), "kllm_requests_total{status=%d} grew by %d, not %d"
               % (st, d, by.get(st, 0)))
    settle(srv, base)
    # and it serves again right after
    r = one_stream(srv, 99, 20)
    validate(r)
    settle(srv, base)


def long_stream(srv):
    """A raw socket with a long streamed completion on it (sent, not read)."""
    body = json.dumps({"model": ALIAS, "prompt": "1, 2, 3, 4, 5, 6, 7, 8,", "max_tokens": 300,
                       "temperature": 0, "stream": True}).encode()
    s = socket.create_connection((srv.host, srv.port), timeout=20)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return s


def wait_metric(srv, name, want, within):
    end = time.monotonic() + within
    while True:
        v = servelib.metric_sum(srv.metrics(), name)
        if v == want:
            return
        if time.monotonic() > end:
            raise AssertionError("%s is %d, not %d, after %.1f s" % (name, v, want, within))
        time.sleep(0.02)


def t_vanish_queued(srv, base):
    """Clients that go away while queued and while running free their places."""
    socks = []
    try:
        for _ in range(2):
            socks.append(long_stream(srv))
        wait_metric(srv, "kllm_sequences_active", 2, 10)
        q = long_stream(srv)
        socks.append(q)
        wait_metric(srv, "kllm_requests_queued", 1, 5)
        q.close()
        socks.remove(q)
        wait_metric(srv, "kllm_requests_queued", 0, 2)
        expect(servelib.metric_sum(srv.metrics(), "kllm_sequences_active") == 2,
               "the running ones stopped")
        # its place is free: a new request queues (not 429) behind the two
        r = {}
        th = threading.Thread(target=lambda: r.update(one_stream(srv, 1, 60)))
        th.start()
        wait_metric(srv, "kllm_requests_queued", 1, 5)
        for s in socks:
            s.close()
        socks = []
        th.join(60)
        validate(r)
    finally:
        for s in socks:
            s.close()
    settle(srv, base)


def warm(srv):
    st, _, data = srv.request("POST", "/v1/chat/completions",
                              {"model": ALIAS, "max_tokens": 2,
                               "messages": [{"role": "user", "content": "Hi"}]})
    expect(st == 200, "warm-up: %d %r" % (st, data[:200]))
    time.sleep(0.2)
    base = counts(srv)
    u = json.loads(data)["usage"]
    # the held warm-up sequence: its prompt and every generated token but the last
    n = u["prompt_tokens"] + u["completion_tokens"] - 1
    expect(base["held"] <= 1 and base["active"] == 0, "not idle after the warm-up: %r" % base)
    base["kv_token"] = base["kv"] / n if base["held"] else 64 << 10
    return base


def main():
    servers = []
    try:
        srv = server(["-t", "1", "-c", str(CTX), "--alias", ALIAS,
                               "--parallel", "8", "--max-queue", "64"], name="load")
        servers.append(srv)
        srv.start()
        base = warm(srv)
        check("load: %d streaming clients x %d requests" % (CLIENTS, PER_CLIENT), t_load,
              srv, base)
        check("load: server healthy", lambda: expect(srv.healthy(), "no /health"))
        srv.stop()

        ov = server(["-t", "1", "-c", str(CTX), "--alias", ALIAS,
                              "--parallel", "2", "--max-queue", "2"], name="overload")
        servers.append(ov)
        ov.start()
        base = warm(ov)
        check("overload: 429 with Retry-After, no 5xx, back at baseline", t_overload, ov, base)
        check("clients gone while queued and running: places freed", t_vanish_queued, ov, base)
        check("overload: server healthy", lambda: expect(ov.healthy(), "no /health"))
        dt = time.monotonic() - t_start
        check("bounded: %.0f s (limit %d s)" % (dt, LIMIT_S),
              lambda: expect(dt < LIMIT_S, "took %.0f s" % dt))
    except Exception as e:  # noqa: BLE001
        SUITE.failed += 1
        print("FAIL set-up: %s: %s" % (type(e).__name__, e))
        traceback.print_exc()
    finally:
        for s in servers:
            s.stop()
    return SUITE.finish("test_load")


if __name__ == "__main__":
    sys.exit(main())
