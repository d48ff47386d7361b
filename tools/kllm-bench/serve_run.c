// SPDX-License-Identifier: MIT
/*
 * serve_run.c - one run of `kllm-bench serve`: fork the clients, wait
 * until every one is ready (model loaded, engine created and warmed up),
 * start them together, collect their messages (serve.h) into per-class
 * samples, stop the background clients once the others are done, and
 * end the run at the first failure with that client's one-line reason.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "serve.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct client {
	int id;			/* across every run: prompts never repeat */
	int spec;		/* index into the run's specs */
	const struct serve_spec *sp;
	pid_t pid;
	int fd;			/* read end of its pipe */
	uint8_t *buf;
	size_t len, cap;
	int ready, eof, requests;
	int reaped, status;	/* waitpid() done, and what it said */
	char err[256];
};

struct prun {
	struct client *cl;
	int n;
	int go[2], stop[2];	/* start all clients; stop the background ones */
	struct serve_samples smp[SERVE_MAX_SPECS];
	struct serve_run *run;
	int done;		/* requests finished */
	int failed;		/* the first client seen failing, or -1 */
};

static int buf_reserve(struct client *c, size_t more)
{
	uint8_t *p;
	size_t cap = c->cap ? c->cap : 4096;

	while (cap < c->len + more)
		cap *= 2;
	if (cap == c->cap)
		return 0;
	p = realloc(c->buf, cap);
	if (!p)
		return -1;
	c->buf = p;
	c->cap = cap;
	return 0;
}

/* Handle every whole message in @c's buffer. */
static int consume(struct prun *pr, struct client *c)
{
	size_t off = 0;

	while (c->len - off >= sizeof(struct smsg)) {
		struct smsg m;
		size_t body;
		const uint8_t *p = c->buf + off + sizeof(m);

		memcpy(&m, c->buf + off, sizeof(m));
		body = m.type == MSG_REQ ? (size_t)m.n * sizeof(float) : m.n;
		if (c->len - off - sizeof(m) < body)
			break;
		if (m.type == MSG_READY) {
			c->ready = 1;
			if (!pr->run->backend[0])
				snprintf(pr->run->backend, sizeof(pr->run->backend), "%.*s",
					 (int)m.n, (const char *)p);
		} else if (m.type == MSG_ERR) {
			snprintf(c->err, sizeof(c->err), "%.*s", (int)m.n, (const char *)p);
		} else {
			float *lat = malloc(body + 1);

			if (!lat)
				return -1;
			memcpy(lat, p, body);
			if (serve_samples_add(&pr->smp[c->spec], m.ttft, lat, (int)m.n, m.end)) {
				free(lat);
				return -1;
			}
			free(lat);
			c->requests++;
			pr->done++;
		}
		off += sizeof(m) + body;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return 0;
}

/* One poll round over the open pipes (@ms timeout); -1 on a read error. */
static int pump(struct prun *pr, int ms)
{
	struct pollfd pfd[SERVE_MAX_CLIENTS];
	int idx[SERVE_MAX_CLIENTS], n = 0;

	for (int i = 0; i < pr->n; i++)
		if (!pr->cl[i].eof) {
			pfd[n] = (struct pollfd){ .fd = pr->cl[i].fd, .events = POLLIN };
			idx[n++] = i;
		}
	if (!n)
		return 0;
	if (poll(pfd, (nfds_t)n, ms) < 0)
		return errno == EINTR ? 0 : -1;
	for (int k = 0; k < n; k++) {
		struct client *c = &pr->cl[idx[k]];
		ssize_t r;

		if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (buf_reserve(c, 65536))
			return -1;
		r = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			c->eof = 1;
			continue;
		}
		c->len += (size_t)r;
		if (consume(pr, c))
			return -1;
	}
	return 0;
}

static int all_eof(const struct prun *pr)
{
	for (int i = 0; i < pr->n; i++)
		if (!pr->cl[i].eof)
			return 0;
	return 1;
}

/* Wait until every client is ready: 0, or -1 when one failed (pr->failed). */
static int wait_ready(struct prun *pr)
{
	for (;;) {
		int ready = 0;

		for (int i = 0; i < pr->n; i++) {
			struct client *c = &pr->cl[i];

			if (c->err[0] || (c->eof && !c->ready)) {
				pr->failed = i;
				return -1;
			}
			ready += c->ready;
		}
		if (ready == pr->n)
			return 0;
		if (pump(pr, 1000))
			return -1;
	}
}

