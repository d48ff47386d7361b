#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
test_cloud.py - kllm-serve's cloud hand-off against a second kllm-serve
on loopback standing in for the cloud (a real server, not a mock).

  "cloud"   kllm-serve serving SmolLM2 as "smollm2" with a large context,
            keys required (--api-key-file holding only the upstream key);
  "device"  kllm-serve serving SmolLM2 as "smollm2" with a 256-token
            context and one slot (-np 1), --upstream to the cloud with that
            key (--upstream-key-file) and, in its config, the model map
            cloud-model -> smollm2 and the apps "private" (local_only),
            "public" (route auto) and "busy" (auto, 1 ms latency budget),
            each with its key; the anonymous policy (its key in
            --api-key-file) routes auto (--route-default auto).

Checked: auto keeps a small request local and hands off one for a model
only the upstream serves, one that exceeds the local context (chat and
completions, streamed and not, the openai client too) and one whose
expected local wait exceeds its app's latency budget; "route" in the body
and the X-Kllm-Route request header; the local_only app is never handed
off (400 context_length_exceeded, 404, the cloud's request count
unchanged); the upstream key reaches the cloud and the client's own key
does not (the cloud accepts only the upstream key); a client gone
mid-relay frees the cloud's sequence; the cloud killed mid-stream gives a
final error event and no [DONE]; the cloud down gives 502 with OpenAI's
error JSON, or a local answer for an auto request whose model is local;
X-Kllm-Route right on every answer and the route counts in /metrics; the
key in no response and no log line; no relay left in flight; the
device's descriptors back at their count.

    tests/serve/test_cloud.py

KLLM_SERVE: the binary (default build/bin/kllm-serve); KLLM_MODEL: the
GGUF (default: tools/fetch-model.sh smollm2).  One line per check; exit
status 0 when every check passed, 1 otherwise.  About 25 s on one thread.
"""
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib  # noqa: E402

ALIAS = "smollm2"
CLOUD_ONLY = "cloud-model"	# served by no local model; mapped to ALIAS upstream
LOCAL_CTX = 256
CLOUD_CTX = 1024
UPSTREAM_KEY = "sk-upstream-7f3c9a0e5d1b4c2a"
PRIVATE_KEY = "sk-app-private-1111"
PUBLIC_KEY = "sk-app-public-2222"
ANON_KEY = "sk-anonymous-3333"	# --api-key-file: the anonymous policy (route auto)
BUSY_KEY = "sk-app-latency-4444"	# an app with a 1 ms latency budget
SMALL = [{"role": "user", "content": "Say hello."}]
# Well over LOCAL_CTX tokens, well under CLOUD_CTX.
LONG_TEXT = "The quick brown fox jumps over the lazy dog near the river bank. " * 30
LONG = [{"role": "user", "content": LONG_TEXT + "\nSummarize."}]

SUITE = servelib.Suite()
check, expect = SUITE.check, servelib.expect
seen = []		# every response's headers and body, for the key check
expected = {"local": 0, "cloud": 0}	# answers counted per route


def auth(key):
    return {"Authorization": "Bearer " + key} if key else {}


def post(srv, path, body, key=ANON_KEY, headers=None):
    """POST to the device; (status, headers, JSON) with the answer recorded."""
    h = auth(key)
    h.update(headers or {})
    st, hd, js = srv.post_json(path, body, h)
    seen.append(json.dumps(hd) + json.dumps(js))
    route = hd.get("x-kllm-route")
    if route in expected:
        expected[route] += 1
    return st, hd, js


def chat(model=ALIAS, msgs=SMALL, **kw):
    body = {"model": model, "messages": msgs, "max_tokens": 8, "temperature": 0}
    body.update(kw)
    return body


def expect_route(hd, want):
    expect(hd.get("x-kllm-route") == want,
           "X-Kllm-Route %r, want %r" % (hd.get("x-kllm-route"), want))


def expect_ok_chat(st, js):
    expect(st == 200, "status %d: %s" % (st, js))
    expect(js and js.get("object") == "chat.completion", "not a chat.completion: %s" % js)
    expect(isinstance(js["choices"][0]["message"]["content"], str), "no content")


def expect_error(st, js, status, code=None):
    expect(st == status, "status %d, want %d: %s" % (st, status, js))
    err = (js or {}).get("error")
    expect(isinstance(err, dict) and err.get("message") and err.get("type"),
           "not OpenAI's error JSON: %s" % js)
    if code:
        expect(err.get("code") == code, "code %r, want %r" % (err.get("code"), code))


def route_counts(srv, headers=None):
    """Answered chat/completions requests per route, from @srv's /metrics."""
    m = srv.metrics(headers)
    return {route: sum(servelib.metric_sum(m, "kllm_requests_total", endpoint=ep, route=route)
                       for ep in ("chat_completions", "completions"))
            for route in ("local", "cloud")}


