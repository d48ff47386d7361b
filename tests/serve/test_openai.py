#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
test_openai.py - kllm-serve through the PyPI `openai` package, used as an
app uses it: the models list; chat completions and completions, streamed
and not (the role in the first delta, [DONE] taken by the client, the
usage chunk of stream_options.include_usage); greedy determinism, seed
reproducibility, stop strings, max_tokens, logprobs; errors as the
client's exceptions (404 unknown model, 400 context_length_exceeded, 401
wrong key); the same over the Unix socket; X-Kllm-Route on every answer;
and the README's curl examples run as written (the port and the socket
path swapped for this run's when they differ; KLLM_README: read them from
another file).

    tests/serve/test_openai.py

KLLM_SERVE: the binary (default build/bin/kllm-serve); KLLM_MODEL: the
GGUF (default: tools/fetch-model.sh smollm2).  One line per check; exit
status 0 when every check passed, 1 otherwise.  About 20 s on one thread.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

import openai

try:
    import httpx
except ImportError:        # openai 3.x ships on httpx2
    import httpx2 as httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servelib  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALIAS = "smollm2"
CTX = 512
README_PORT = "127.0.0.1:8080"
README_SOCK = "/tmp/kllm.sock"

SUITE = servelib.Suite()
check, server, expect = SUITE.check, SUITE.server, servelib.expect


def client_tcp(srv, key="none"):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0, timeout=60)


def client_unix(srv):
    http = httpx.Client(transport=httpx.HTTPTransport(uds=srv.unix_path), timeout=60)
    return openai.OpenAI(base_url="http://localhost/v1", api_key="none", max_retries=0,
                         http_client=http)


MSGS = [{"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Name three colours."}]


def chat(c, **kw):
    args = dict(model=ALIAS, messages=MSGS, max_tokens=16, temperature=0)
    args.update(kw)
    return c.chat.completions.create(**args)


def usage_ok(u, max_tokens=None):
    expect(u is not None, "no usage")
    expect(u.prompt_tokens > 0, "prompt_tokens %r" % u.prompt_tokens)
    expect(u.completion_tokens > 0, "completion_tokens %r" % u.completion_tokens)
    expect(u.total_tokens == u.prompt_tokens + u.completion_tokens,
           "total %d != %d + %d" % (u.total_tokens, u.prompt_tokens, u.completion_tokens))
    if max_tokens is not None:
        expect(u.completion_tokens <= max_tokens, "completion_tokens %d > max_tokens %d"
               % (u.completion_tokens, max_tokens))


# ---------------------------------------------------------------------------

def t_models_list(c):
    page = c.models.list()
    data = list(page)
    expect(data, "empty list")
    expect(all(m.object == "model" for m in data), "object != model")
    expect(ALIAS in [m.id for m in data], "alias %r missing" % ALIAS)


def t_chat(c):
    r = chat(c)
    expect(r.object == "chat.completion", "object %r" % r.object)
    expect(r.id.startswith("chatcmpl-"), "id %r" % r.id)
    expect(len(r.choices) == 1, "%d choices" % len(r.choices))
    ch = r.choices[0]
    expect(ch.message.role == "assistant", "role %r" % ch.message.role)
    expect(ch.message.content and ch.message.content.strip(), "empty content")
    expect(ch.finish_reason in ("stop", "length"), "finish_reason %r" % ch.finish_reason)
    usage_ok(r.usage, 16)
    if ch.finish_reason == "length":
        expect(r.usage.completion_tokens == 16, "length but %d tokens" % r.usage.completion_tokens)


def stream_chat(c, **kw):
    chunks = list(chat(c, stream=True, **kw))
    expect(chunks, "no chunks")
    return chunks


