// SPDX-License-Identifier: MIT
/*
 * guest_sched.c - many apps on one engine (kmod/kllm_sched.c): four
 * processes decoding the same model are fused into passes of mean size >=
 * 3.5 with results bitwise the in-process engine's; two contexts of one
 * class get 50 +- 10 % of engine time each; an interactive job waits
 * behind at most one chunk of lower-class work; a background context
 * under continuous interactive load still completes its jobs within a
 * bounded number of passes; a job over its time fails with -ETIMEDOUT and
 * names the KV positions it may have written, and its context goes on;
 * DRM fdinfo; CTX_SET's bad input.  Asserted from the driver's counters,
 * never from wall-clock time.
 */
#include "job_util.h"

#include <inttypes.h>
#include <signal.h>

#define KLLM "kllm"
#define STEPS 12
#define SHARED_W "/tmp/sched-weights"
#define PARAM "/sys/module/kllm/parameters/"
#define DEBUGFS "/sys/kernel/debug/kllm/"

struct sched_stats {
	uint64_t batches, batched_jobs, chunks, aged, lower_waited;
	uint64_t jobs[3], max_wait_rounds[3];
};

static void read_stats(struct sched_stats *st)
{
	static const char *const names[3] = { "interactive", "normal", "background" };
	char line[256], name[32];
	FILE *f = fopen(DEBUGFS "stats", "r");
	unsigned long long a, b, c, d, e;
	unsigned int q;

	memset(st, 0, sizeof(*st));
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "batches %" SCNu64, &st->batches);
		sscanf(line, "batched_jobs %" SCNu64, &st->batched_jobs);
		sscanf(line, "chunks %" SCNu64, &st->chunks);
		sscanf(line, "aged %" SCNu64, &st->aged);
		sscanf(line, "interactive_max_lower_waited %" SCNu64, &st->lower_waited);
		if (sscanf(line, "class %31s queued %u jobs %llu wait_ns %llu run_ns %llu max_wait_rounds %llu",
			   name, &q, &a, &b, &c, &d) == 6) {
			for (int k = 0; k < 3; k++)
				if (!strcmp(name, names[k])) {
					st->jobs[k] = a;
					st->max_wait_rounds[k] = d;
				}
		}
		(void)e;
	}
	fclose(f);
}

/* Jobs queued in the normal class now. */
static unsigned int queued_normal(void)
{
	char line[256];
	unsigned int q = 0;
	FILE *f = fopen(DEBUGFS "stats", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "class normal queued %u", &q) == 1)
			break;
	if (f)
		fclose(f);
	return q;
}

static void setup(void)
{
	kj_write_file(DEBUGFS "stats_reset", "1\n");
	kj_write_file(PARAM "chunk_tokens", "32\n");
	kj_write_file(PARAM "aging_rounds", "16\n");
	kj_write_file(PARAM "fuse", "Y\n");
}

static void teardown(void)
{
	unlink(SHARED_W);
}

static int set_prio(int fd, uint32_t prio)
{
	struct drm_kllm_ctx_set a = { .param = KLLM_CTX_PRIORITY, .value = prio };

	return kd_ioctl(fd, DRM_IOCTL_KLLM_CTX_SET, &a);
}

/* Engine time of this process's file @fd, from its fdinfo. */
static uint64_t fdinfo_engine_ns(int fd)
{
	char path[64], line[256];
	uint64_t ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		sscanf(line, "drm-engine-kllm: %" SCNu64, &ns);
	fclose(f);
	return ns;
}

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ------------------------------------------------------------ batching */

/*
 * A child: upload the shared model, wait for the go, submit STEPS decode
 * jobs (teacher-forced tokens of its own) in one io_uring_enter, then
 * check every step's outputs and its cache against the in-process engine.
 */