def cloud_requests(cloud):
    """The cloud's answered chat/completions requests."""
    return sum(route_counts(cloud, auth(UPSTREAM_KEY)).values())


# ------------------------------------------------------------------ set-up

def write_config(tmp):
    """The device's config file: the upstream's map and the apps."""
    files = {}
    for name, data in (("upstream.key", UPSTREAM_KEY), ("private.key", PRIVATE_KEY),
                       ("public.key", PUBLIC_KEY), ("anon.keys", ANON_KEY),
                       ("busy.key", BUSY_KEY)):
        files[name] = os.path.join(tmp, name)
        with open(files[name], "w") as f:
            f.write(data + "\n")
        os.chmod(files[name], 0o600)
    cfg = {
        "upstream": {
            "model_map": {CLOUD_ONLY: ALIAS},
            "timeout": 60,
            "connect_timeout_ms": 2000,
        },
        "apps": [
            {"name": "private", "api_key_file": files["private.key"], "local_only": True,
             "route": "auto", "max_priority": "interactive"},
            {"name": "public", "api_key_file": files["public.key"], "route": "auto",
             "max_priority": "interactive"},
            {"name": "busy", "api_key_file": files["busy.key"], "route": "auto",
             "max_priority": "interactive", "latency_budget_ms": 1},
        ],
    }
    path = os.path.join(tmp, "device.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path, files


def start_servers(tmp):
    keys = os.path.join(tmp, "cloud.keys")
    with open(keys, "w") as f:
        f.write(UPSTREAM_KEY + "\n")
    os.chmod(keys, 0o600)
    cloud = servelib.Server(["-t", "1", "-c", str(CLOUD_CTX), "--alias", ALIAS,
                             "--api-key-file", keys], name="cloud", log_dir=tmp)
    cloud.start()
    cfg, files = write_config(tmp)
    device = servelib.Server(["-t", "1", "-c", str(LOCAL_CTX), "--alias", ALIAS,
                              "-np", "1", "-v", "--route-default", "auto", "--config", cfg,
                              "--api-key-file", files["anon.keys"],
                              "--upstream", cloud.url + "/v1",
                              "--upstream-key-file", files["upstream.key"]],
                             name="device", log_dir=tmp)
    return cloud, device


# ------------------------------------------------------------------ checks

def t_cloud_wants_key(cloud):
    st, _, js = cloud.post_json("/v1/chat/completions", chat(), auth(PUBLIC_KEY))
    expect_error(st, js, 401)
    st, _, js = cloud.post_json("/v1/chat/completions", chat())
    expect_error(st, js, 401)


def t_small_local(dev):
    st, hd, js = post(dev, "/v1/chat/completions", chat())
    expect_ok_chat(st, js)
    expect_route(hd, "local")


def t_unknown_model_cloud(dev):
    st, hd, js = post(dev, "/v1/chat/completions", chat(CLOUD_ONLY))
    expect_ok_chat(st, js)
    expect_route(hd, "cloud")
    # The cloud served the mapped name; the local "usage" it reports is its own.
    expect(js["usage"]["prompt_tokens"] > 0, "no usage: %s" % js)


def t_long_prompt_cloud(dev):
    st, hd, js = post(dev, "/v1/chat/completions", chat(msgs=LONG))
    expect_ok_chat(st, js)
    expect_route(hd, "cloud")
    expect(js["usage"]["prompt_tokens"] > LOCAL_CTX,
           "prompt_tokens %d <= the local context" % js["usage"]["prompt_tokens"])


def t_completions_cloud(dev):
    body = {"model": CLOUD_ONLY, "prompt": "Once upon a time", "max_tokens": 6,
            "temperature": 0}
    st, hd, js = post(dev, "/v1/completions", body)
    expect(st == 200, "status %d: %s" % (st, js))
    expect(js.get("object") == "text_completion", "not a text_completion: %s" % js)
    expect(isinstance(js["choices"][0]["text"], str), "no text")
    expect_route(hd, "cloud")


def t_stream_cloud(dev):
    body = chat(CLOUD_ONLY, max_tokens=12, stream=True,
                stream_options={"include_usage": True})
    st, hd, ev = dev.sse("/v1/chat/completions", body, auth(PUBLIC_KEY))
    seen.append(json.dumps(hd) + json.dumps(ev))
    expect(st == 200, "status %d: %s" % (st, ev))
    if hd.get("x-kllm-route") in expected:
        expected[hd["x-kllm-route"]] += 1
    expect_route(hd, "cloud")
    expect(hd.get("content-type", "").startswith("text/event-stream"),
           "content type %r" % hd.get("content-type"))
    expect(ev and ev[-1] == "[DONE]", "no [DONE] at the end: %s" % ev[-3:])
    chunks = [json.loads(e) for e in ev[:-1]]
    expect(len(chunks) >= 3, "%d chunks" % len(chunks))
    expect(all(c.get("object") == "chat.completion.chunk" for c in chunks), "not chunks")
    expect(chunks[-1].get("usage") and not chunks[-1]["choices"], "no usage chunk last")


def t_openai_stream_cloud(dev):
    import openai
    c = openai.OpenAI(base_url=dev.url + "/v1", api_key=PUBLIC_KEY, max_retries=0,
                      timeout=60)
    try:
        with c.chat.completions.with_streaming_response.create(
                model=ALIAS, messages=LONG, max_tokens=8, temperature=0,
                stream=True) as raw:
            route = raw.headers.get("x-kllm-route")
            text = "".join((ch.choices[0].delta.content or "")
                           for ch in raw.parse() if ch.choices)
        raw = c.chat.completions.with_raw_response.create(model=CLOUD_ONLY, messages=SMALL,
                                                          max_tokens=8, temperature=0)
        route2 = raw.headers.get("x-kllm-route")
        r = raw.parse()
    finally:
        c.close()
    for got in (route, route2):
        if got in expected:
            expected[got] += 1
    expect(route == "cloud", "stream: X-Kllm-Route %r" % route)
    expect(route2 == "cloud", "X-Kllm-Route %r" % route2)
    expect(text, "no text streamed")
    expect(r.choices[0].message.content is not None, "no content")


def t_client_key_not_forwarded(dev):
    # The cloud accepts only the upstream key: were PUBLIC_KEY forwarded, 401.
    st, hd, js = post(dev, "/v1/chat/completions", chat(CLOUD_ONLY), key=PUBLIC_KEY)
    expect_ok_chat(st, js)
    expect_route(hd, "cloud")


def t_route_field(dev):
    st, hd, js = post(dev, "/v1/chat/completions", chat(route="cloud"), key=PUBLIC_KEY)
    expect_ok_chat(st, js)
    expect_route(hd, "cloud")
    st, hd, js = post(dev, "/v1/chat/completions", chat(), key=PUBLIC_KEY,
                      headers={"X-Kllm-Route": "cloud"})
    expect_ok_chat(st, js)
    expect_route(hd, "cloud")
    st, hd, js = post(dev, "/v1/chat/completions", chat(msgs=LONG, route="local"))
    expect_error(st, js, 400, "context_length_exceeded")
    expect_route(hd, "local")


def t_local_only(dev, cloud):
    before = cloud_requests(cloud)
    st, hd, js = post(dev, "/v1/chat/completions", chat(), key=PRIVATE_KEY)
    expect_ok_chat(st, js)
    expect_route(hd, "local")
    st, hd, js = post(dev, "/v1/chat/completions", chat(msgs=LONG), key=PRIVATE_KEY)
    expect_error(st, js, 400, "context_length_exceeded")
    expect_route(hd, "local")
    st, hd, js = post(dev, "/v1/chat/completions", chat(msgs=LONG, route="cloud"),
                      key=PRIVATE_KEY)
    expect(st >= 400, "a long prompt answered %d" % st)
    expect_route(hd, "local")
    st, hd, js = post(dev, "/v1/chat/completions", chat(CLOUD_ONLY), key=PRIVATE_KEY,
                      headers={"X-Kllm-Route": "cloud"})
    expect(st >= 400, "%s answered %d" % (CLOUD_ONLY, st))
    expect_route(hd, "local")
    expect(cloud_requests(cloud) == before,
           "the cloud saw %d requests of the local_only app" % (cloud_requests(cloud) - before))


def t_metrics_routes(dev):
    end = time.time() + 3	# a stream is counted once its connection completed
    got = route_counts(dev)
    while got != expected and time.time() < end:
        time.sleep(0.1)
        got = route_counts(dev)
    expect(got == expected, "/metrics route counts %s, the answers said %s" % (got, expected))


def t_client_leaves(dev, cloud):
    """A client gone mid-relay: the relay aborts, the cloud frees its sequence."""
    body = chat(CLOUD_ONLY, max_tokens=400, stream=True, temperature=0.7, seed=2,
                msgs=[{"role": "user", "content": "Write a long story about a castle."}])
    h = {"Content-Type": "application/json"}
    h.update(auth(PUBLIC_KEY))
    conn = dev.connection(60)
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=h)
        r = conn.getresponse()
        route = r.getheader("X-Kllm-Route")
        if route in expected:
            expected[route] += 1
        expect(r.status == 200, "status %d" % r.status)
        expect(route == "cloud", "X-Kllm-Route %r" % route)
        n = 0
        for line in r:
            n += line.startswith(b"data:")
            if n == 2:
                break
    finally:
        conn.sock and conn.sock.shutdown(2)
        conn.close()
    m = lambda: servelib.metric_sum(cloud.metrics(auth(UPSTREAM_KEY)),  # noqa: E731
                                    "kllm_sequences_active")
    end = time.time() + 5
    while m() > 0 and time.time() < end:
        time.sleep(0.1)
    expect(m() == 0, "the cloud still runs %d sequences" % m())
    end = time.time() + 3
    while "outcome=cancelled" not in dev.log() and time.time() < end:
        time.sleep(0.1)
    expect("outcome=cancelled" in dev.log(), "no cancelled relay in the device's log")


