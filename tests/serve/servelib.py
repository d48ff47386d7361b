# SPDX-License-Identifier: MIT
"""
servelib.py - the serve tests' helper: start a kllm-serve with given
arguments on a free loopback port (and, when asked, a Unix socket), wait
for /health, talk plain HTTP to it, read /metrics into a dict, count its
open descriptors, stop it.

    srv = servelib.Server(["-t", "1", "-c", "512", "--alias", "smollm2"],
                          unix="/tmp/x/serve.sock")
    srv.start()
    status, headers, body = srv.request("POST", "/v1/completions", {...})
    srv.metrics()      # {'kllm_requests_total{...}': 3.0, ...}
    srv.fds()          # open descriptors of the process
    srv.stop()

KLLM_SERVE: the binary (default build/bin/kllm-serve under the source
tree); KLLM_MODEL: the GGUF (default: tools/fetch-model.sh smollm2).
Importing it adds loopback to no_proxy.  A server's stdout and stderr go
to a file (srv.log_path; srv.log() reads it): in log_dir when given, else
in the temporary folder, removed at exit unless KLLM_TEST_KEEP_LOGS is set.
"""
import atexit
import shutil
import traceback
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_model = None
_tmp_logs = []		# logs outside a log_dir: removed at exit


@atexit.register
def _remove_logs():
    if not os.environ.get("KLLM_TEST_KEEP_LOGS"):
        for path in _tmp_logs:
            try:
                os.unlink(path)
            except OSError:
                pass


# Loopback is never reached through a proxy: not by the tests' clients
# (httpx honours *_proxy), nor by a server's upstream relay (libcurl does).
for _var in ("no_proxy", "NO_PROXY"):
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var), "127.0.0.1,localhost,::1"]))


def binary():
    """The kllm-serve binary: $KLLM_SERVE or build/bin/kllm-serve."""
    path = os.environ.get("KLLM_SERVE") or os.path.join(SRC, "build", "bin", "kllm-serve")
    return os.path.abspath(path)


def model():
    """The GGUF: $KLLM_MODEL or what tools/fetch-model.sh smollm2 prints."""
    global _model
    if _model is None:
        _model = os.environ.get("KLLM_MODEL")
        if not _model:
            out = subprocess.run([os.path.join(SRC, "tools", "fetch-model.sh"), "smollm2"],
                                 check=True, capture_output=True, text=True)
            _model = out.stdout.strip().splitlines()[-1]
    return _model


def free_port():
    """A loopback TCP port nobody listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """Prometheus text -> {'name{labels}': value} (labels as written)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?)\s+(\S+)(?:\s+\d+)?$", line)
        if m:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                pass
    return out


