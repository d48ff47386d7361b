// SPDX-License-Identifier: MIT
/*
 * proc.c - kllm's DRM clients, found the way gputop and nvtop find theirs:
 * every /proc/<pid>/fd/<fd> whose link names a /dev/accel or /dev/dri node
 * and whose /proc/<pid>/fdinfo/<fd> says "drm-driver: kllm".  Keys follow
 * the kernel's Documentation/gpu/drm-usage-stats.rst, plus kllm-* keys.
 * dup()ed, inherited or passed fds share one drm-client-id: each client is
 * counted once, under the lowest pid holding it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kllm_dev_node.h"	/* where kllm's nodes live */
#include "top.h"

/* "<n>", "<n> KiB", "<n> MiB", "<n> GiB" (drm_print_memory_stats units). */
static int parse_size(const char *s, uint64_t *bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB" };
	unsigned int shift = 0;
	uint64_t x;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	end += strspn(end, " \t");
	for (int i = 0; *end && i < 3; i++)
		if (!strcmp(end, units[i]))
			shift = 10 * (i + 1);
	if (*end && !shift)
		return -EINVAL;
	if (shift && x > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes = x << shift;
	return 0;
}

/* "<n>" or "<n> ns". */
static int parse_count(const char *s, const char *unit, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	end += strspn(end, " \t");
	if (*end && (!unit || strcmp(end, unit)))
		return -EINVAL;
	return 0;
}

static void fdinfo_key(struct top_client *c, const char *k, const char *v,
		       bool *kllm, bool *has_id)
{
	if (!strcmp(k, "drm-driver")) {
		*kllm = !strcmp(v, "kllm");
	} else if (!strcmp(k, "drm-client-id")) {
		*has_id = !parse_count(v, NULL, &c->id);
	} else if (!strcmp(k, "drm-engine-kllm")) {
		if (parse_count(v, "ns", &c->engine_ns))
			c->engine_ns = TOP_NA;
	} else if (!strcmp(k, "drm-total-shmem")) {
		if (parse_size(v, &c->shmem))
			c->shmem = TOP_NA;
	} else if (!strcmp(k, "drm-resident-shmem")) {
		if (parse_size(v, &c->resident))
			c->resident = TOP_NA;
	} else if (!strcmp(k, "drm-total-pinned")) {
		if (parse_size(v, &c->pinned))
			c->pinned = TOP_NA;
	} else if (!strcmp(k, "kllm-jobs")) {
		if (parse_count(v, NULL, &c->jobs))
			c->jobs = TOP_NA;
	} else if (!strcmp(k, "kllm-queued")) {
		if (parse_count(v, NULL, &c->queued))
			c->queued = TOP_NA;
	} else if (!strcmp(k, "kllm-priority")) {
		c->prio = -1;
		for (int i = 0; i < TOP_NCLASS; i++)
			if (!strcmp(v, top_class_names[i]))
				c->prio = i;
	}
}

/*
 * Fill c from one fdinfo text ("key:\tvalue" lines).  1 if it is a kllm
 * client with an id, 0 if not; unknown keys are skipped.
 */
int top_fdinfo_parse(const char *text, struct top_client *c)
{
	bool kllm = false, has_id = false;
	char *copy = strdup(text), *line, *save, *v;

	if (!copy)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->prio = -1;
	c->engine_ns = c->shmem = c->resident = c->pinned = TOP_NA;
	c->jobs = c->queued = TOP_NA;
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		v = strchr(line, ':');
		if (!v)
			continue;
		*v++ = '\0';
		v += strspn(v, " \t");
		v[strcspn(v, "\r")] = '\0';
		/* Trailing blanks would defeat the unit comparisons. */
		for (size_t n = strlen(v); n && (v[n - 1] == ' ' || v[n - 1] == '\t'); n--)
			v[n - 1] = '\0';
		fdinfo_key(c, line, v, &kllm, &has_id);
	}
	free(copy);
	return kllm && has_id;
}

