#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
test_chat_pty.py - kllm-run's chat driven through a pseudo-terminal, as a
person at a terminal drives it: the terminal's own Ctrl-C (the byte 0x03,
which the tty driver turns into SIGINT) during a long prompt's prefill and
during an answer must return to the "> " prompt; a small context that
fills after a few turns must drop the older turns, keep the system prompt
and go on; /clear must forget the conversation but the system prompt;
/bye and Ctrl-D must end it with status 0 and the timings line on a line
of its own, counting only the prompt tokens actually run; with libedit,
the arrow keys edit the line.

    tests/chat/test_chat_pty.py KLLM_RUN MODEL.gguf

Python 3 standard library only (pty, os, select).  Exit status 0 when
every check passed, 1 otherwise.
"""
import os
import pty
import re
import select
import signal
import sys
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r")


class Chat:
    """kllm-run on the slave side of a pty; output read from the master."""

    def __init__(self, argv):
        self.argv = argv
        env = dict(os.environ, TERM="xterm", LC_ALL="C.UTF-8")
        env.pop("KLLM_ENGINE", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.raw = b""
        self.pos = 0          # where the next expect() starts looking
        self.status = None

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:       # EIO: the slave side is closed
            data = b""
        if not data:
            return False
        self.raw += data
        return True

    def text(self):
        """Everything so far, terminal control sequences removed."""
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def expect(self, pattern, timeout):
        """Wait for regex @pattern after the last match; the match."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.text(), self.pos)
            if m:
                self.pos = m.end()
                return m
            left = end - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.5)):
                m = rx.search(self.text(), self.pos)
                if m:
                    self.pos = m.end()
                    return m
                raise Failure("no %r within %.0f s; output ends with:\n%s" %
                              (pattern, timeout, self.text()[-1500:]))

    def send(self, data):
        os.write(self.fd, data)

    def type(self, data):
        """Keys typed at the prompt just shown: a person does not type
        within microseconds of it, and input that arrives before line
        editing has set up the terminal is echoed twice (and a Ctrl-D then
        is lost in the terminal's line buffer)."""
        time.sleep(0.3)
        self.send(data)

    def line(self, s):
        """Type a line and Enter, as a terminal sends it."""
        self.type(s.encode() + b"\r")

    def wait(self, timeout):
        """Read to the end and reap; the exit status (or -signal)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self._read(0.5):
                break
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._status(st)
                while self._read(0.2):
                    pass
                return self.status
        if self.status is None:
            for _ in range(int(max(end - time.monotonic(), 0) / 0.1) + 1):
                pid, st = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self._status(st)
                    return self.status
                time.sleep(0.1)
            self.kill()
            raise Failure("did not exit within %.0f s; output ends with:\n%s" %
                          (timeout, self.text()[-1500:]))
        return self.status

    def _status(self, st):
        self.status = os.WEXITSTATUS(st) if os.WIFEXITED(st) else -os.WTERMSIG(st)

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.status = -9

    def close(self):
        self.kill()
        try:
            os.close(self.fd)
        except OSError:
            pass


class Failure(Exception):
    pass


PROMPT = r"(?m:^)> "
PROGRESS = r"prompt: (\d+)/(\d+) tokens \(\d+%\), \d+ t/s"
TIMINGS = (r"kllm-run: load [0-9.]+ ms \| prompt ([0-9]+) tokens, [0-9.]+ tok/s \| "
           r"generation ([0-9]+) tokens")


def check(cond, what):
    if not cond:
        raise Failure(what)


def timings_alone(chat):
    """The timings line must start a line (not follow "> ")."""
    text = chat.text()
    m = re.search(r"(?m)^(.*)" + TIMINGS, text)
    check(m, "no timings line:\n" + text[-800:])
    check(m.group(1) == "", "the timings line follows %r on its line" % m.group(1))
    return int(m.group(2)), int(m.group(3))


def test_interrupts(run, model):
    """Ctrl-C in a long prefill and in an answer: back to "> " each time."""
    words = " ".join("word%d" % (i % 97) for i in range(1200))
    chat = Chat([run, "-m", model, "-cnv", "-i", "-p", "Summarise: " + words,
                 "-t", "1", "-b", "8", "-n", "48", "--temp", "0", "--ignore-eos"])
    try:
        # the progress line shows the prefill running; interrupt it
        m = chat.expect(PROGRESS, 60)
        total = int(m.group(2))
        check(total > 1200, "prompt of %d tokens, expected more than 1200" % total)
        chat.send(b"\x03")
        chat.expect(r"kllm-run: interrupted", 20)
        chat.expect(PROMPT, 20)
        print("ok   Ctrl-C in prefill (%d-token prompt): back to the prompt" % total)

        # an answer: interrupt it once it has started
        chat.line("Say hello.")
        start = chat.pos
        deadline = time.monotonic() + 60
        while True:
            # what the model wrote: the echoed input and the progress
            # line taken out
            body = chat.text()[start:].replace("Say hello.", "")
            body = re.sub(PROGRESS, "", body)
            if len(re.findall(r"[A-Za-z]", body)) >= 8:
                break
            check(time.monotonic() < deadline, "no answer to 'Say hello.':\n" +
                  chat.text()[-800:])
            chat._read(0.2)
        chat.send(b"\x03")
        chat.expect(r"kllm-run: interrupted", 20)
        chat.expect(PROMPT, 20)
        print("ok   Ctrl-C in an answer (%r...): back to the prompt" %
              body.strip()[:24])

        # the chat goes on: a whole answer (48 tokens), then Ctrl-D
        chat.line("What is two plus two?")
        chat.expect(r"two plus two\?", 10)
        m = chat.expect(r"(?s:(.+?))" + PROMPT, 90)
        check(len(re.findall(r"\w", m.group(1))) >= 10,
              "the answer after the interrupts is empty: %r" % m.group(1))
        chat.type(b"\x04")
        rc = chat.wait(30)
        check(rc == 0, "Ctrl-D: exit status %s" % rc)
        n_prompt, n_gen = timings_alone(chat)
        # only what ran counts: far less than the interrupted prompt
        check(0 < n_prompt < total // 2,
              "timings count %d prompt tokens of which at most a few batches "
              "of the %d-token prompt ran" % (n_prompt, total))
        print("ok   Ctrl-D: exit 0, timings on their own line, %d prompt tokens "
              "counted (not %d)" % (n_prompt, total))
    finally:
        chat.close()


def test_full_context(run, model):
    """-c 160: turns are dropped, the system prompt stays, the chat goes on."""
    system = "You are a zoologist."
    chat = Chat([run, "-m", model, "-sys", system, "-c", "160", "-n", "40",
                 "--temp", "0", "--ignore-eos", "--verbose-prompt"])
    try:
        chat.expect(r"context 160 tokens", 30)
        chat.expect(PROMPT, 30)
        dropped = 0
        for a in ["cats", "dogs", "birds", "fish", "frogs"]:
            chat.line("Tell me about %s." % a)
            chat.expect(r"Tell me about %s\." % a, 10)
            # the answer, up to the next prompt
            seg = chat.expect(r"(?s:(.*?))" + PROMPT, 90).group(1)
            check(len(re.findall(r"[A-Za-z]", seg)) >= 20,
                  "no answer about %s:\n%s" % (a, seg))
            if "full: dropped" not in seg:
                continue
            dropped += 1
            m = re.search(r"full: dropped [^\n]*\n(?s:.*?)kllm-run: prompt \(\d+ tokens, "
                          r"from the start\):\n(?s:(.*))<\|im_start\|>assistant", seg)
            check(m, "no prompt fed again after the drop:\n" + seg)
            fed = m.group(1)
            check(fed.startswith("<|im_start|>system\n" + system),
                  "the prompt fed again lost the system prompt:\n" + fed)
            check("Tell me about cats." not in fed,
                  "the oldest turn was not dropped:\n" + fed)
            check("Tell me about %s." % a in fed, "the current turn is missing:\n" + fed)
        check(dropped >= 1, "5 turns of 40 tokens in a context of 160 never filled it")
        chat.line("/bye")
        rc = chat.wait(30)
        check(rc == 0, "/bye: exit status %s" % rc)
        timings_alone(chat)
        print("ok   full context: older turns dropped %d times, system prompt kept, "
              "the chat went on; /bye exits 0" % dropped)
    finally:
        chat.close()


def test_clear(run, model):
    """/clear forgets the turns, not the system prompt; line editing."""
    system = "You answer briefly."
    chat = Chat([run, "-m", model, "-sys", system, "-n", "8", "--temp", "0",
                 "--verbose-prompt"])
    try:
        m = chat.expect(r"kllm-run [0-9.]+: .*\n", 30)
        editing = "line editing" in m.group(0)
        chat.expect(PROMPT, 30)
        if editing:
            # "My name is Aa." with the cursor moved back two places for the d
            chat.type(b"My name is Aa.\x1b[D\x1b[Dd\r")
        else:
            chat.line("My name is Ada.")
        m = chat.expect(r"kllm-run: prompt \(\d+ tokens, from the start\):\n(?s:(.*?))"
                        r"<\|im_start\|>assistant", 30)
        check("user\nMy name is Ada." in m.group(1), "first message fed as %r" % m.group(1))
        if editing:
            print("ok   libedit: the left arrow moved the cursor (fed 'My name is Ada.')")
        chat.expect(PROMPT, 60)
        chat.line("What is my name?")
        m = chat.expect(r"kllm-run: prompt \(\d+ tokens\):\n(?s:(.*?))<\|im_start\|>assistant", 30)
        check("What is my name?" in m.group(1), "second turn fed as %r" % m.group(1))
        chat.expect(PROMPT, 60)
        chat.line("/clear")
        chat.expect(r"kllm-run: conversation cleared \(the system prompt stays\)", 10)
        chat.expect(PROMPT, 10)
        chat.line("Who am I?")
        m = chat.expect(r"kllm-run: prompt \(\d+ tokens, from the start\):\n(?s:(.*?))"
                        r"<\|im_start\|>assistant", 30)
        fed = m.group(1)
        check(fed.startswith("<|im_start|>system\n" + system),
              "after /clear the system prompt is gone:\n" + fed)
        check("Ada" not in fed and "What is my name?" not in fed,
              "after /clear the old turns are still fed:\n" + fed)
        check("Who am I?" in fed, "after /clear the new turn is missing:\n" + fed)
        chat.expect(PROMPT, 60)
        chat.line("/bye")
        rc = chat.wait(30)
        check(rc == 0, "/bye: exit status %s" % rc)
        timings_alone(chat)
        print("ok   /clear: turns forgotten, system prompt kept; /bye exits 0")
    finally:
        chat.close()


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    run, model = sys.argv[1], sys.argv[2]
    failed = 0
    for t in (test_interrupts, test_full_context, test_clear):
        t0 = time.monotonic()
        try:
            t(run, model)
        except Failure as e:
            failed += 1
            print("FAIL %s: %s" % (t.__name__, e))
        print("     %s: %.1f s" % (t.__name__, time.monotonic() - t0))
    print("test_chat_pty: %s" % ("all passed" if not failed else "%d FAILED" % failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
