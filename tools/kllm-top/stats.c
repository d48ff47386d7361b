// SPDX-License-Identifier: MIT
/*
 * stats.c - the driver's <debugfs>/kllm/stats file: "key value" lines,
 * "pinned_bytes_uid UID BYTES" lines and "class NAME key value ..." lines.
 * Keys this version does not know are skipped, so a newer driver can add
 * some; a key that never appears stays TOP_NA.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "top.h"

const char *const top_key_names[TOP_NKEYS] = {
	[TOP_JOBS_SUBMITTED] = "jobs_submitted",
	[TOP_JOBS_COMPLETED] = "jobs_completed",
	[TOP_JOBS_FAILED] = "jobs_failed",
	[TOP_JOBS_TIMED_OUT] = "jobs_timed_out",
	[TOP_JOBS_CANCELLED] = "jobs_cancelled",
	[TOP_JOBS_KILLED] = "jobs_killed",
	[TOP_JOBS_IN_FLIGHT] = "jobs_in_flight",
	[TOP_BATCHES] = "batches",
	[TOP_BATCHED_JOBS] = "batched_jobs",
	[TOP_BUSY_NS] = "busy_ns",
	[TOP_ENGINE_THREADS] = "engine_threads",
	[TOP_PROGRAMS] = "programs",
	[TOP_PINNED_BYTES] = "pinned_bytes",
	[TOP_USERPTR_BYTES] = "userptr_bytes",
	[TOP_SHMEM_BYTES] = "shmem_bytes",
	[TOP_FPU_MAX_NS] = "fpu_max_ns",
};

const char *const top_class_names[TOP_NCLASS] = {
	[TOP_INTERACTIVE] = "interactive",
	[TOP_NORMAL] = "normal",
	[TOP_BACKGROUND] = "background",
};

/*
 * Read a whole (pseudo-)file: debugfs and procfs files report size 0, so
 * read until EOF into a growing buffer.  NUL-terminated; -EFBIG past max.
 */
int top_read_file(const char *path, size_t max, char **out)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nb;
	ssize_t r;
	int fd, ret = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto fail;
	}
	for (;;) {
		if (cap - len < 2) {
			if (cap >= max) {
				ret = -EFBIG;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			ret = -errno;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (ret)
		goto fail;
	buf[len] = '\0';
	*out = buf;
	return 0;
fail:
	free(buf);
	return ret;
}

/* Decimal u64; strtoull alone would take "-1" and " 5". */
static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

void top_stats_init(struct top_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < TOP_NKEYS; i++)
		st->v[i] = TOP_NA;
	for (int i = 0; i < TOP_NCLASS; i++)
		st->cls[i] = (struct top_class){ TOP_NA, TOP_NA, TOP_NA, TOP_NA };
}

void top_stats_free(struct top_stats *st)
{
	free(st->uids);
	st->uids = NULL;
	st->n_uids = 0;
}

static int set_uid(struct top_stats *st, uint32_t uid, uint64_t bytes)
{
	struct top_uid *nu;
	size_t i;

	/* Kept sorted by uid; a repeated uid keeps the last value. */
	for (i = 0; i < st->n_uids && st->uids[i].uid < uid; i++)
		;
	if (i < st->n_uids && st->uids[i].uid == uid) {
		st->uids[i].bytes = bytes;
		return 0;
	}
	nu = realloc(st->uids, (st->n_uids + 1) * sizeof(*nu));
	if (!nu)
		return -ENOMEM;
	st->uids = nu;
	memmove(nu + i + 1, nu + i, (st->n_uids - i) * sizeof(*nu));
	nu[i] = (struct top_uid){ uid, bytes };
	st->n_uids++;
	return 0;
}

/* "class NAME queued N jobs N wait_ns N run_ns N": any pair order. */
static void parse_class(struct top_stats *st, char **save)
{
	const char *name = strtok_r(NULL, " \t", save);
	struct top_class *c = NULL;
	char *k, *val;
	uint64_t x;

	for (int i = 0; name && i < TOP_NCLASS; i++)
		if (!strcmp(name, top_class_names[i]))
			c = &st->cls[i];
	if (!c)
		return;
	while ((k = strtok_r(NULL, " \t", save)) &&
	       (val = strtok_r(NULL, " \t", save))) {
		if (parse_u64(val, &x))
			continue;
		if (!strcmp(k, "queued"))
			c->queued = x;
		else if (!strcmp(k, "jobs"))
			c->jobs = x;
		else if (!strcmp(k, "wait_ns"))
			c->wait_ns = x;
		else if (!strcmp(k, "run_ns"))
			c->run_ns = x;
	}
}

static int parse_line(struct top_stats *st, char *line)
{
	char *save, *key = strtok_r(line, " \t", &save);
	char *a, *b;
	uint64_t x, y;

	if (!key)
		return 0;
	if (!strcmp(key, "class")) {
		parse_class(st, &save);
		return 0;
	}
	a = strtok_r(NULL, " \t", &save);
	if (!strcmp(key, "pinned_bytes_uid")) {
		b = strtok_r(NULL, " \t", &save);
		if (parse_u64(a, &x) || parse_u64(b, &y) || x > UINT32_MAX)
			return 0;
		return set_uid(st, (uint32_t)x, y);
	}
	for (int i = 0; i < TOP_NKEYS; i++) {
		if (!strcmp(key, top_key_names[i])) {
			if (!parse_u64(a, &x))
				st->v[i] = x;
			break;
		}
	}
	return 0;
}

/* st must be top_stats_init()ed; malformed lines are skipped. */
int top_stats_parse(const char *text, struct top_stats *st)
{
	char *copy = strdup(text), *line, *save;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line && !ret;
	     line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		ret = parse_line(st, line);
	}
	free(copy);
	return ret;
}