/* Non-negative decimal name ("123"), else -1. */
static long name_num(const char *s)
{
	char *end;
	long x;

	if (*s < '0' || *s > '9')
		return -1;
	x = strtol(s, &end, 10);
	return *end || x < 0 || x > 0x7fffffff ? -1 : x;
}

static void read_comm(const char *proc, int pid, char *comm, size_t n)
{
	char path[4096], *text;

	snprintf(path, sizeof(path), "%s/%d/comm", proc, pid);
	if (top_read_file(path, 4096, &text)) {
		snprintf(comm, n, "?");
		return;
	}
	text[strcspn(text, "\n")] = '\0';
	snprintf(comm, n, "%s", text);
	free(text);
}

struct client_list {
	struct top_client *v;
	size_t n, cap;
};

static bool known_id(const struct client_list *l, uint64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].id == id)
			return true;
	return false;
}

static int add_client(struct client_list *l, const struct top_client *c)
{
	struct top_client *nv;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		nv = realloc(l->v, l->cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
	}
	l->v[l->n++] = *c;
	return 0;
}

/* One fd of pid: added to l when it is a new kllm client. */
static int scan_fd(const char *proc, int pid, const char *fd,
		   struct client_list *l)
{
	char path[4096], target[4096], *text;
	struct top_client c;
	ssize_t len;
	int ret;

	snprintf(path, sizeof(path), "%s/%d/fd/%s", proc, pid, fd);
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		return 0;	/* closed meanwhile */
	target[len] = '\0';
	if (!kllm_node_path_is_drm(target))
		return 0;
	snprintf(path, sizeof(path), "%s/%d/fdinfo/%s", proc, pid, fd);
	ret = top_read_file(path, 1u << 20, &text);
	if (ret)
		return ret == -ENOMEM ? ret : 0;
	ret = top_fdinfo_parse(text, &c);
	free(text);
	if (ret <= 0 || known_id(l, c.id))
		return ret < 0 ? ret : 0;
	c.pid = pid;
	read_comm(proc, pid, c.comm, sizeof(c.comm));
	return add_client(l, &c);
}

static int scan_pid(const char *proc, int pid, struct client_list *l)
{
	char path[4096];
	struct dirent *e;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%d/fd", proc, pid);
	d = opendir(path);
	if (!d)
		return 0;	/* exited, or another user's without root */
	while (!ret && (e = readdir(d)))
		if (name_num(e->d_name) >= 0)
			ret = scan_fd(proc, pid, e->d_name, l);
	closedir(d);
	return ret;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Sorted pids under proc. */
static int list_pids(const char *proc, int **pids, size_t *n)
{
	size_t cap = 0;
	struct dirent *e;
	int *v = NULL, *nv;
	DIR *d = opendir(proc);
	long x;

	*n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		x = name_num(e->d_name);
		if (x < 0)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[(*n)++] = (int)x;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_int);
	*pids = v;
	return 0;
}

int top_clients_scan(const char *proc, struct top_client **out, size_t *n)
{
	struct client_list l = { 0 };
	size_t n_pids;
	int *pids = NULL, ret;

	ret = list_pids(proc, &pids, &n_pids);
	if (ret)
		return ret;
	for (size_t i = 0; i < n_pids && !ret; i++)
		ret = scan_pid(proc, pids[i], &l);
	free(pids);
	if (ret) {
		free(l.v);
		return ret;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

int top_snap_take(const char *debugfs, const char *proc, struct top_snap *s,
		  char *err, size_t errlen)
{
	struct timespec ts;
	int ret;

	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->t_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	ret = top_stats_read(debugfs, &s->st, err, errlen);
	if (ret)
		return ret;
	ret = top_clients_scan(proc, &s->cl, &s->n_cl);
	if (ret) {
		snprintf(err, errlen, "cannot scan %s: %s", proc, strerror(-ret));
		top_stats_free(&s->st);
	}
	return ret;
}

void top_snap_free(struct top_snap *s)
{
	top_stats_free(&s->st);
	free(s->cl);
	s->cl = NULL;
	s->n_cl = 0;
}