def t_chat_stream(c):
    ref = chat(c).choices[0].message.content
    chunks = stream_chat(c)
    expect(all(k.object == "chat.completion.chunk" for k in chunks), "object")
    expect(len({k.id for k in chunks}) == 1, "ids differ")
    first = chunks[0].choices[0].delta
    expect(first.role == "assistant", "first delta role %r" % first.role)
    text = "".join(k.choices[0].delta.content or "" for k in chunks if k.choices)
    expect(text == ref, "streamed %r != non-streamed %r" % (text, ref))
    fins = [k.choices[0].finish_reason for k in chunks if k.choices and k.choices[0].finish_reason]
    expect(len(fins) == 1 and fins[0] in ("stop", "length"), "finish_reasons %r" % fins)
    expect(chunks[-1].choices and chunks[-1].choices[0].finish_reason, "last chunk not the finish")
    expect(all(k.usage is None for k in chunks), "usage without include_usage")


def t_chat_stream_usage(c):
    ref = chat(c)
    chunks = stream_chat(c, stream_options={"include_usage": True})
    last = chunks[-1]
    expect(last.choices == [], "final chunk has choices %r" % last.choices)
    usage_ok(last.usage, 16)
    expect(last.usage.completion_tokens == ref.usage.completion_tokens,
           "stream usage %d != %d" % (last.usage.completion_tokens, ref.usage.completion_tokens))
    expect(last.usage.prompt_tokens == ref.usage.prompt_tokens, "prompt_tokens differ")
    expect(all(k.usage is None for k in chunks[:-1]), "usage before the final chunk")
    n = sum(1 for k in chunks if k.choices and k.choices[0].delta.content)
    expect(n <= last.usage.completion_tokens, "%d content chunks > %d tokens"
           % (n, last.usage.completion_tokens))


PROMPT = "The capital of France is"


def t_completions(c):
    r = c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=12, temperature=0)
    expect(r.object == "text_completion", "object %r" % r.object)
    expect(r.id.startswith("cmpl-"), "id %r" % r.id)
    expect(r.choices[0].text, "empty text")
    expect(r.choices[0].finish_reason in ("stop", "length"), "finish %r" % r.choices[0].finish_reason)
    usage_ok(r.usage, 12)
    s = list(c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=12, temperature=0,
                                  stream=True, stream_options={"include_usage": True}))
    text = "".join(k.choices[0].text for k in s if k.choices)
    expect(text == r.choices[0].text, "streamed %r != %r" % (text, r.choices[0].text))
    expect(s[-1].choices == [] and s[-1].usage is not None, "no usage chunk")
    expect(s[-1].usage.completion_tokens == r.usage.completion_tokens, "stream usage differs")


def t_greedy(c):
    a = chat(c, max_tokens=24).choices[0].message.content
    b = chat(c, max_tokens=24).choices[0].message.content
    expect(a == b, "%r != %r" % (a, b))


def t_seed(c):
    kw = dict(max_tokens=24, temperature=0.8, seed=1234)
    a = chat(c, **kw).choices[0].message.content
    b = chat(c, **kw).choices[0].message.content
    expect(a == b, "seed 1234 twice: %r != %r" % (a, b))
    # other seeds: at least one of several differs (sampling is not greedy)
    others = {chat(c, max_tokens=24, temperature=0.8, seed=s).choices[0].message.content
              for s in (1, 2, 3)}
    expect(len(others | {a}) > 1, "temperature 0.8 gives one text for every seed: %r" % a)


def t_stop(c):
    full = c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=24, temperature=0)
    text = full.choices[0].text
    words = re.findall(r"[A-Za-z]{3,}", text)
    expect(len(words) >= 2, "too little text to pick a stop word from: %r" % text)
    stop = words[1]
    r = c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=24, temperature=0,
                             stop=[stop, "never-seen"])
    out = r.choices[0].text
    expect(stop not in out, "stop %r in %r" % (stop, out))
    expect(out == text[:text.index(stop)], "%r is not the text before %r in %r" % (out, stop, text))
    expect(r.choices[0].finish_reason == "stop", "finish_reason %r" % r.choices[0].finish_reason)
    # streamed: the held-back text is never sent
    s = list(c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=24, temperature=0,
                                  stop=stop, stream=True))
    st = "".join(k.choices[0].text for k in s if k.choices)
    expect(st == out, "streamed %r != %r" % (st, out))
    # chat, stop as a plain string
    cref = chat(c, max_tokens=24).choices[0].message.content
    cw = re.findall(r"[A-Za-z]{3,}", cref)
    if len(cw) >= 2:
        r = chat(c, max_tokens=24, stop=cw[1])
        expect(cw[1] not in r.choices[0].message.content, "chat: stop in output")
        expect(r.choices[0].finish_reason == "stop", "chat finish %r" % r.choices[0].finish_reason)


