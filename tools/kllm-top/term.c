// SPDX-License-Identifier: MIT
/*
 * term.c - the live view's terminal: keys without Enter or echo (termios
 * non-canonical mode), restored on every way out, and the wait between
 * refreshes.  SIGINT/SIGTERM/SIGHUP are blocked except inside ppoll(), so
 * one arriving at any time ends the wait at once and the loop returns
 * through the restoring path instead of dying with the terminal raw.
 */
#define _GNU_SOURCE	/* ppoll */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "top.h"

static struct termios saved;
static bool raw_on, cursor_hidden, signals_on;
static sigset_t wait_mask;
static volatile sig_atomic_t quit_sig, resized;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else
		quit_sig = sig;
}

/* Handlers for the signals that end kllm-top; 0 or -errno. */
int top_term_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], &sa, NULL))
			return -errno;
		sigaddset(&block, sigs[i]);
	}
	if (sigprocmask(SIG_BLOCK, &block, &wait_mask))
		return -errno;
	signals_on = true;
	return 0;
}

/* Keys one at a time, no echo; Ctrl-C still raises SIGINT (ISIG kept). */
int top_term_raw(void)
{
	struct termios t;

	fputs("\033[?25l", stdout);
	cursor_hidden = true;
	if (!isatty(STDIN_FILENO))
		return 0;	/* no keys: -n, a signal or Ctrl-C end it */
	if (tcgetattr(STDIN_FILENO, &saved))
		return -errno;
	t = saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t))
		return -errno;
	raw_on = true;
	return 0;
}

void top_term_restore(void)
{
	if (raw_on)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	raw_on = false;
	if (cursor_hidden) {
		fputs("\033[?25h", stdout);
		fflush(stdout);
	}
	cursor_hidden = false;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Consume pending keys: 1 on q or Q, 0 otherwise, -1 at end of input. */
static int read_keys(void)
{
	char buf[64];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n <= 0)
		return n < 0 && (errno == EINTR || errno == EAGAIN) ? 0 : -1;
	return memchr(buf, 'q', (size_t)n) || memchr(buf, 'Q', (size_t)n);
}

/*
 * Sleep up to seconds, watching stdin for keys when keys is set.  1 when
 * kllm-top should quit (q, or a signal), 0 when it is time to refresh
 * (timeout, or the window was resized).
 */
int top_term_wait(double seconds, bool keys)
{
	double end = now_s() + seconds, left;
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	struct timespec ts;
	int r;

	for (;;) {
		if (quit_sig)
			return 1;
		if (resized) {
			resized = 0;
			return 0;
		}
		left = end - now_s();
		if (left <= 0)
			return 0;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		r = ppoll(&pfd, keys ? 1 : 0, &ts, signals_on ? &wait_mask : NULL);
		if (r < 0 && errno != EINTR)
			return 1;
		if (r > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			r = read_keys();
			if (r > 0)
				return 1;
			if (r < 0)
				keys = false;	/* stdin closed: only time and signals */
		}
	}
}