static int batching_child(int id, int go_fd)
{
	static struct kj j;
	static struct kj_ref r;
	static struct kj_batch b[STEPS];
	struct drm_kllm_job jobs[STEPS];
	struct io_uring ring;
	uint32_t big;
	uint8_t *outs;
	int res[STEPS];
	char c;

	kj_setup_from(&j, 31, SHARED_W, 0);
	kj_ref_init(&r, &j);
	ck_assert_int_eq(kd_bo_create(j.fd, STEPS * 8192ull, &big), 0);
	outs = kj_map(j.fd, big, STEPS * 8192ull);
	ck_assert_int_eq(io_uring_queue_init(32, &ring, IORING_SETUP_SQE128), 0);
	for (int s = 0; s < STEPS; s++) {
		kj_batch_seq(&b[s], 0, (uint32_t)s, 1, 7 * (uint32_t)id + 3 * (uint32_t)s + 1);
		jobs[s] = kj_job(&j, &b[s]);
		for (int o = 0; o < 3; o++)
			b[s].binds[o] = (struct drm_kllm_bind){
				.handle = big, .offset = s * 8192ull + j.out_off[o] };
	}
	if (read(go_fd, &c, 1) != 1)
		return 20;
	kj_run_uring(&ring, j.fd, jobs, STEPS, res);
	for (int s = 0; s < STEPS; s++) {
		if (res[s])
			return 21;
		kj_ref_run(&r, &j, &b[s]);
		if (memcmp(outs + s * 8192ull, r.out, 4ull * TM_V) ||
		    memcmp(outs + s * 8192ull + j.out_off[1], r.out + j.out_off[1], 4) ||
		    memcmp(outs + s * 8192ull + j.out_off[2], r.out + j.out_off[2], 4ull * TM_V))
			return 22;
	}
	if (memcmp(j.kv[0], r.kv[0], j.m.kv_bytes))
		return 23;
	return 0;
}

START_TEST(test_four_processes_fused)
{
	struct sched_stats st;
	struct toy_model m;
	int go[2], fd;
	pid_t pid[4];
	double mean;

	/* one weights file for all four: one pin, one program */
	tm_build(&m, 31);
	fd = open(SHARED_W, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, m.weights, m.wsize), (ssize_t)m.wsize);
	close(fd);
	tm_free(&m);
	ck_assert_int_eq(pipe(go), 0);
	for (int i = 0; i < 4; i++) {
		pid[i] = fork();
		ck_assert_int_ge(pid[i], 0);
		if (pid[i] == 0) {
			close(go[1]);
			_exit(batching_child(i, go[0]));
		}
	}
	close(go[0]);
	usleep(300000);		/* all four uploaded (they wait on the pipe) */
	kj_write_file(DEBUGFS "stats_reset", "1\n");
	/* hold passes back until every job is queued: "ready at the same moment" */
	kj_write_file(DEBUGFS "pause", "1\n");
	ck_assert_int_eq(write(go[1], "gggg", 4), 4);
	for (int waited = 0; queued_normal() < 4 * STEPS; waited++) {
		ck_assert_msg(waited < 1000, "only %u jobs queued", queued_normal());
		usleep(10000);
	}
	kj_write_file(DEBUGFS "pause", "0\n");
	for (int i = 0; i < 4; i++)
		ck_assert_msg(wait_child(pid[i]) == 0, "child %d failed", i);
	close(go[1]);
	read_stats(&st);
	mean = st.batches ? (double)st.batched_jobs / (double)st.batches : 0;
	printf("vm: guest_sched: 4 processes x %d steps: %llu passes, mean batch %.2f\n",
	       STEPS, (unsigned long long)st.batches, mean);
	ck_assert_uint_eq(st.batched_jobs, 4 * STEPS);
	ck_assert_msg(mean >= 3.5, "mean batch size %.2f < 3.5", mean);
}
END_TEST

/* ------------------------------------------------------------ load */

/*
 * A child keeping @depth jobs of @ntok tokens in flight on its own model
 * (class @prio, 0: leave it) until @stop_fd is readable or it ran @max
 * jobs; writes its engine ns and job count to @out_fd.
 */
static int load_child(uint64_t seed, uint32_t prio, uint32_t depth, uint32_t ntok,
		      uint32_t max, int go_fd, int stop_fd, int out_fd)
{
	static struct kj j;
	static struct kj_batch b;
	struct drm_kllm_job job;
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	uint64_t report[2] = { 0, 0 };
	uint32_t inflight = 0, done = 0;
	char c;

	kj_setup(&j, seed);
	if (prio && set_prio(j.fd, prio))
		return 30;
	kj_batch_seq(&b, 0, 0, ntok, 5);
	job = kj_job(&j, &b);
	if (io_uring_queue_init(16, &ring, IORING_SETUP_SQE128))
		return 31;
	fcntl(stop_fd, F_SETFL, O_NONBLOCK);
	if (read(go_fd, &c, 1) != 1)
		return 32;
	for (;;) {
		while (inflight < depth) {
			kj_prep_uring(io_uring_get_sqe(&ring), j.fd, &job, 0);
			inflight++;
		}
		if (io_uring_submit_and_wait(&ring, 1) < 0 || io_uring_wait_cqe(&ring, &cqe))
			return 33;
		if (cqe->res)
			return 34;
		io_uring_cqe_seen(&ring, cqe);
		inflight--;
		done++;
		if (read(stop_fd, &c, 1) == 1 || (max && done >= max))
			break;
	}
	while (inflight--) {
		if (io_uring_wait_cqe(&ring, &cqe))
			return 35;
		io_uring_cqe_seen(&ring, cqe);
	}
	report[0] = fdinfo_engine_ns(j.fd);
	report[1] = done;
	if (write(out_fd, report, sizeof(report)) != sizeof(report))
		return 36;
	return 0;
}

