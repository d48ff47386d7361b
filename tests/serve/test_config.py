#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
test_config.py - kllm-serve as an operator runs it, as kllm-serve(1)
documents it: --help and --version (exit 0), a usage error (exit 2, one
line), a configuration error (exit 1); the shipped example configuration
(tools/kllm-serve/kllm-serve.json.example, its paths pointed at this run's
model, key and socket files) starts and serves its models and aliases; an
unknown key is a warning; --log-format json writes JSON lines; SIGTERM
lets a stream in flight finish, then exits 0; sockets handed over by
systemd (systemd-socket-activate, as kllm-serve.socket does) are used and
no others; models load on first use, unload after --idle-unload and fit
--mem-budget (the idle one evicted; none fits: 503 with Retry-After).

    tests/serve/test_config.py

KLLM_SERVE, KLLM_MODEL as for test_openai.py.  One line per check; exit
status 0 when every check passed.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib  # noqa: E402

SRC = servelib.SRC
EXAMPLE = os.path.join(SRC, "tools", "kllm-serve", "kllm-serve.json.example")

SUITE = servelib.Suite()
check, server, expect = SUITE.check, SUITE.server, servelib.expect


def run(args, timeout=20):
    return subprocess.run([servelib.binary()] + args, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def t_help():
    p = run(["--help"])
    expect(p.returncode == 0, "--help: status %d" % p.returncode)
    for opt in ("-m", "--alias", "--host", "--port", "--unix", "-t", "-c", "--parallel",
                "--api-key-file", "--config", "--upstream", "--route-default"):
        expect(opt in p.stdout, "--help does not mention %s" % opt)
    p = run(["--version"])
    expect(p.returncode == 0 and p.stdout.strip(), "--version: %d %r" % (p.returncode, p.stdout))


def t_man():
    """Every long option of --help is in the man page."""
    import re
    with open(os.path.join(SRC, "docs", "man", "kllm-serve.1")) as f:
        man = f.read().replace("\\-", "-")
    opts = set(re.findall(r"(--[a-z][a-z0-9-]+)", run(["--help"]).stdout))
    missing = sorted(o for o in opts if o not in man)
    expect(not missing, "options of --help not in kllm-serve.1: %s" % " ".join(missing))


def t_usage():
    for args in (["--no-such-option"], ["-m"], ["--port", "seventy"],
                 ["--route-default", "moon"]):
        p = run(args)
        expect(p.returncode == 2, "%s: status %d" % (" ".join(args), p.returncode))
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        expect(len(lines) == 1, "%s: stderr %r" % (" ".join(args), p.stderr))


def t_bad_config(tmp):
    bad = os.path.join(tmp, "bad.json")
    for text in ('{"port": "eighty"}', '{"models": [{"name": "x"}]}', "{not json",
                 '{"apps": [{"name": "a", "route": "sideways"}]}'):
        with open(bad, "w") as f:
            f.write(text)
        p = run(["--config", bad, "--port", str(servelib.free_port())])
        expect(p.returncode == 1, "%s: status %d" % (text, p.returncode))
        expect(p.stderr.strip(), "%s: no message" % text)
    p = run(["--config", os.path.join(tmp, "missing.json")])
    expect(p.returncode == 1, "missing file: status %d" % p.returncode)


def example_config(tmp):
    """The example, pointed at this run's files."""
    with open(EXAMPLE) as f:
        cfg = json.load(f)
    for k in ("web.key", "upstream.key"):
        with open(os.path.join(tmp, k), "w") as f:
            f.write("sk-kllm-test-%s\n" % k)
    cfg["unix"] = os.path.join(tmp, "serve.sock")
    cfg["threads"] = 1
    cfg["mem_budget"] = 0
    for m in cfg["models"]:
        m["path"] = servelib.model()
    for a in cfg["apps"]:
        if "api_key_file" in a:
            a["api_key_file"] = os.path.join(tmp, "web.key")
    cfg["upstream"]["key_file"] = os.path.join(tmp, "upstream.key")
    cfg["upstream"]["base_url"] = "http://127.0.0.1:%d/v1" % servelib.free_port()
    cfg["surplus_key_for_the_test"] = 1
    path = os.path.join(tmp, "serve.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path, cfg


def t_example(tmp):
    path, cfg = example_config(tmp)
    srv = server(["--config", path], model=False, name="example", unix=cfg["unix"])
    try:
        srv.start()
        # the example's app "web" has a key, but no api_key_file requires
        # one: a keyless TCP client is anonymous, an unknown key is refused
        st, _, _ = srv.request("GET", "/v1/models")
        expect(st == 200, "/v1/models without a key (anonymous): %d" % st)
        st, _, _ = srv.request("GET", "/v1/models",
                               headers={"Authorization": "Bearer sk-not-a-key"})
        expect(st == 401, "/v1/models with an unknown key: %d" % st)
        auth = {"Authorization": "Bearer sk-kllm-test-web.key"}
        st, _, data = srv.request("GET", "/v1/models", headers=auth)
        expect(st == 200, "/v1/models: %d" % st)
        ids = {m["id"] for m in json.loads(data)["data"]}
        want = {m["name"] for m in cfg["models"]}
        expect(want <= ids, "models %r, want %r" % (ids, want))
        for name in ["smollm2"] + cfg["models"][0]["aliases"]:
            st, hd, data = srv.request("POST", "/v1/completions",
                                       {"model": name, "prompt": "Hi", "max_tokens": 2},
                                       headers=auth)
            expect(st == 200, "model %r: %d %r" % (name, st, data[:200]))
            expect(hd.get("x-kllm-route") == "local", "model %r: route %r"
                   % (name, hd.get("x-kllm-route")))
        st, _, data = srv.request("POST", "/v1/completions",
                                  {"model": "smollm2", "prompt": "Hi", "max_tokens": 2},
                                  unix=True)
        expect(st == 200, "over the socket: %d %r" % (st, data[:200]))
        expect("surplus_key_for_the_test" in srv.log(), "no warning for an unknown key: %r"
               % srv.log()[-400:])
        log = srv.log()
        expect("sk-kllm-test-" not in log, "a key file's content in the log")
        for line in log.splitlines():   # log_format json in the example
            if line.strip():
                json.loads(line)
    finally:
        srv.stop()


GRACE_S = 10   # SV_SHUTDOWN_GRACE: what requests in flight get after SIGTERM


def t_sigterm(tmp):
    """A short stream in flight finishes; one that cannot finish within the
    grace ends with an error event, not [DONE]; exit 0."""
    srv = server(["-t", "1", "-c", "4096", "--alias", "smollm2", "--log-format", "json"],
                          name="sigterm")
    out = {}
    try:
        srv.start()

        def stream(k, n):
            t0 = time.monotonic()
            out[k] = srv.sse("/v1/completions",
                             {"model": "smollm2", "prompt": "1, 2, 3, 4, 5,",
                              "max_tokens": n, "temperature": 0, "stream": True})
            out[k + "_t"] = time.monotonic()
            del t0

        th = [threading.Thread(target=stream, args=("short", 24)),
              threading.Thread(target=stream, args=("long", 4000))]
        for t in th:
            t.start()
        end = time.monotonic() + 10
        while servelib.metric_sum(srv.metrics(), "kllm_sequences_active") < 2:
            expect(time.monotonic() < end, "the streams never started")
            time.sleep(0.02)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        for t in th:
            t.join(GRACE_S + 20)
        rc = srv.proc.wait(30)
        dt = time.monotonic() - t0
        st, _, ev = out["short"]
        expect(st == 200 and ev and ev[-1] == "[DONE]", "the stream in flight did not finish:"
               " %d %r" % (st, ev[-2:]))
        st, _, ev = out["long"]
        cut = out["long_t"] - t0 > GRACE_S - 1
        expect(st == 200 and ev, "long stream: %d %r" % (st, ev[-2:]))
        if cut:
            last = json.loads(ev[-1]) if ev[-1] != "[DONE]" else {}
            expect(ev[-1] != "[DONE]" and "error" in last,
                   "a stream cut by the shutdown after %.1f s ends like a complete answer: %r"
                   % (out["long_t"] - t0, ev[-2:]))
        expect(rc == 0, "exit status %d after SIGTERM" % rc)
        print("     (exit 0 %.1f s after SIGTERM; the short stream finished, the long one %s)"
              % (dt, "was cut with an error event" if cut else "ended by itself"))
        for line in srv.log().splitlines():
            if line.strip():
                j = json.loads(line)
                expect("level" in j and "event" in j, "log line %r" % line)
    finally:
        srv.stop()


def t_socket_activation(tmp):
    """As kllm-serve.socket starts it: sockets from LISTEN_FDS, none of its own."""
    sa = shutil.which("systemd-socket-activate")
    if not sa:
        print("     (no systemd-socket-activate: skipped)")
        return
    path = os.path.join(tmp, "act.sock")
    port = servelib.free_port()
    log = open(os.path.join(tmp, "act.log"), "wb")
    p = subprocess.Popen([sa, "-l", path, "-l", "127.0.0.1:%d" % port, servelib.binary(),
                          "-m", servelib.model(), "--alias", "smollm2", "-t", "1", "-c", "512"],
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    srv = server([], unix=path, port=port, name="activated")
    try:
        end = time.monotonic() + 30
        while not srv.healthy():     # the first connection starts it
            expect(p.poll() is None, "exited with %r" % p.returncode)
            expect(time.monotonic() < end, "no /health on the activated TCP socket")
            time.sleep(0.1)
        st, hd, data = srv.request("POST", "/v1/completions",
                                   {"model": "smollm2", "prompt": "Hi", "max_tokens": 2},
                                   unix=True)
        expect(st == 200 and hd.get("x-kllm-route") == "local",
               "over the activated Unix socket: %d %r" % (st, data[:200]))
        p.send_signal(signal.SIGTERM)
        expect(p.wait(20) == 0, "exit status %r" % p.returncode)
        expect(os.path.exists(path), "the activated socket file was removed (systemd's own)")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
    with open(os.path.join(tmp, "act.log")) as f:
        text = f.read()
    listens = [ln for ln in text.splitlines() if " listen " in ln]
    expect(len(listens) == 2 and all("systemd=1" in ln for ln in listens),
           "listeners other than systemd's two: %r" % listens)


def gauge(srv, name):
    return servelib.metric_sum(srv.metrics(), name)


def t_models(tmp):
    """Two models, a budget for one: loaded on use, the idle one evicted,
    idle ones unloaded after --idle-unload; a budget for none: 503."""
    m = servelib.model()
    srv = server(["-t", "1", "-c", "512", "--alias", "a", "-m", m, "--alias", "b",
                           "--idle-unload", "2"], name="models")
    try:
        srv.start()
        expect(gauge(srv, "kllm_models_loaded") == 0, "a model loaded before its first use")
        body = {"prompt": "Hi", "max_tokens": 2}
        st, _, data = srv.request("POST", "/v1/completions", dict(body, model="a"))
        expect(st == 200, "model a: %d %r" % (st, data[:200]))
        one = gauge(srv, "kllm_weights_bytes")
        kv = gauge(srv, "kllm_kv_bytes")
        expect(gauge(srv, "kllm_models_loaded") == 1 and one > 0, "a: not loaded")
        st, _, _ = srv.request("POST", "/v1/completions", dict(body, model="b"))
        expect(st == 200, "model b: %d" % st)
        expect(gauge(srv, "kllm_models_loaded") == 2, "b: not loaded beside a")
        del kv
        end = time.monotonic() + 8
        while gauge(srv, "kllm_models_loaded") > 0:
            expect(time.monotonic() < end, "not unloaded 8 s after --idle-unload 2")
            time.sleep(0.2)
        expect(gauge(srv, "kllm_weights_bytes") == 0 and gauge(srv, "kllm_kv_bytes") == 0,
               "unloaded, yet weights %d and KV %d bytes" % (gauge(srv, "kllm_weights_bytes"),
                                                             gauge(srv, "kllm_kv_bytes")))
        st, _, _ = srv.request("POST", "/v1/completions", dict(body, model="a"))
        expect(st == 200, "a after its unload: %d" % st)
    finally:
        srv.stop()
    # a budget that holds one of them: using the other evicts the idle one
    budget = int(one * 1.2) + (200 << 20)
    srv = server(["-t", "1", "-c", "512", "--alias", "a", "-m", m, "--alias", "b",
                           "--mem-budget", str(budget)], name="budget")
    try:
        srv.start()
        for name in ("a", "b", "a"):
            st, _, data = srv.request("POST", "/v1/completions", dict(body, model=name))
            expect(st == 200, "%s within the budget: %d %r" % (name, st, data[:200]))
            n = gauge(srv, "kllm_models_loaded")
            expect(n == 1, "%d models loaded within a budget of %d bytes" % (n, budget))
    finally:
        srv.stop()
    srv = server(["-t", "1", "-c", "512", "--alias", "a", "--mem-budget", "1M"],
                          name="nobudget")
    try:
        srv.start()
        st, hd, data = srv.request("POST", "/v1/completions", dict(body, model="a"))
        expect(st == 503, "a model over the budget: %d %r" % (st, data[:200]))
        ra = hd.get("retry-after", "")
        expect(ra.isdigit() and int(ra) > 0, "503 without Retry-After: %r" % ra)
        expect(srv.healthy(), "no /health after the 503")
    finally:
        srv.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="kllm-serve-config-")
    try:
        check("--help, --version: exit 0", t_help)
        check("every option of --help in the man page", t_man)
        check("usage errors: exit 2, one line", t_usage)
        check("configuration errors: exit 1", t_bad_config, tmp)
        check("the example configuration serves", t_example, tmp)
        check("SIGTERM: graceful, the stream in flight ends, exit 0", t_sigterm, tmp)
        check("socket activation (LISTEN_FDS), as kllm-serve.socket", t_socket_activation, tmp)
        check("models: on first use, idle unload, memory budget", t_models, tmp)
    except Exception as e:  # noqa: BLE001
        SUITE.failed += 1
        print("FAIL set-up: %s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return SUITE.finish("test_config")


if __name__ == "__main__":
    sys.exit(main())
