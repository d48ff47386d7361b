// SPDX-License-Identifier: MIT
/*
 * test_top.c - kllm-top's parsing, client discovery, rates and renderings
 * against a fake debugfs and a fake /proc built in a temporary directory:
 * pid directories with comm, fd symlinks naming /dev/accel/accel0 (never
 * followed, only read) and fdinfo files.  The tool's sources are compiled
 * into this test (their static helpers included); main.c and term.c are
 * the terminal loop and are not.
 */
#define _GNU_SOURCE	/* open_memstream, nftw */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt.h"

#include "../../tools/kllm-top/stats.c"
#include "../../tools/kllm-top/proc.c"
#include "../../tools/kllm-top/delta.c"
#include "../../tools/kllm-top/render.c"

/* The example of the driver's stats file, plus keys a newer one may add. */
static const char stats_text[] =
	"jobs_submitted 120\n"
	"jobs_completed 110\n"
	"jobs_failed 2\n"
	"jobs_timed_out 1\n"
	"jobs_cancelled 1\n"
	"jobs_killed 4\n"
	"jobs_in_flight 8\n"
	"batches 40\n"
	"batched_jobs 100\n"
	"busy_ns 123456789\n"
	"engine_threads 2\n"
	"programs 3\n"
	"pinned_bytes 104857600\n"
	"pinned_bytes_uid 1001 52428800\n"
	"pinned_bytes_uid 1000 52428800\n"
	"userptr_bytes 0\n"
	"shmem_bytes 4194304\n"
	"future_key 77\n"
	"future_pair 1 2\n"
	"class interactive queued 1 jobs 50 wait_ns 12345 run_ns 67890\n"
	"class normal queued 4 jobs 40 new_field 9 wait_ns 4000000 run_ns 8000000\n"
	"class background queued 3 jobs 20 wait_ns 12345 run_ns 67890\n"
	"class realtime queued 99 jobs 99\n"
	"fpu_max_ns 80000\n";

static const char fdinfo_fmt[] =
	"pos:\t0\n"
	"flags:\t02100002\n"
	"mnt_id:\t24\n"
	"ino:\t1234\n"
	"drm-driver:\t%s\n"
	"drm-client-id:\t%u\n"
	"drm-engine-kllm:\t%llu ns\n"
	"drm-engine-capacity-kllm:\t2\n"
	"drm-total-shmem:\t%s\n"
	"drm-resident-shmem:\t2048 KiB\n"
	"drm-total-pinned:\t51200 KiB\n"
	"kllm-priority:\t%s\n"
	"kllm-jobs:\t%u\n"
	"kllm-queued:\t%u\n";

struct fx {
	char root[64];
	char dbg[128];
	char proc[128];
};

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert(fputs(text, f) >= 0);
	ck_assert(fclose(f) == 0);
}

static void mkdirf(const char *fmt, const char *a, int pid, const char *sub)
{
	char path[512];

	snprintf(path, sizeof(path), fmt, a, pid, sub);
	ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
}

/* An empty debugfs and /proc: the tests fill in what they need. */
static void fx_make(struct fx *x)
{
	snprintf(x->root, sizeof(x->root), "/tmp/kllm-top-test.XXXXXX");
	ck_assert(mkdtemp(x->root) != NULL);
	snprintf(x->dbg, sizeof(x->dbg), "%s/debug", x->root);
	snprintf(x->proc, sizeof(x->proc), "%s/proc", x->root);
	ck_assert(mkdir(x->dbg, 0755) == 0);
	ck_assert(mkdir(x->proc, 0755) == 0);
}

static void fx_stats(struct fx *x, const char *text)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/tracing", x->dbg);
	ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/kllm", x->dbg);
	ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/kllm/stats", x->dbg);
	put(path, text);
}

static void fx_pid(struct fx *x, int pid, const char *comm)
{
	char path[512];

	mkdirf("%s/%d%s", x->proc, pid, "");
	mkdirf("%s/%d%s", x->proc, pid, "/fd");
	mkdirf("%s/%d%s", x->proc, pid, "/fdinfo");
	snprintf(path, sizeof(path), "%s/%d/comm", x->proc, pid);
	put(path, comm);
}