struct loader {
	pid_t pid;
	int out[2], stop[2];
	uint64_t report[2];
};

static void loader_start(struct loader *l, int go_rd, uint64_t seed, uint32_t prio,
			 uint32_t depth, uint32_t ntok, uint32_t max)
{
	ck_assert_int_eq(pipe(l->out), 0);
	ck_assert_int_eq(pipe(l->stop), 0);
	l->pid = fork();
	ck_assert_int_ge(l->pid, 0);
	if (l->pid == 0)
		_exit(load_child(seed, prio, depth, ntok, max, go_rd, l->stop[0], l->out[1]));
}

static void loader_stop(struct loader *l)
{
	ck_assert_int_eq(write(l->stop[1], "s", 1), 1);
	ck_assert_int_eq(read(l->out[0], l->report, sizeof(l->report)),
			 (ssize_t)sizeof(l->report));
	ck_assert_int_eq(wait_child(l->pid), 0);
	close(l->out[0]);
	close(l->out[1]);
	close(l->stop[0]);
	close(l->stop[1]);
}

/* Two normal contexts with equal demand (different models: no fusion). */
START_TEST(test_fair_share)
{
	struct loader a, b;
	int go[2];
	double share;

	ck_assert_int_eq(pipe(go), 0);
	loader_start(&a, go[0], 41, 0, 4, TM_MB, 0);
	loader_start(&b, go[0], 42, 0, 4, TM_MB, 0);
	usleep(300000);
	ck_assert_int_eq(write(go[1], "gg", 2), 2);
	sleep(3);
	loader_stop(&a);
	loader_stop(&b);
	close(go[0]);
	close(go[1]);
	share = (double)a.report[0] / (double)(a.report[0] + b.report[0]);
	printf("vm: guest_sched: fair share %.3f / %.3f (jobs %llu / %llu)\n", share, 1 - share,
	       (unsigned long long)a.report[1], (unsigned long long)b.report[1]);
	ck_assert_msg(share >= 0.4 && share <= 0.6, "engine share %.3f", share);
}
END_TEST

/* Interactive decode steps between background prefills of 4 chunks each. */
START_TEST(test_interactive_waits_one_chunk)
{
	struct sched_stats st;
	struct loader bg;
	struct kj j;
	struct kj_batch b;
	int go[2];

	kj_write_file(PARAM "chunk_tokens", "2\n");
	ck_assert_int_eq(pipe(go), 0);
	loader_start(&bg, go[0], 51, KLLM_PRIO_BACKGROUND, 4, TM_MB, 0);
	kj_setup(&j, 52);
	ck_assert_int_eq(set_prio(j.fd, KLLM_PRIO_INTERACTIVE), 0);
	usleep(300000);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	usleep(200000);
	kj_write_file(DEBUGFS "stats_reset", "1\n");
	for (uint32_t p = 0; p < 12; p++) {
		kj_batch_seq(&b, 0, p, 1, p + 2);
		ck_assert_int_eq(kj_run_ioctl(&j, &b), 0);
		usleep(3000);
	}
	read_stats(&st);
	loader_stop(&bg);
	kj_teardown(&j);
	close(go[0]);
	close(go[1]);
	printf("vm: guest_sched: interactive waited behind at most %llu lower-class passes; %llu chunks run\n",
	       (unsigned long long)st.lower_waited, (unsigned long long)st.chunks);
	ck_assert_uint_eq(st.jobs[0], 12);
	ck_assert_uint_gt(st.chunks, 0);
	ck_assert_uint_le(st.lower_waited, 1);
}
END_TEST