def t_max_tokens(c):
    r = c.completions.create(model=ALIAS, prompt="Once upon a time", max_tokens=5, temperature=0)
    expect(r.choices[0].finish_reason == "length", "finish %r" % r.choices[0].finish_reason)
    expect(r.usage.completion_tokens == 5, "completion_tokens %d" % r.usage.completion_tokens)
    r = c.chat.completions.create(model=ALIAS, messages=[
        {"role": "user", "content": "Write a long story about a dragon."}],
        max_completion_tokens=7, temperature=0)
    expect(r.choices[0].finish_reason == "length", "chat finish %r" % r.choices[0].finish_reason)
    expect(r.usage.completion_tokens == 7, "max_completion_tokens: %d" % r.usage.completion_tokens)


def t_logprobs(c):
    r = chat(c, max_tokens=6, logprobs=True, top_logprobs=3)
    lp = r.choices[0].logprobs
    expect(lp is not None and lp.content, "no logprobs.content")
    expect(len(lp.content) == r.usage.completion_tokens,
           "%d entries for %d tokens" % (len(lp.content), r.usage.completion_tokens))
    for e in lp.content:
        expect(isinstance(e.token, str), "token %r" % e.token)
        expect(e.logprob <= 1e-6, "logprob %r > 0" % e.logprob)
        expect(len(e.top_logprobs) == 3, "%d top_logprobs" % len(e.top_logprobs))
        tops = [t.logprob for t in e.top_logprobs]
        expect(tops == sorted(tops, reverse=True), "top_logprobs not sorted: %r" % tops)
        # greedy: the chosen token is the most likely one
        expect(abs(e.logprob - tops[0]) < 1e-3, "greedy token %r logprob %r != top %r"
               % (e.token, e.logprob, tops[0]))
    r = c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=4, temperature=0, logprobs=2)
    lp = r.choices[0].logprobs
    expect(lp is not None, "completions: no logprobs")
    n = r.usage.completion_tokens
    expect(lp.tokens is not None and lp.token_logprobs is not None and lp.top_logprobs is not None,
           "completions logprobs without tokens/token_logprobs/top_logprobs: %r" % lp)
    expect(len(lp.tokens) == n and len(lp.token_logprobs) == n, "tokens/token_logprobs length")
    expect(len(lp.top_logprobs) == n and all(len(d) == 2 for d in lp.top_logprobs),
           "top_logprobs %r" % lp.top_logprobs)
    expect(lp.text_offset is None or len(lp.text_offset) == n, "text_offset length")
    expect("".join(lp.tokens) == r.choices[0].text, "tokens %r do not make %r"
           % (lp.tokens, r.choices[0].text))
    r = chat(c, max_tokens=3)
    expect(r.choices[0].logprobs is None, "logprobs without asking")


def t_stream_logprobs(c):
    ref = chat(c, max_tokens=6, logprobs=True, top_logprobs=2)
    chunks = stream_chat(c, max_tokens=6, logprobs=True, top_logprobs=2,
                         stream_options={"include_usage": True})
    ents = []
    for k in chunks:
        if k.choices and k.choices[0].logprobs and k.choices[0].logprobs.content:
            ents += k.choices[0].logprobs.content
    n = chunks[-1].usage.completion_tokens
    expect(len(ents) == n, "%d logprobs entries in the stream for %d tokens" % (len(ents), n))
    expect(all(len(e.top_logprobs) == 2 for e in ents), "top_logprobs per entry")
    a = [e.token for e in ents]
    b = [e.token for e in ref.choices[0].logprobs.content]
    expect(a == b, "streamed tokens %r != %r" % (a, b))