def while_busy(dev, fn):
    """Run @fn while the busy app's long local stream occupies the one slot."""
    import threading
    first = threading.Event()
    out = {}

    def stream():
        body = chat(max_tokens=64, stream=True,
                    msgs=[{"role": "user", "content": "Write a long story about a dragon."}])
        h = {"Content-Type": "application/json"}
        h.update(auth(BUSY_KEY))
        conn = dev.connection(60)
        try:
            conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=h)
            r = conn.getresponse()
            out["route"] = r.getheader("X-Kllm-Route")
            n = 0
            for line in r:
                n += line.startswith(b"data:")
                if n == 2:
                    first.set()
            out["events"] = n
        finally:
            first.set()
            conn.close()

    t = threading.Thread(target=stream)
    t.start()
    try:
        first.wait(30)
        return fn()
    finally:
        t.join(60)
        if out.get("route") in expected:
            expected[out["route"]] += 1
        expect(out.get("route") == "local", "the busy stream ran %r" % out.get("route"))


def t_latency_handoff(dev):
    st, hd, js = post(dev, "/v1/chat/completions", chat(), key=BUSY_KEY)
    expect_ok_chat(st, js)
    expect_route(hd, "local")
    st, hd, js = while_busy(dev, lambda: post(dev, "/v1/chat/completions", chat(),
                                              key=BUSY_KEY))
    expect_ok_chat(st, js)
    expect_route(hd, "cloud")