/* A background context under continuous interactive load still gets on. */
START_TEST(test_background_ages)
{
	struct sched_stats st;
	struct loader fg;
	struct kj j;
	struct kj_batch b;
	int go[2];

	kj_write_file(PARAM "aging_rounds", "8\n");
	ck_assert_int_eq(pipe(go), 0);
	loader_start(&fg, go[0], 61, KLLM_PRIO_INTERACTIVE, 6, TM_MB, 0);
	kj_setup(&j, 62);
	ck_assert_int_eq(set_prio(j.fd, KLLM_PRIO_BACKGROUND), 0);
	usleep(300000);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	usleep(200000);
	kj_write_file(DEBUGFS "stats_reset", "1\n");
	for (uint32_t i = 0; i < 10; i++) {
		kj_batch_seq(&b, 0, 0, TM_MB, i);
		ck_assert_int_eq(kj_run_ioctl(&j, &b), 0);
	}
	read_stats(&st);
	loader_stop(&fg);
	kj_teardown(&j);
	close(go[0]);
	close(go[1]);
	printf("vm: guest_sched: background under interactive load: 10 jobs, at most %llu passes waited, %llu aged passes, %llu interactive jobs\n",
	       (unsigned long long)st.max_wait_rounds[2], (unsigned long long)st.aged,
	       (unsigned long long)st.jobs[0]);
	ck_assert_uint_eq(st.jobs[2], 10);
	ck_assert_uint_gt(st.jobs[0], 10);
	ck_assert_uint_le(st.max_wait_rounds[2], 8 + 2);
}
END_TEST

/* ------------------------------------------------------------ timeouts */

START_TEST(test_timeout_reports_positions)
{
	struct kj j;
	struct kj_batch b;
	struct drm_kllm_job job;
	struct drm_kllm_job_wait w;
	uint64_t id;

	kj_write_file(PARAM "chunk_tokens", "1\n");
	kj_setup(&j, 71);
	kj_batch_seq(&b, 1, 4, TM_MB, 3);
	job = kj_job(&j, &b);
	job.timeout_ms = 1;
	ck_assert_int_eq(kj_submit(j.fd, &job, &id), 0);
	w = (struct drm_kllm_job_wait){ .id = id, .timeout_ns = 10000000000ll };
	ck_assert_int_eq(kd_ioctl(j.fd, DRM_IOCTL_KLLM_JOB_WAIT, &w), 0);
	ck_assert_int_eq(w.status, -ETIMEDOUT);
	ck_assert_int_eq(w.kv_pos_first, 4);
	ck_assert_int_eq(w.kv_pos_last, 4 + TM_MB - 1);
	/* the context goes on */
	kj_batch_seq(&b, 1, 4, TM_MB, 3);
	ck_assert_int_eq(kj_run_ioctl(&j, &b), 0);
	kj_teardown(&j);
}
END_TEST

/* ------------------------------------------------------------ fdinfo, CTX_SET */

/*
 * kllm-top against the real driver: one snapshot lists the totals, the
 * classes and this process as a client (background, 3 jobs); its live
 * view, fed "q" on a pipe, exits 0.
 */
static void top_shows_us(int fd)
{
	char cmd[128], buf[8192], me[32];
	FILE *p;
	size_t n;
	int status;

	(void)fd;
	p = popen("kllm-top --once 2>&1", "r");
	ck_assert_ptr_nonnull(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = 0;
	status = pclose(p);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "kllm-top: %s", buf);
	snprintf(me, sizeof(me), "%d", getpid());
	ck_assert_msg(strstr(buf, "interactive") && strstr(buf, "background") &&
		      strstr(buf, me), "kllm-top --once:\n%s", buf);
	snprintf(cmd, sizeof(cmd), "echo q | kllm-top -d 0.2 -n 50 > /dev/null 2>&1");
	status = system(cmd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "kllm-top live: %d", status);
}

START_TEST(test_fdinfo)
{
	struct kj j;
	struct kj_batch b;
	char path[64], buf[2048];
	FILE *f;
	size_t n;

	kj_setup(&j, 81);
	ck_assert_int_eq(set_prio(j.fd, KLLM_PRIO_BACKGROUND), 0);
	for (uint32_t p = 0; p < 3; p++) {
		kj_batch_seq(&b, 0, p, 1, p);
		ck_assert_int_eq(kj_run_ioctl(&j, &b), 0);
	}
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", j.fd);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	ck_assert_msg(strstr(buf, "drm-driver:\tkllm\n"), "%s", buf);
	ck_assert_msg(strstr(buf, "drm-client-id:\t"), "%s", buf);
	ck_assert_msg(strstr(buf, "kllm-priority:\tbackground\n"), "%s", buf);
	ck_assert_msg(strstr(buf, "kllm-jobs:\t3\n"), "%s", buf);
	ck_assert_msg(strstr(buf, "drm-total-pinned:\t"), "%s", buf);
	ck_assert_uint_gt(fdinfo_engine_ns(j.fd), 0);
	top_shows_us(j.fd);
	kj_teardown(&j);
}
END_TEST