def t_sampling_fields(c):
    """top_p, top_k, min_p, the penalties, priority: accepted and in effect."""
    base = dict(model=ALIAS, prompt="apple apple apple apple apple apple", max_tokens=12,
                temperature=0)
    plain = c.completions.create(**base).choices[0].text
    pen = c.completions.create(presence_penalty=2.0, frequency_penalty=2.0,
                               **base).choices[0].text
    expect(pen != plain, "penalties 2.0 change nothing: %r" % plain)
    expect(pen.lower().count("apple") < plain.lower().count("apple") or "apple" not in plain,
           "penalties do not lessen the repetition: %r vs %r" % (pen, plain))
    kw = dict(model=ALIAS, prompt=PROMPT, max_tokens=8, temperature=1.0, seed=7)
    k1 = c.completions.create(extra_body={"top_k": 1}, **kw).choices[0].text
    g = c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=8,
                             temperature=0).choices[0].text
    expect(k1 == g, "top_k 1 is not greedy: %r vs %r" % (k1, g))
    p0 = c.completions.create(top_p=1e-6, **kw).choices[0].text
    expect(p0 == g, "top_p ~0 is not greedy: %r vs %r" % (p0, g))
    m1 = c.completions.create(extra_body={"min_p": 1.0}, **kw).choices[0].text
    expect(m1 == g, "min_p 1 is not greedy: %r vs %r" % (m1, g))
    for prio in ("interactive", "normal", "background"):
        r = chat(c, max_tokens=2, extra_body={"priority": prio})
        expect(r.choices, "priority %s" % prio)
        r = chat(c, max_tokens=2, extra_headers={"X-Priority": prio})
        expect(r.choices, "X-Priority %s" % prio)
    r = chat(c, max_tokens=2, extra_body={"route": "local"})
    expect(r.choices, "route local")
    r = chat(c, max_tokens=4, messages=[{"role": "user", "content": [
        {"type": "text", "text": "Name three"}, {"type": "text", "text": " colours."}]}])
    expect(r.choices[0].message.content, "content parts")


def t_unknown_model(c):
    try:
        chat(c, model="no-such-model")
    except openai.NotFoundError as e:
        expect(e.status_code == 404, "status %d" % e.status_code)
        expect(e.code == "model_not_found", "code %r" % e.code)
        expect("no-such-model" in e.message, "message %r" % e.message)
        return
    raise AssertionError("no NotFoundError")


def t_context(c):
    long = "hello there " * (CTX * 2)
    try:
        chat(c, messages=[{"role": "user", "content": long}])
    except openai.BadRequestError as e:
        expect(e.status_code == 400, "status %d" % e.status_code)
        expect(e.code == "context_length_exceeded", "code %r" % e.code)
    else:
        raise AssertionError("no BadRequestError")
    try:
        c.completions.create(model=ALIAS, prompt=long, max_tokens=4)
    except openai.BadRequestError as e:
        expect(e.code == "context_length_exceeded", "completions code %r" % e.code)
    else:
        raise AssertionError("completions: no BadRequestError")
    # prompt fits but prompt + max_tokens does not
    try:
        chat(c, max_tokens=CTX * 4)
    except openai.BadRequestError as e:
        expect(e.code == "context_length_exceeded", "max_tokens over the context: %r" % e.code)
    # (answering within the context instead is llama-server's behaviour: allowed)


def t_reuse(c):
    """A chat's next turn reuses the KV of the turns before (cached_tokens)."""
    msgs = [{"role": "system", "content": "You are a helpful assistant who answers questions "
             "about geography, history and the natural sciences in detail."},
            {"role": "user", "content": "What is the capital of France?"}]
    r1 = chat(c, messages=msgs, max_tokens=8)
    msgs = msgs + [{"role": "assistant", "content": r1.choices[0].message.content},
                   {"role": "user", "content": "And the capital of Spain?"}]
    r2 = chat(c, messages=msgs, max_tokens=8)
    d = r2.usage.prompt_tokens_details
    cached = d.cached_tokens if d else None
    expect(cached and cached >= r1.usage.prompt_tokens // 2,
           "cached_tokens %r of %d (the first turn had %d)"
           % (cached, r2.usage.prompt_tokens, r1.usage.prompt_tokens))
    expect(cached < r2.usage.prompt_tokens, "all %d prompt tokens cached" % cached)