def metric_sum(metrics, name, **labels):
    """Sum of the samples of @name whose labels include @labels."""
    total = 0.0
    for key, val in metrics.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            total += val
    return total


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Server:
    """One kllm-serve process.

    @args: its arguments after -m MODEL (model=False: no -m; a config file
    names the models) and before --host/--port (always a free loopback
    port) and --unix @unix when given.
    """

    def __init__(self, args, unix=None, model=None, port=None, name="kllm-serve", env=None,
                 log_dir=None):
        self.args = list(args)
        self.unix_path = unix
        self.model = model
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.url = "http://%s:%d" % (self.host, self.port)
        self.name = name
        self.env = env
        self.proc = None
        fd, self.log_path = tempfile.mkstemp(prefix="kllm-serve-%s-" % name, suffix=".log",
                                             dir=log_dir)
        os.close(fd)
        if not log_dir:
            _tmp_logs.append(self.log_path)

    # -------------------------------------------------------- process

    def argv(self):
        argv = [binary()]
        if self.model is not False:
            argv += ["-m", self.model or model()]
        argv += self.args + ["--host", self.host, "--port", str(self.port)]
        if self.unix_path:
            argv += ["--unix", self.unix_path]
        return argv

    def start(self, timeout=60):
        """Start it and wait for /health (200); raises with the log's tail."""
        env = dict(os.environ)
        env.update(self.env or {})
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with status %d at start: %s" %
                                   (self.name, self.proc.returncode, self.log()[-800:]))
            if self.healthy():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s: no /health in %d s: %s" % (self.name, timeout, self.log()[-800:]))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stop it (@sig, then SIGKILL after @timeout s); its exit status."""
        p = self.proc
        if not p:
            return None
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        """What the server wrote so far (stdout and stderr)."""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def fds(self):
        """Its open descriptors (from /proc)."""
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def fd_targets(self):
        """What its descriptors point at (for a leak's message)."""
        out = []
        base = "/proc/%d/fd" % self.proc.pid
        for fd in sorted(os.listdir(base), key=int):
            try:
                out.append("%s->%s" % (fd, os.readlink(os.path.join(base, fd))))
            except OSError:
                pass
        return out

    def relays_in_flight(self):
        """Upstream relays in flight by its log's last upstream line (None: none logged)."""
        lines = [ln for ln in self.log().splitlines() if "upstream" in ln and "in_flight=" in ln]
        if not lines:
            return None
        return int(lines[-1].rstrip().split("in_flight=")[1].split()[0])

    def rss_kib(self):
        """Its resident memory in KiB (from /proc)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # ----------------------------------------------------------- HTTP

    def connection(self, timeout=60, unix=False):
        """A fresh http.client connection (TCP, or the Unix socket)."""
        if unix:
            return _UnixConnection(self.unix_path, timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=60, unix=False):
        """One request; @body a dict (sent as JSON), str or bytes.

        Returns (status, headers as a lower-cased dict, body bytes).
        """
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        conn = self.connection(timeout, unix)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def post_json(self, path, body, headers=None, timeout=60):
        """POST @body; (status, headers, parsed JSON or None)."""
        st, h, data = self.request("POST", path, body, headers, timeout)
        try:
            js = json.loads(data) if data else None
        except ValueError:
            js = None
        return st, h, js

    def sse(self, path, body, headers=None, timeout=60):
        """POST a streaming request; (status, headers, [data payloads]).

        The payloads are the `data:` lines' texts in order ("[DONE]"
        included); a non-200 answer gives its body as the one payload.
        """
        hdrs = dict(headers or {})
        hdrs.setdefault("Content-Type", "application/json")
        conn = self.connection(timeout)
        try:
            conn.request("POST", path, body=json.dumps(body).encode(), headers=hdrs)
            r = conn.getresponse()
            h = {k.lower(): v for k, v in r.getheaders()}
            if r.status != 200:
                return r.status, h, [r.read().decode("utf-8", "replace")]
            events = []
            for line in r:
                line = line.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("data:"):
                    events.append(line[5:].strip())
            return r.status, h, events
        finally:
            conn.close()

    def healthy(self, timeout=2):
        try:
            st, _, _ = self.request("GET", "/health", timeout=timeout)
            return st == 200
        except OSError:
            return False

    def metrics_text(self, headers=None):
        st, _, data = self.request("GET", "/metrics", headers=headers, timeout=10)
        if st != 200:
            raise RuntimeError("/metrics: status %d" % st)
        return data.decode()

    def metrics(self, headers=None):
        """/metrics as {'name{labels}': value}."""
        return parse_metrics(self.metrics_text(headers))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------------------ checks

def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_fds_back(srv, base, wait=3):
    """@srv's descriptors back at the count of @base (an earlier fd_targets()),
    within @wait seconds."""
    end = time.time() + wait
    while len(srv.fd_targets()) > len(base) and time.time() < end:
        time.sleep(0.1)
    now = srv.fd_targets()
    expect(len(now) <= len(base), "%d descriptors open, %d before: %s, before %s" %
           (len(now), len(base), now, base))


class Suite:
    """One test script's checks (one line each) and the servers it started,
    whose logs go to one folder: removed at the end, their tails shown when a
    check failed."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.log_dir = None
        self.servers = []

    def check(self, name, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - every failure is a report
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            if os.environ.get("KLLM_TEST_VERBOSE"):
                traceback.print_exc()
            return False
        self.passed += 1
        print("ok   %s" % name, flush=True)
        return True

    def server(self, args, **kw):
        """A Server logging into the suite's folder."""
        if self.log_dir is None:
            self.log_dir = tempfile.mkdtemp(prefix="kllm-serve-logs-")
        s = Server(args, log_dir=self.log_dir, **kw)
        self.servers.append(s)
        return s

    def finish(self, name):
        """Stop every server (log tails on failure), print the verdict line,
        return the exit status."""
        for s in self.servers:
            s.stop()
            if self.failed:
                print("--- %s log (%s):" % (s.name, " ".join(s.argv()[1:])))
                print("\n".join(s.log().splitlines()[-15:]))
        if self.log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        print("%s: %d passed, %d failed" % (name, self.passed, self.failed))
        return 1 if self.failed else 0