def t_fallback_local(dev, cloud):
    if cloud.alive():
        cloud.stop(signal.SIGKILL)
    st, hd, js = while_busy(dev, lambda: post(dev, "/v1/chat/completions", chat(),
                                              key=BUSY_KEY))
    expect_ok_chat(st, js)
    expect_route(hd, "local")
    expect("outcome=fallback_local" in dev.log(), "no fallback_local in the device's log")


def t_midstream_failure(dev, cloud):
    body = chat(CLOUD_ONLY, max_tokens=400, stream=True, temperature=0.7, seed=1,
                msgs=[{"role": "user", "content": "Write a long story about a dragon."}])
    h = {"Content-Type": "application/json"}
    h.update(auth(PUBLIC_KEY))
    conn = dev.connection(60)
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=h)
        r = conn.getresponse()
        route = r.getheader("X-Kllm-Route")
        if route in expected:
            expected[route] += 1
        expect(r.status == 200, "status %d" % r.status)
        expect(route == "cloud", "X-Kllm-Route %r" % route)
        events = []
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data:"):
                continue
            events.append(line[5:].strip())
            if len(events) == 2:
                cloud.stop(signal.SIGKILL)
    finally:
        conn.close()
    seen.append(json.dumps(events))
    expect(len(events) > 2, "only %d events" % len(events))
    expect("[DONE]" not in events, "[DONE] after the upstream died")
    last = json.loads(events[-1])
    expect(isinstance(last.get("error"), dict), "last event not an error: %s" % events[-1])