def t_ten_turns(c):
    """A chat of 10 turns: each turn prefills only what it adds to the one
    before (prompt_tokens - cached_tokens), never the earlier turns."""
    msgs = [{"role": "system", "content": "You are a helpful assistant who answers briefly."}]
    prev, rows = None, []
    for k in range(1, 11):
        msgs.append({"role": "user", "content": "Question number %d: name a colour and a fruit." % k})
        r = chat(c, messages=msgs, max_tokens=12)
        d = r.usage.prompt_tokens_details
        prefilled = r.usage.prompt_tokens - (d.cached_tokens if d else 0)
        if prev is not None:
            # what this turn adds: its prompt minus the last turn's prompt and answer
            new = r.usage.prompt_tokens - prev.usage.prompt_tokens - prev.usage.completion_tokens
            rows.append((k, new, prefilled))
        msgs.append({"role": "assistant", "content": r.choices[0].message.content})
        prev = r
    bad = [row for row in rows if not (0 <= row[2] - row[1] <= 1)]
    expect(not bad, "turns (turn, new tokens, prefilled) off: %r of %r" % (bad, rows))


def t_route_header(c):
    raw = c.chat.completions.with_raw_response.create(model=ALIAS, messages=MSGS, max_tokens=4,
                                                      temperature=0)
    expect(raw.headers.get("x-kllm-route") == "local", "chat: %r" % raw.headers.get("x-kllm-route"))
    raw.parse()
    raw = c.completions.with_raw_response.create(model=ALIAS, prompt=PROMPT, max_tokens=4,
                                                 stream=True)
    expect(raw.headers.get("x-kllm-route") == "local", "stream: %r"
           % raw.headers.get("x-kllm-route"))
    for _ in raw.parse():
        pass
    try:
        c.chat.completions.with_raw_response.create(model="no-such-model", messages=MSGS)
    except openai.NotFoundError:
        pass


def t_unix(srv):
    c = client_unix(srv)
    try:
        ids = [m.id for m in c.models.list()]
        expect(ALIAS in ids, "models over the socket: %r" % ids)
        r = chat(c)
        expect(r.choices[0].message.content, "empty content over the socket")
        usage_ok(r.usage)
        text = "".join(k.choices[0].delta.content or "" for k in chat(c, stream=True) if k.choices)
        expect(text == r.choices[0].message.content, "unix stream %r != %r"
               % (text, r.choices[0].message.content))
        raw = c.chat.completions.with_raw_response.create(model=ALIAS, messages=MSGS, max_tokens=2)
        expect(raw.headers.get("x-kllm-route") == "local", "route %r"
               % raw.headers.get("x-kllm-route"))
        try:
            chat(c, model="no-such-model")
            raise AssertionError("unknown model over the socket: no 404")
        except openai.NotFoundError:
            pass
    finally:
        c.close()


def t_api_key(srv):
    good = client_tcp(srv, key="sk-kllm-test-good")
    r = chat(good, max_tokens=2)
    expect(r.choices, "accepted key: no answer")
    good.close()
    for key in ("sk-kllm-test-wrong", "sk-kllm-test-good-but-longer"):
        c = client_tcp(srv, key=key)
        try:
            chat(c, max_tokens=2)
            raise AssertionError("key %r accepted" % key)
        except openai.AuthenticationError as e:
            expect(e.status_code == 401, "status %d" % e.status_code)
            expect(e.code == "invalid_api_key", "code %r" % e.code)
        try:
            c.models.list()
            raise AssertionError("models with key %r accepted" % key)
        except openai.AuthenticationError:
            pass
        finally:
            c.close()
    # no Authorization header at all
    req = httpx.post(srv.url + "/v1/chat/completions",
                     json={"model": ALIAS, "messages": MSGS, "max_tokens": 2}, timeout=30)
    expect(req.status_code == 401, "no key: status %d" % req.status_code)
    body = req.json()
    expect(isinstance(body.get("error"), dict), "401 body %r" % body)


# ---------------------------------------------------------------------------
# The README's curl examples