/* 1 if dir has an entry, 0 if empty, -errno if it cannot be listed. */
static int dir_has_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int ret = 0;

	if (!d)
		return -errno;
	while (!ret && (e = readdir(d)))
		ret = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return ret;
}

/*
 * Say why <debugfs>/kllm/stats could not be read.  An unmounted debugfs is
 * an empty directory; a mounted one always has entries; without root its
 * directory is mode 0700.
 */
static void explain(const char *debugfs, const char *path, int err,
		    char *msg, size_t n)
{
	char dir[4096];
	struct stat sb;
	int has;

	snprintf(dir, sizeof(dir), "%s/kllm", debugfs);
	if (err == -EACCES || err == -EPERM) {
		snprintf(msg, n, "cannot read %s: %s; run kllm-top as root, with "
			 "debugfs mounted (mount -t debugfs none %s)",
			 path, strerror(-err), debugfs);
		return;
	}
	if (err != -ENOENT && err != -ENOTDIR) {
		snprintf(msg, n, "cannot read %s: %s", path, strerror(-err));
		return;
	}
	has = dir_has_entries(debugfs);
	if (has == -EACCES || has == -EPERM) {
		snprintf(msg, n, "cannot list %s: %s; run kllm-top as root, "
			 "with debugfs mounted (mount -t debugfs none %s)",
			 debugfs, strerror(-has), debugfs);
	} else if (has <= 0) {
		snprintf(msg, n, "debugfs is not mounted at %s; as root: "
			 "mount -t debugfs none %s", debugfs, debugfs);
	} else if (stat(dir, &sb) == 0) {
		snprintf(msg, n, "%s not found: this kllm.ko has no "
			 "statistics file", path);
	} else {
		snprintf(msg, n, "kllm module not loaded (no %s)", dir);
	}
}

int top_stats_read(const char *debugfs, struct top_stats *st,
		   char *err, size_t errlen)
{
	char path[4096], *text;
	int ret;

	top_stats_init(st);
	if (snprintf(path, sizeof(path), "%s/kllm/stats", debugfs) >=
	    (int)sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", debugfs);
		return -ENAMETOOLONG;
	}
	ret = top_read_file(path, 16u << 20, &text);
	if (ret) {
		explain(debugfs, path, ret, err, errlen);
		return ret;
	}
	ret = top_stats_parse(text, st);
	free(text);
	if (ret)
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	return ret;
}