def t_upstream_down(dev, cloud):
    if cloud.alive():
        cloud.stop(signal.SIGKILL)
    st, hd, js = post(dev, "/v1/chat/completions", chat(CLOUD_ONLY), key=PUBLIC_KEY)
    expect_error(st, js, 502)
    expect_route(hd, "cloud")
    st, hd, ev = dev.sse("/v1/chat/completions", chat(CLOUD_ONLY, stream=True), auth(ANON_KEY))
    seen.append(json.dumps(hd) + json.dumps(ev))
    if hd.get("x-kllm-route") in expected:
        expected[hd["x-kllm-route"]] += 1
    expect(st == 502, "stream: status %d" % st)
    expect_error(st, json.loads(ev[0]), 502)
    expect_route(hd, "cloud")
    st, hd, js = post(dev, "/v1/chat/completions", chat())
    expect_ok_chat(st, js)
    expect_route(hd, "local")


def t_key_secret(dev):
    for text in seen:
        expect(UPSTREAM_KEY not in text, "the upstream key in a response")
    expect(UPSTREAM_KEY not in dev.log(), "the upstream key in the device's log")
    expect(UPSTREAM_KEY[-12:] not in dev.log(), "part of the upstream key in the log")


def t_relays_done(dev):
    n = dev.relays_in_flight()
    expect(n is not None, "no relay logged")
    expect(n == 0, "relays in flight: %d" % n)


def t_clean_stop(dev):
    rc = dev.stop()
    expect(rc == 0, "exit status %s: %s" % (rc, dev.log()[-1500:]))


# ------------------------------------------------------------------ main

def main():
    tmp = tempfile.mkdtemp(prefix="kllm-serve-cloud-")
    cloud = device = None
    t0 = time.time()
    try:
        cloud, device = start_servers(tmp)
        device.start()
        check("cloud: keys required (401 without the upstream key)", t_cloud_wants_key, cloud)
        check("auto: small request stays local", t_small_local, device)
        fds = device.fd_targets()	# the model loaded: its file is open
        check("auto: model only the upstream serves -> cloud", t_unknown_model_cloud, device)
        check("auto: prompt over the local context -> cloud", t_long_prompt_cloud, device)
        check("auto: /v1/completions -> cloud", t_completions_cloud, device)
        check("cloud stream relayed (chunks, usage, [DONE])", t_stream_cloud, device)
        check("openai client through the hand-off (stream and not)",
              t_openai_stream_cloud, device)
        check("client's Authorization not forwarded, upstream key is",
              t_client_key_not_forwarded, device)
        check("route in the body / X-Kllm-Route request header", t_route_field, device)
        check("local_only app never handed off", t_local_only, device, cloud)
        check("/metrics route counts match X-Kllm-Route", t_metrics_routes, device)
        check("auto: expected wait over the latency budget -> cloud",
              t_latency_handoff, device)
        check("client gone mid-relay: relay aborted, cloud sequence freed",
              t_client_leaves, device, cloud)
        check("cloud killed mid-stream: error event, no [DONE]",
              t_midstream_failure, device, cloud)
        check("upstream down: 502 with error JSON, local still served",
              t_upstream_down, device, cloud)
        check("upstream down, auto with a local model: answered locally",
              t_fallback_local, device, cloud)
        check("/metrics route counts after the failures", t_metrics_routes, device)
        check("upstream key in no response and no log line", t_key_secret, device)
        check("no relay in flight (device log)", t_relays_done, device)
        check("device descriptors back at their count", servelib.expect_fds_back, device, fds)
        check("device alive", lambda: expect(device.healthy(), "no /health"))
        check("device stops cleanly (SIGTERM: exit status 0)", t_clean_stop, device)
    except Exception as e:  # noqa: BLE001
        SUITE.failed += 1
        print("FAIL set-up: %s: %s" % (type(e).__name__, e), flush=True)
        traceback.print_exc()
    finally:
        for s in (device, cloud):
            if s:
                s.stop()
        if SUITE.failed and os.environ.get("KLLM_TEST_VERBOSE"):
            for s in (device, cloud):
                if s:
                    print("---- %s log:\n%s" % (s.name, s.log()[-3000:]))
        shutil.rmtree(tmp, ignore_errors=True)
    print("test_cloud: %d passed, %d failed (%.0f s)" % (SUITE.passed, SUITE.failed,
                                                       time.time() - t0))
    return 1 if SUITE.failed else 0


if __name__ == "__main__":
    sys.exit(main())