static int nobody_interactive(void *arg)
{
	int fd = kd_open();
	struct kj_batch b;
	struct drm_kllm_job job = { 0 };
	uint64_t id;

	(void)arg;
	if (fd < 0)
		return 1;
	if (set_prio(fd, KLLM_PRIO_INTERACTIVE) != -EPERM)
		return 2;
	if (set_prio(fd, KLLM_PRIO_BACKGROUND) != 0)
		return 3;
	/* per job too (checked before anything else of the job) */
	kj_batch_seq(&b, 0, 0, 1, 1);
	job.flags = KLLM_JOB_PRIO(KLLM_PRIO_INTERACTIVE);
	job.prog = 1;
	job.n_tokens = 1;
	if (kj_submit(fd, &job, &id) != -EPERM)
		return 4;
	job.flags = KLLM_JOB_PRIO(KLLM_PRIO_BACKGROUND);
	if (kj_submit(fd, &job, &id) != -ENOENT)	/* no program of its own */
		return 5;
	close(fd);
	return 0;
}

START_TEST(test_ctx_set_bad)
{
	struct kj j;
	struct drm_kllm_ctx_set a;
	struct kj_batch b;
	struct drm_kllm_job job;
	uint64_t id;
	char node[64];

	kj_setup(&j, 91);
#define CS(field, val, err) do { \
	a = (struct drm_kllm_ctx_set){ .param = KLLM_CTX_PRIORITY, .value = KLLM_PRIO_NORMAL }; \
	a.field = val; \
	ck_assert_int_eq(kd_ioctl(j.fd, DRM_IOCTL_KLLM_CTX_SET, &a), err); \
} while (0)
	CS(param, 0, -EINVAL);
	CS(param, 2, -EINVAL);
	CS(value, 0, -EINVAL);
	CS(value, 4, -EINVAL);
	CS(value, ~0ull, -EINVAL);
	CS(flags, 1, -EINVAL);
	CS(reserved[1], 1, -EINVAL);
	CS(param, KLLM_CTX_PRIORITY, 0);
#undef CS
	/* root has CAP_SYS_NICE; nobody does not */
	ck_assert_int_eq(set_prio(j.fd, KLLM_PRIO_INTERACTIVE), 0);
	kj_batch_seq(&b, 0, 0, 1, 1);
	job = kj_job(&j, &b);
	job.flags = KLLM_JOB_PRIO(KLLM_PRIO_BACKGROUND);
	ck_assert_int_eq(kj_submit(j.fd, &job, &id), 0);
	{
		int status;

		ck_assert_int_eq(kj_wait(j.fd, id, 10000000000ll, &status), 0);
		ck_assert_int_eq(status, 0);
	}
	ck_assert_int_eq(kd_find_node(node, sizeof(node)), 0);
	ck_assert_int_eq(chmod(node, 0666), 0);
	ck_assert_int_eq(vm_as_nobody(nobody_interactive, NULL), 0);
	ck_assert_int_eq(chmod(node, 0600), 0);
	kj_teardown(&j);
}
END_TEST

static Suite *sched_suite(void)
{
	Suite *s = suite_create("guest_sched");
	TCase *tc = tcase_create("sched");

	tcase_set_timeout(tc, 600);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_four_processes_fused);
	tcase_add_test(tc, test_fair_share);
	tcase_add_test(tc, test_interactive_waits_one_chunk);
	tcase_add_test(tc, test_background_ages);
	tcase_add_test(tc, test_timeout_reports_positions);
	tcase_add_test(tc, test_fdinfo);
	tcase_add_test(tc, test_ctx_set_bad);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char simd[16];
	int failed;

	if (kj_load_same_simd("guest_sched", simd))
		return 1;
	failed = kt_run(sched_suite());
	if (vm_unload(KLLM)) {
		printf("vm: guest_sched: rmmod kllm failed\n");
		failed = 1;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