static int spawn(const struct serve_cfg *o, struct prun *pr, int n_ctx)
{
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < pr->n; i++) {
		struct client *c = &pr->cl[i];
		int p[2];

		if (pipe(p))
			return -1;
		c->pid = fork();
		if (c->pid < 0) {
			close(p[0]);
			close(p[1]);
			return -1;
		}
		if (!c->pid) {
			struct serve_child ch = {
				.model = o->model, .threads = o->threads,
				.requests = o->requests, .n_ctx = n_ctx, .id = c->id,
				.sp = c->sp, .fd = p[1], .go = pr->go[0], .stop = pr->stop[0],
			};

			close(p[0]);
			close(pr->go[1]);
			close(pr->stop[1]);
			_exit(serve_client_main(&ch));
		}
		close(p[1]);
		c->fd = p[0];
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Every client but the background ones has finished. */
static int foreground_done(const struct prun *pr)
{
	for (int i = 0; i < pr->n; i++)
		if (!pr->cl[i].eof && pr->cl[i].sp->prio != KLLM_PRIORITY_BACKGROUND)
			return 0;
	return 1;
}

static void kill_clients(struct prun *pr)
{
	for (int k = 0; k < pr->n; k++)
		if (!pr->cl[k].reaped && pr->cl[k].pid > 0 && k != pr->failed)
			kill(pr->cl[k].pid, SIGTERM);
}

/* A client that said why it failed, or has gone with a bad exit status. */
static int client_failed(struct client *c)
{
	if (c->err[0])
		return 1;
	if (!c->eof || c->pid <= 0)
		return 0;
	if (!c->reaped && waitpid(c->pid, &c->status, WNOHANG) == c->pid)
		c->reaped = 1;
	return c->reaped && !(WIFEXITED(c->status) && !WEXITSTATUS(c->status));
}

/* The first failure ends the run: the results would be of another load. */
static void check_failed(struct prun *pr)
{
	for (int i = 0; i < pr->n && pr->failed < 0; i++) {
		if (!client_failed(&pr->cl[i]))
			continue;
		pr->failed = i;
		kill_clients(pr);
	}
}

/* Serve until every client has finished, with progress every few seconds. */
static int serve_loop(struct prun *pr, int total, double t_start, const char *label)
{
	double next = t_start + 3;

	bench_progress("  %s: %d client%s started\n", label, pr->n, pr->n == 1 ? "" : "s");
	while (!all_eof(pr)) {
		check_failed(pr);
		if (pr->stop[1] >= 0 && foreground_done(pr))
			close_fd(&pr->stop[1]);
		if (pump(pr, 500))
			return -1;
		if (bench_now() >= next) {
			bench_progress("  %s: %d/%d+ requests after %.0f s\n", label, pr->done,
				       total, bench_now() - t_start);
			next += 3;
		}
	}
	return 0;
}

/* Wait for every client; the failure seen first (else the first in order)
 * goes to stderr, in one line. */
static int reap(struct prun *pr, int quiet)
{
	int bad = pr->failed;
	const struct client *c;

	for (int i = 0; i < pr->n; i++) {
		struct client *k = &pr->cl[i];

		if (k->pid <= 0)
			continue;
		if (!k->reaped && waitpid(k->pid, &k->status, 0) == k->pid)
			k->reaped = 1;
		if (bad < 0 && (k->err[0] || !k->reaped || !WIFEXITED(k->status) ||
				WEXITSTATUS(k->status)))
			bad = i;
	}
	if (bad < 0 || quiet)
		return bad < 0 ? 0 : -1;
	c = &pr->cl[bad];
	if (c->err[0])
		fprintf(stderr, "kllm-bench serve: client %d (%s): %s\n", bad,
			serve_prio_name(c->sp->prio), c->err);
	else if (c->reaped && WIFSIGNALED(c->status))
		fprintf(stderr, "kllm-bench serve: client %d (%s): killed by signal %d\n", bad,
			serve_prio_name(c->sp->prio), WTERMSIG(c->status));
	else
		fprintf(stderr, "kllm-bench serve: client %d (%s): exited without a message\n",
			bad, serve_prio_name(c->sp->prio));
	return -1;
}

static void prun_free(struct prun *pr)
{
	for (int i = 0; i < pr->n; i++) {
		if (pr->cl[i].fd >= 0)
			close(pr->cl[i].fd);
		free(pr->cl[i].buf);
	}
	for (int s = 0; s < SERVE_MAX_SPECS; s++)
		serve_samples_free(&pr->smp[s]);
	free(pr->cl);
	for (int k = 0; k < 2; k++) {
		close_fd(&pr->go[k]);
		close_fd(&pr->stop[k]);
	}
}

/*
 * The clients of a run, all with one n_ctx (the longest request): with
 * equal engine parameters their programs are equal byte for byte, which
 * is what lets the driver fuse jobs of different processes.
 */
static int make_clients(struct prun *pr, const struct serve_spec *sp, int n_sp,
			int *next_id, int *n_ctx)
{
	int n = 0;

	for (int s = 0; s < n_sp; s++) {
		n += sp[s].count;
		if (sp[s].count && sp[s].prompt + sp[s].gen > *n_ctx)
			*n_ctx = sp[s].prompt + sp[s].gen;
	}
	if (!n || n > SERVE_MAX_CLIENTS) {
		fprintf(stderr, "kllm-bench serve: %d clients: must be 1..%d\n", n,
			SERVE_MAX_CLIENTS);
		return -1;
	}
	pr->cl = calloc((size_t)n, sizeof(*pr->cl));
	if (!pr->cl)
		return -1;
	pr->n = n;
	for (int s = 0, i = 0; s < n_sp; s++)
		for (int k = 0; k < sp[s].count; k++, i++)
			pr->cl[i] = (struct client){ .id = (*next_id)++, .spec = s,
						     .sp = &sp[s], .fd = -1 };
	return 0;
}

int serve_run_once(const struct serve_cfg *o, const struct serve_spec *sp, int n_sp,
		   struct serve_run *run, const char *label)
{
	static int next_id;
	struct prun pr = { .run = run, .go = { -1, -1 }, .stop = { -1, -1 }, .failed = -1 };
	int n_ctx = 0, ok = 1, total = 0, ret = -1;
	double t_start;

	memset(run, 0, sizeof(*run));
	if (make_clients(&pr, sp, n_sp, &next_id, &n_ctx) || pipe(pr.go) || pipe(pr.stop))
		goto out;
	if (spawn(o, &pr, n_ctx)) {
		perror("kllm-bench serve: fork");
		close_fd(&pr.go[1]);
		reap(&pr, 1);
		goto out;
	}
	close_fd(&pr.go[0]);
	close_fd(&pr.stop[0]);
	if (wait_ready(&pr)) {
		close_fd(&pr.go[1]);	/* EOF: the others exit without serving */
		while (!all_eof(&pr) && !pump(&pr, 1000))
			;
		reap(&pr, 0);
		goto out;
	}
	for (int s = 0; s < n_sp; s++)
		total += sp[s].count * o->requests;
	t_start = bench_now();
	{
		char start[SERVE_MAX_CLIENTS];

		memset(start, 'g', sizeof(start));
		ok = !serve_write_all(pr.go[1], start, (size_t)pr.n);
	}
	close_fd(&pr.go[1]);
	if (!ok || serve_loop(&pr, total, t_start, label)) {
		kill_clients(&pr);
		reap(&pr, 1);
		fprintf(stderr, "kllm-bench serve: lost the clients: %s\n", strerror(errno));
		goto out;
	}
	if (reap(&pr, 0))
		goto out;
	run->n_cls = n_sp;
	for (int s = 0; s < n_sp; s++) {
		run->cls[s].spec = sp[s];
		serve_class_finish(&run->cls[s], &pr.smp[s], t_start);
		if (pr.smp[s].last_end - t_start > run->seconds)
			run->seconds = pr.smp[s].last_end - t_start;
	}
	for (int s = 0; s < n_sp; s++)
		run->total_tps += (double)run->cls[s].tokens;
	run->total_tps = run->seconds > 0 ? run->total_tps / run->seconds : 0;
	bench_progress("  %s: done in %.1f s, %.1f tokens/s\n", label, run->seconds,
		       run->total_tps);
	ret = 0;
out:
	prun_free(&pr);
	return ret;
}