/* fd of pid links to target; its fdinfo is text (NULL: none). */
static void fx_fd(struct fx *x, int pid, int fd, const char *target,
		  const char *text)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%d/fd/%d", x->proc, pid, fd);
	ck_assert(symlink(target, path) == 0);
	if (!text)
		return;
	snprintf(path, sizeof(path), "%s/%d/fdinfo/%d", x->proc, pid, fd);
	put(path, text);
}

static void fx_client(struct fx *x, int pid, int fd, unsigned int id,
		      unsigned long long engine_ns, const char *prio,
		      unsigned int jobs)
{
	char text[1024];

	snprintf(text, sizeof(text), fdinfo_fmt, "kllm", id, engine_ns,
		 "4 MiB", prio, jobs, id % 3);
	fx_fd(x, pid, fd, "/dev/accel/accel0", text);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void fx_free(struct fx *x)
{
	ck_assert(nftw(x->root, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/*
 * Clients: pid 100 kllm-run holds client 5 on fds 3 and 4 (dup) plus
 * /dev/null and an i915 render node; pid 200 inherited client 5 and opened
 * client 7; pid 300's fdinfo vanished; pid 50 hides its fds (another user).
 */
static void fx_clients(struct fx *x)
{
	char text[1024];
	char path[512];

	fx_pid(x, 100, "kllm-run\n");
	fx_client(x, 100, 3, 5, 1500000000ull, "interactive", 50);
	fx_client(x, 100, 4, 5, 1500000000ull, "interactive", 50);
	fx_fd(x, 100, 5, "/dev/null", "pos:\t0\n");
	snprintf(text, sizeof(text), fdinfo_fmt, "i915", 99u, 1ull, "1 KiB",
		 "normal", 0u, 0u);
	fx_fd(x, 100, 6, "/dev/dri/renderD128", text);
	fx_pid(x, 200, "chat\033[2J\n");
	fx_client(x, 200, 3, 5, 1500000000ull, "interactive", 50);
	fx_client(x, 200, 7, 7, 250000000ull, "background", 9);
	fx_pid(x, 300, "gone\n");
	fx_fd(x, 300, 3, "/dev/accel/accel0", NULL);
	snprintf(path, sizeof(path), "%s/50", x->proc);
	ck_assert(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/self", x->proc);
	ck_assert(symlink("100", path) == 0);
}

START_TEST(test_stats_parse)
{
	struct top_stats st;

	top_stats_init(&st);
	ck_assert_int_eq(top_stats_parse(stats_text, &st), 0);
	ck_assert_uint_eq(st.v[TOP_JOBS_SUBMITTED], 120);
	ck_assert_uint_eq(st.v[TOP_JOBS_COMPLETED], 110);
	ck_assert_uint_eq(st.v[TOP_JOBS_TIMED_OUT], 1);
	ck_assert_uint_eq(st.v[TOP_JOBS_KILLED], 4);
	ck_assert_uint_eq(st.v[TOP_BUSY_NS], 123456789);
	ck_assert_uint_eq(st.v[TOP_PINNED_BYTES], 104857600);
	ck_assert_uint_eq(st.v[TOP_USERPTR_BYTES], 0);
	ck_assert_uint_eq(st.v[TOP_FPU_MAX_NS], 80000);
	/* Sorted by uid, whatever the file's order. */
	ck_assert_uint_eq(st.n_uids, 2);
	ck_assert_uint_eq(st.uids[0].uid, 1000);
	ck_assert_uint_eq(st.uids[1].uid, 1001);
	ck_assert_uint_eq(st.uids[1].bytes, 52428800);
	ck_assert_uint_eq(st.cls[TOP_INTERACTIVE].jobs, 50);
	ck_assert_uint_eq(st.cls[TOP_NORMAL].queued, 4);
	ck_assert_uint_eq(st.cls[TOP_NORMAL].wait_ns, 4000000);
	ck_assert_uint_eq(st.cls[TOP_NORMAL].run_ns, 8000000);
	ck_assert_uint_eq(st.cls[TOP_BACKGROUND].queued, 3);
	top_stats_free(&st);
}
END_TEST

/* Missing keys stay unknown; malformed values are not taken. */
START_TEST(test_stats_missing)
{
	struct top_stats st;

	top_stats_init(&st);
	ck_assert_int_eq(top_stats_parse("jobs_submitted 7\r\n"
					 "jobs_failed -1\n"
					 "jobs_completed 12x\n"
					 "batches\n"
					 "\n   \n"
					 "pinned_bytes_uid 5000000000 1\n"
					 "pinned_bytes_uid 3 4\n"
					 "pinned_bytes_uid 3 5\n"
					 "class normal queued\n"
					 "class\n", &st), 0);
	ck_assert_uint_eq(st.v[TOP_JOBS_SUBMITTED], 7);
	for (int i = 0; i < TOP_NKEYS; i++)
		if (i != TOP_JOBS_SUBMITTED)
			ck_assert_msg(st.v[i] == TOP_NA, "%s set", top_key_names[i]);
	ck_assert_uint_eq(st.n_uids, 1);
	ck_assert_uint_eq(st.uids[0].uid, 3);
	ck_assert_uint_eq(st.uids[0].bytes, 5);
	for (int i = 0; i < TOP_NCLASS; i++) {
		ck_assert(st.cls[i].queued == TOP_NA);
		ck_assert(st.cls[i].jobs == TOP_NA);
	}
	top_stats_free(&st);
}
END_TEST

/* Each way of not finding the stats file says what to do about it. */
START_TEST(test_stats_errors)
{
	struct top_stats st;
	struct fx x;
	char err[1024], path[512];
	struct top_snap s;

	fx_make(&x);
	ck_assert_int_eq(top_stats_read(x.dbg, &st, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "not mounted") &&
		      strstr(err, "mount -t debugfs none"), "%s", err);
	snprintf(path, sizeof(path), "%s/tracing", x.dbg);
	ck_assert(mkdir(path, 0755) == 0);
	ck_assert_int_eq(top_stats_read(x.dbg, &st, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "kllm module not loaded"), "%s", err);
	snprintf(path, sizeof(path), "%s/kllm", x.dbg);
	ck_assert(mkdir(path, 0755) == 0);
	ck_assert_int_eq(top_stats_read(x.dbg, &st, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "no statistics file"), "%s", err);
	/* Root reads a 0000 file anyway: judge the message itself. */
	explain(x.dbg, "/x/kllm/stats", -EACCES, err, sizeof(err));
	ck_assert_msg(strstr(err, "as root") && strstr(err, "mount -t debugfs"),
		      "%s", err);
	snprintf(path, sizeof(path), "%s/nodir", x.root);
	explain(path, "/x/kllm/stats", -ENOENT, err, sizeof(err));
	ck_assert_msg(strstr(err, "not mounted"), "%s", err);
	/* Stats readable but no /proc. */
	fx_stats(&x, stats_text);
	ck_assert_int_eq(top_snap_take(x.dbg, path, &s, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "cannot scan"), "%s", err);
	fx_free(&x);
}
END_TEST

START_TEST(test_fdinfo_parse)
{
	struct top_client c;
	char text[1024];

	snprintf(text, sizeof(text), fdinfo_fmt, "kllm", 42u, 987654321ull,
		 "3 MiB", "background", 17u, 2u);
	ck_assert_int_eq(top_fdinfo_parse(text, &c), 1);
	ck_assert_uint_eq(c.id, 42);
	ck_assert_uint_eq(c.engine_ns, 987654321);
	ck_assert_uint_eq(c.shmem, 3u << 20);
	ck_assert_uint_eq(c.resident, 2048u << 10);
	ck_assert_uint_eq(c.pinned, 51200u << 10);
	ck_assert_int_eq(c.prio, TOP_BACKGROUND);
	ck_assert_uint_eq(c.jobs, 17);
	ck_assert_uint_eq(c.queued, 2);
	/* Bytes without a unit; an unknown priority; a bad unit. */
	snprintf(text, sizeof(text), fdinfo_fmt, "kllm", 1u, 5ull, "4096",
		 "urgent", 0u, 0u);
	ck_assert_int_eq(top_fdinfo_parse(text, &c), 1);
	ck_assert_uint_eq(c.shmem, 4096);
	ck_assert_int_eq(c.prio, -1);
	snprintf(text, sizeof(text), fdinfo_fmt, "kllm", 1u, 5ull, "4 parsecs",
		 "normal", 0u, 0u);
	ck_assert_int_eq(top_fdinfo_parse(text, &c), 1);
	ck_assert(c.shmem == TOP_NA);
	ck_assert_int_eq(c.prio, TOP_NORMAL);
	/* Another driver; kllm without a client id; nothing kllm-specific. */
	snprintf(text, sizeof(text), fdinfo_fmt, "i915", 1u, 5ull, "1 KiB",
		 "normal", 0u, 0u);
	ck_assert_int_eq(top_fdinfo_parse(text, &c), 0);
	ck_assert_int_eq(top_fdinfo_parse("drm-driver:\tkllm\n", &c), 0);
	ck_assert_int_eq(top_fdinfo_parse("drm-driver:\tkllm  \n"
					   "drm-client-id:\t3\n", &c), 1);
	ck_assert(c.engine_ns == TOP_NA && c.jobs == TOP_NA && c.prio == -1);
}
END_TEST

START_TEST(test_scan)
{
	struct top_client *cl;
	struct fx x;
	size_t n;

	fx_make(&x);
	fx_clients(&x);
	ck_assert_int_eq(top_clients_scan(x.proc, &cl, &n), 0);
	ck_assert_uint_eq(n, 2);
	/* Client 5 once, under its lowest pid; client 7 under pid 200. */
	ck_assert_uint_eq(cl[0].id, 5);
	ck_assert_int_eq(cl[0].pid, 100);
	ck_assert_str_eq(cl[0].comm, "kllm-run");
	ck_assert_int_eq(cl[0].prio, TOP_INTERACTIVE);
	ck_assert_uint_eq(cl[0].engine_ns, 1500000000ull);
	ck_assert_uint_eq(cl[1].id, 7);
	ck_assert_int_eq(cl[1].pid, 200);
	ck_assert_uint_eq(cl[1].jobs, 9);
	ck_assert_uint_eq(cl[1].queued, 1);
	free(cl);
	fx_free(&x);
}
END_TEST

static void snap_at(struct top_snap *s, uint64_t t_ns, const char *stats)
{
	memset(s, 0, sizeof(*s));
	s->t_ns = t_ns;
	top_stats_init(&s->st);
	ck_assert_int_eq(top_stats_parse(stats, &s->st), 0);
}

static void add_cl(struct top_snap *s, uint64_t id, uint64_t engine_ns,
		   uint64_t jobs)
{
	s->cl = realloc(s->cl, (s->n_cl + 1) * sizeof(*s->cl));
	ck_assert(s->cl != NULL);
	s->cl[s->n_cl++] = (struct top_client){ .pid = (int)id, .id = id,
		.engine_ns = engine_ns, .jobs = jobs, .prio = -1 };
}

#define NEAR(a, b) ck_assert_msg(fabs((a) - (b)) < 1e-9, "%.12g != %.12g", \
				 (double)(a), (double)(b))

START_TEST(test_delta)
{
	struct top_snap a, b;
	struct top_view v;

	snap_at(&a, 1000000000ull, "jobs_completed 110\njobs_submitted 120\n"
		"busy_ns 1000000000\nbatches 40\nbatched_jobs 100\n"
		"class normal jobs 40 wait_ns 40000000 run_ns 80000000\n");
	snap_at(&b, 3000000000ull, "jobs_completed 130\njobs_submitted 150\n"
		"busy_ns 1500000000\nbatches 50\nbatched_jobs 130\n"
		"class normal jobs 50 wait_ns 60000000 run_ns 80000000\n");
	add_cl(&a, 5, 1000000000ull, 10);
	add_cl(&a, 6, 0, 0);
	add_cl(&b, 6, 0, 0);
	add_cl(&b, 5, 1500000000ull, 30);
	add_cl(&b, 9, 200000000ull, 4);	/* opened during the interval */

	/* First screen: no rates, means since load. */
	ck_assert_int_eq(top_view_make(NULL, &a, &v), 0);
	ck_assert(isnan(v.interval_s) && isnan(v.jobs_per_s) && isnan(v.busy_pct));
	NEAR(v.mean_batch, 2.5);
	NEAR(v.cls[TOP_NORMAL].wait_ms, 1.0);
	NEAR(v.cls[TOP_NORMAL].run_ms, 2.0);
	ck_assert(isnan(v.cls[TOP_INTERACTIVE].wait_ms));
	ck_assert(isnan(v.cl[0].engine_pct));
	ck_assert_uint_eq(v.cl[0].c->id, 5);	/* more engine time */
	top_view_free(&v);

	ck_assert_int_eq(top_view_make(&a, &b, &v), 0);
	NEAR(v.interval_s, 2.0);
	NEAR(v.jobs_per_s, 10.0);
	NEAR(v.submitted_per_s, 15.0);
	NEAR(v.busy_pct, 25.0);
	NEAR(v.mean_batch, 3.0);
	NEAR(v.cls[TOP_NORMAL].wait_ms, 2.0);
	NEAR(v.cls[TOP_NORMAL].run_ms, 0.0);
	ck_assert_uint_eq(v.n_cl, 3);
	ck_assert_uint_eq(v.cl[0].c->id, 5);
	NEAR(v.cl[0].engine_pct, 25.0);
	NEAR(v.cl[0].jobs_per_s, 10.0);
	ck_assert_uint_eq(v.cl[1].c->id, 9);
	NEAR(v.cl[1].engine_pct, 10.0);
	NEAR(v.cl[1].jobs_per_s, 2.0);
	ck_assert_uint_eq(v.cl[2].c->id, 6);
	NEAR(v.cl[2].engine_pct, 0.0);
	top_view_free(&v);

	/* A numerator that went down, whatever the denominator did. */
	ck_assert(isnan(ratio(1, 2, 5, 1, 1.0)));
	NEAR(ratio(4, 2, 5, 1, 1.0), 0.5);
	/* Module reloaded (counters went down), and a zero interval. */
	ck_assert_int_eq(top_view_make(&b, &a, &v), 0);
	ck_assert(isnan(v.jobs_per_s) && isnan(v.busy_pct) && isnan(v.mean_batch));
	ck_assert(isnan(v.cls[TOP_NORMAL].wait_ms));
	top_view_free(&v);
	b.t_ns = a.t_ns;
	ck_assert_int_eq(top_view_make(&a, &b, &v), 0);
	ck_assert(isnan(v.jobs_per_s) && isnan(v.cl[0].engine_pct));
	NEAR(v.mean_batch, 3.0);
	top_view_free(&v);
	top_snap_free(&a);
	top_snap_free(&b);
}
END_TEST

static char *render(const struct top_view *v, bool json, bool ansi, int rows)
{
	struct top_render_opts o = { .ansi = ansi, .max_rows = rows };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert(f != NULL);
	if (json)
		top_render_json(f, v);
	else
		top_render_text(f, v, &o);
	ck_assert(fclose(f) == 0);
	return buf;
}

#define HAS(buf, s) ck_assert_msg(strstr(buf, s) != NULL, "no \"%s\" in:\n%s", s, buf)

/* --once: the fixture tree end to end, as plain text. */
START_TEST(test_render_once)
{
	struct top_snap s;
	struct top_view v;
	struct fx x;
	char err[1024], *out;

	fx_make(&x);
	fx_stats(&x, stats_text);
	fx_clients(&x);
	ck_assert_int_eq(top_snap_take(x.dbg, x.proc, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(top_view_make(NULL, &s, &v), 0);
	out = render(&v, false, false, 0);
	ck_assert_msg(!strchr(out, '\033'), "escape in:\n%s", out);
	HAS(out, "kllm-top: 2 clients, 8 jobs in flight, 3 programs, 2 engine threads\n");
	HAS(out, "Jobs:   120 submitted, 110 completed, 2 failed, 1 timed out, 1 cancelled, 4 killed\n");
	HAS(out, "Rate:   - jobs/s completed, - jobs/s submitted\n");
	HAS(out, "Engine: -% busy, 40 batches, 2.50 jobs/batch, fpu max 80.0 us\n");
	HAS(out, "Memory: 100.0 MiB pinned, 0 B userptr, 4.0 MiB shmem\n");
	HAS(out, "Pinned: uid 1000 50.0 MiB, uid 1001 50.0 MiB\n");
	HAS(out, "\ninteractive          1         50     0.000     0.001\n");
	HAS(out, "\nnormal               4         40     0.100     0.200\n");
	HAS(out, "\nbackground           3         20     0.001     0.003\n");
	HAS(out, "\n    PID COMMAND         CLIENT PRIO             TIME  ENG%"
		 "      SHMEM        RES     PINNED    JOBS QUEUED\n");
	HAS(out, "\n    100 kllm-run             5 interactive   0:01.50     -"
		 "    4.0 MiB    2.0 MiB   50.0 MiB      50      2\n");
	/* The escape in pid 200's name never reaches the terminal. */
	HAS(out, "\n    200 chat?[2J             7 background    0:00.25     -");
	ck_assert(strstr(out, " 100 kllm-run") < strstr(out, " 200 chat"));
	free(out);

	/* Live view: screen control, and rows cut to the window. */
	out = render(&v, false, true, TOP_FIXED_ROWS + 2);
	ck_assert(!strncmp(out, "\033[H\033[J", 6));
	HAS(out, " 100 kllm-run");
	ck_assert(!strstr(out, " 200 chat"));
	free(out);
	top_view_free(&v);
	top_snap_free(&s);
	fx_free(&x);
}
END_TEST

START_TEST(test_render_missing)
{
	struct top_snap s;
	struct top_view v;
	char *out;

	snap_at(&s, 1, "jobs_submitted 3\n");
	ck_assert_int_eq(top_view_make(NULL, &s, &v), 0);
	out = render(&v, false, false, 0);
	HAS(out, "kllm-top: 0 clients, - jobs in flight, - programs, - engine threads\n");
	HAS(out, "Jobs:   3 submitted, - completed, - failed,");
	HAS(out, "Memory: - pinned, - userptr, - shmem\nPinned: -\n");
	HAS(out, "\nnormal               -          -         -         -\n");
	free(out);
	out = render(&v, true, false, 0);
	HAS(out, "\"jobs_submitted\":3,\"jobs_completed\":null,");
	HAS(out, "\"pinned_bytes_uid\":[],");
	HAS(out, "\"clients\":[]}\n");
	free(out);
	top_view_free(&v);
	top_snap_free(&s);
}
END_TEST

START_TEST(test_render_json)
{
	struct top_snap a, b;
	struct top_view v;
	char *out;
	int depth = 0;

	snap_at(&a, 1000000000ull, stats_text);
	snap_at(&b, 2000000000ull, "jobs_completed 120\nbusy_ns 623456789\n"
		"pinned_bytes_uid 0 4096\n");
	add_cl(&a, 5, 0, 0);
	add_cl(&b, 5, 300000000ull, 4);
	snprintf(b.cl[0].comm, sizeof(b.cl[0].comm), "a\"b\\c\033\xc3\xa9\xe2\x82");
	b.cl[0].prio = TOP_NORMAL;
	ck_assert_int_eq(top_view_make(&a, &b, &v), 0);
	out = render(&v, true, false, 0);
	ck_assert(out[strlen(out) - 1] == '\n');
	ck_assert(!strchr(out, '\n') || strchr(out, '\n') == out + strlen(out) - 1);
	HAS(out, "\"interval_s\":1,");
	HAS(out, "\"jobs_per_s\":10,\"submitted_per_s\":null,\"busy_pct\":50,");
	HAS(out, "\"pinned_bytes_uid\":[{\"uid\":0,\"bytes\":4096}]");
	HAS(out, "{\"name\":\"normal\",\"queued\":null,");
	HAS(out, "{\"pid\":5,\"comm\":\"a\\\"b\\\\c\\u001b\xc3\xa9\\ufffd\\ufffd\","
		 "\"client_id\":5,\"priority\":\"normal\",\"engine_ns\":300000000,"
		 "\"engine_pct\":30,\"jobs_per_s\":4,");
	for (const char *p = out; *p; p++) {
		depth += *p == '{' || *p == '[';
		depth -= *p == '}' || *p == ']';
		ck_assert(depth >= 0);
	}
	ck_assert_int_eq(depth, 0);
	free(out);
	top_view_free(&v);
	top_snap_free(&a);
	top_snap_free(&b);
}
END_TEST

static void json_is(const char *in, const char *want)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert(f != NULL);
	json_str(f, in);
	ck_assert(fclose(f) == 0);
	ck_assert_str_eq(out, want);
	free(out);
}

/* JSON strings stay valid UTF-8 whatever bytes a process name holds. */
START_TEST(test_json_str)
{
	json_is("plain", "\"plain\"");
	json_is("\xe2\x82\xac\xf0\x9f\x98\x80", "\"\xe2\x82\xac\xf0\x9f\x98\x80\"");
	json_is("\x7f\x01\t", "\"\\u007f\\u0001\\u0009\"");
	/* Surrogate, overlong, past U+10FFFF, lone continuation, 0xff. */
	json_is("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	json_is("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	json_is("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	json_is("\xc1\xbf", "\"\\ufffd\\ufffd\"");
	json_is("\x80\xff", "\"\\ufffd\\ufffd\"");
}
END_TEST

START_TEST(test_formats)
{
	char b[32];
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	top_fmt_bytes(b, sizeof(b), 0);
	ck_assert_str_eq(b, "0 B");
	top_fmt_bytes(b, sizeof(b), 1023);
	ck_assert_str_eq(b, "1023 B");
	top_fmt_bytes(b, sizeof(b), 1536);
	ck_assert_str_eq(b, "1.5 KiB");
	top_fmt_bytes(b, sizeof(b), 3ull << 30);
	ck_assert_str_eq(b, "3.0 GiB");
	top_fmt_bytes(b, sizeof(b), 5ull << 50);
	ck_assert_str_eq(b, "5120.0 TiB");
	top_fmt_bytes(b, sizeof(b), TOP_NA);
	ck_assert_str_eq(b, "-");
	f = open_memstream(&out, &len);
	ck_assert(f != NULL);
	put_time(f, 0, 0);
	fputc('|', f);
	put_time(f, 0, 61999999999ull);
	fputc('|', f);
	put_time(f, 0, 3600ull * 1000000000ull);
	ck_assert(fclose(f) == 0);
	ck_assert_str_eq(out, "0:00.00|1:01.99|60:00.00");
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("top");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_stats_parse);
	tcase_add_test(tc, test_stats_missing);
	tcase_add_test(tc, test_stats_errors);
	tcase_add_test(tc, test_fdinfo_parse);
	tcase_add_test(tc, test_scan);
	tcase_add_test(tc, test_delta);
	tcase_add_test(tc, test_render_once);
	tcase_add_test(tc, test_render_missing);
	tcase_add_test(tc, test_render_json);
	tcase_add_test(tc, test_json_str);
	tcase_add_test(tc, test_formats);
	suite_add_tcase(s, tc);
	return kt_run(s);
}