def readme_text():
    """The README with the kllm-serve section ($KLLM_README: another file)."""
    for p in (os.environ.get("KLLM_README") or os.path.join(SRC, "README.md"),):
        try:
            with open(p, encoding="utf-8") as f:
                t = f.read()
        except OSError:
            continue
        if "kllm-serve" in t and "curl" in t:
            return p, t
    return None, None


def readme_curls(text):
    """Every curl command in the README's sh blocks (continuation lines joined)."""
    cmds = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            if line.strip().startswith("curl "):
                cmds.append(line.strip())
    return cmds


def t_readme(srv):
    path, text = readme_text()
    expect(text, "no README section with kllm-serve curl examples")
    cmds = readme_curls(text)
    expect(len(cmds) >= 4, "%d curl examples in %s" % (len(cmds), path))
    host = srv.url.split("//", 1)[1]
    for cmd in cmds:
        run = cmd.replace(README_PORT, host).replace(README_SOCK, srv.unix_path)
        p = subprocess.run(["bash", "-c", run], capture_output=True, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        expect(p.returncode == 0, "%s: status %d: %s" % (cmd, p.returncode, p.stderr[-300:]))
        expect(out.strip(), "%s: no output" % cmd)
        expect('"error"' not in out, "%s: %s" % (cmd, out[:300]))
        if "stream" in cmd:
            expect("data: [DONE]" in out, "%s: no [DONE]" % cmd)
            for line in out.splitlines():
                if line.startswith("data: {"):
                    json.loads(line[6:])
        elif "/metrics" in cmd:
            expect(re.search(r"^kllm_\w+", out, re.M), "%s: no kllm_ metrics" % cmd)
        elif "| " not in cmd:
            json.loads(out)
    print("     (%d curl commands from %s)" % (len(cmds), os.path.relpath(path, SRC)))


# ---------------------------------------------------------------------------

def main():
    tmp = tempfile.mkdtemp(prefix="kllm-serve-openai-")
    keyfile = os.path.join(tmp, "keys")
    with open(keyfile, "w") as f:
        f.write("sk-kllm-test-good\n")
    os.chmod(keyfile, 0o600)
    srv = auth = None
    try:
        srv = server(["-t", "1", "-c", str(CTX), "--alias", ALIAS],
                              unix=os.path.join(tmp, "serve.sock"))
        srv.start()
        c = client_tcp(srv)
        check("models.list", t_models_list, c)
        check("chat: non-stream (content, usage, finish_reason)", t_chat, c)
        check("chat: stream (role first, text as non-stream, [DONE])", t_chat_stream, c)
        check("chat: stream_options.include_usage", t_chat_stream_usage, c)
        check("completions: non-stream and stream", t_completions, c)
        check("greedy: same request, same text", t_greedy, c)
        check("seed: temperature 0.8 reproducible", t_seed, c)
        check("stop strings", t_stop, c)
        check("max_tokens: finish_reason length", t_max_tokens, c)
        check("logprobs / top_logprobs", t_logprobs, c)
        check("logprobs in a stream", t_stream_logprobs, c)
        check("top_p, top_k, min_p, penalties, priority", t_sampling_fields, c)
        check("unknown model: NotFoundError 404", t_unknown_model, c)
        check("context_length_exceeded: BadRequestError", t_context, c)
        check("prompt reuse: the next turn's cached_tokens", t_reuse, c)
        check("10 turns: each prefills only its new tokens", t_ten_turns, c)
        check("X-Kllm-Route: local", t_route_header, c)
        check("unix socket (httpx uds transport)", t_unix, srv)
        check("README curl examples as written", t_readme, srv)
        c.close()
        check("server alive after the client tests", lambda: expect(srv.healthy(), "no /health"))

        auth = server(["-t", "1", "-c", str(CTX), "--alias", ALIAS,
                                "--api-key-file", keyfile])
        auth.start()
        check("--api-key-file: AuthenticationError 401", t_api_key, auth)
    except Exception as e:  # noqa: BLE001
        SUITE.failed += 1
        print("FAIL set-up: %s: %s" % (type(e).__name__, e))
        traceback.print_exc()
    finally:
        for s in (srv, auth):
            if s:
                s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return SUITE.finish("test_openai")


if __name__ == "__main__":
    sys.exit(main())
