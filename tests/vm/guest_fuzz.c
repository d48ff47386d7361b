// SPDX-License-Identifier: MIT
/*
 * guest_fuzz.c - a structured random fuzzer of kllm.ko's whole UAPI (issue
 * 14): several processes under several uids (65534, 1000, 1001, root),
 * some of them several threads racing on the same handles, programs, jobs
 * and rings, run random sequences of every ioctl and the io_uring command.
 * Most calls are VALID (the toy program of tests/unit/kt_prog.h, its jobs
 * on the file's own buffers) with one to three fields mutated: counts,
 * offsets, handles, flags, reserved fields, pointers to unmapped or short
 * memory, output rows repeated or out of range, sequences and bindings,
 * tiny and read-only buffers, priorities, timeouts.  Files are closed and
 * processes SIGKILLed with jobs parked, rings torn down with commands in
 * flight, and a root child turns the debugfs and module-parameter knobs
 * (pause, stats_reset, delays, chunk_tokens, fuse, timeouts, memory caps)
 * meanwhile.
 *
 * Checked as it goes: every return code is 0 or an errno the UAPI
 * documents for that call; a valid call is not refused with EINVAL/ENOENT;
 * a failed create leaves its output untouched; no process dies of
 * anything but our SIGKILL.  After every child exited: no job in flight,
 * no program, no pinned or shmem byte left; rmmod works; the kernel log
 * has no BUG/WARNING/Oops/KASAN/lockdep report; kmemleak (debug kernel)
 * names nothing of kllm.  Then, on a kernel with GCOV_KERNEL and a module
 * built with KLLM_GCOV=1, the module's .gcda files are dumped on the
 * console for tests/vm/coverage.sh.
 *
 * Reproducible: the seed is printed; KLLM_FUZZ_SEED, KLLM_FUZZ_CALLS,
 * KLLM_FUZZ_SECS (also argv[1..3], or /data/fuzz.env packed by run.sh from
 * VM_FUZZ_*) set it.  Single-thread workers replay exactly (racing threads
 * and the knob child do not); KLLM_FUZZ_TRACE=1 prints every call,
 * KLLM_FUZZ_WORKERS=N runs only the first N workers, KLLM_FUZZ_SKIP a bit
 * mask of operations (enum order) to leave out, to narrow a finding down.
 * Default: 40000 calls or 45 s (30 s on a kernel with kmemleak, the
 * debug one), whichever ends first (the CI run).
 *
 * fuzz_state.h: per-file state, files, program images; fuzz_ops.h: the
 * operations and the worker loop; here: processes, checks, main.
 */
#include "job_util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>

#define KLLM "kllm"
#define FZ_DEBUGFS "/sys/kernel/debug/kllm/"
#define FZ_PARAM "/sys/module/kllm/parameters/"
#define FZ_WPATH "/tmp/fuzz-weights"

#define FZ_SLOTS 3
#define FZ_NH 24
#define FZ_NP 8
#define FZ_NJ 48
#define FZ_NIMG 12
#define FZ_MAXT 64
#define FZ_MAXB 96
#define FZ_UP_PAGES 16

enum { OP_INFO, OP_STATS, OP_BO_CREATE, OP_IMPORT, OP_USERPTR, OP_BO_INFO, OP_BO_READ,
       OP_CLOSE, OP_PROG_CREATE, OP_PROG_DESTROY, OP_SUBMIT, OP_WAIT, OP_URING,
       OP_REAP, OP_CTX, OP_SLOT, OP_MMAP, OP_KILL, OP_BADNR, OP_KV, OP_COUNT };
static const char *const op_name[OP_COUNT] = {
	"GET_INFO", "GET_STATS", "BO_CREATE", "BO_IMPORT_FILE", "BO_USERPTR", "BO_INFO",
	"BO_READ", "GEM_CLOSE", "PROG_CREATE", "PROG_DESTROY", "JOB_SUBMIT", "JOB_WAIT",
	"URING_CMD", "uring CQE", "CTX_SET", "open/close file", "mmap", "fork+SIGKILL",
	"unknown ioctl", "KV_SEQ_*/KV_STATS",
};
/* Relative frequency of each operation. */
static const unsigned int op_weight[OP_COUNT] = {
	2, 2, 6, 4, 4, 3, 3, 5, 6, 3, 24, 8, 18, 6, 2, 2, 2, 1, 1, 3,
};

/* errno sets each call may return (0 always allowed); 0-terminated. */
static const int E_INFO[] = { EINVAL, EFAULT, 0 };
static const int E_BO[] = { EINVAL, E2BIG, ENOMEM, EFAULT, 0 };
static const int E_IMPORT[] = { EINVAL, EBADF, EDQUOT, ENOSPC, ENOMEM, EFAULT, 0 };
static const int E_USERPTR[] = { EINVAL, EFAULT, ENOMEM, 0 };
static const int E_HANDLE[] = { EINVAL, ENOENT, EFAULT, 0 };
static const int E_CLOSE[] = { EINVAL, 0 };
static const int E_PCREATE[] = { EINVAL, ENOENT, EFAULT, E2BIG, EMFILE, ENOMEM, EDQUOT,
				 ENOSPC, 0 };
static const int E_PDESTROY[] = { EINVAL, ENOENT, 0 };
static const int E_SUBMIT[] = { EINVAL, ENOENT, EFAULT, EBUSY, EPERM, ENOMEM, ENOSPC, 0 };
static const int E_WAIT[] = { EINVAL, ENOENT, ETIMEDOUT, EFAULT, EINTR, 0 };
static const int E_CTX[] = { EINVAL, EPERM, EFAULT, 0 };
static const int E_STATUS[] = { ETIMEDOUT, ECANCELED, EINTR, EINVAL, ENOMEM, ERANGE, 0 };
static const int E_CQE[] = { EINVAL, ENOENT, EFAULT, EBUSY, EPERM, ENOMEM, ETIMEDOUT,
			     ECANCELED, EINTR, ERANGE, ENOSPC, 0 };
static const int E_BADNR[] = { EINVAL, ENOTTY, EFAULT, ENOENT, EBADF, 0 };
static const int E_KV[] = { EINVAL, ENOENT, EFAULT, EBUSY, ENOSPC, EMFILE, ENOMEM, 0 };

/* Workers: uid, threads (more than one: they race on the same objects). */
static const struct { uid_t uid; int threads; } fz_worker[] = {
	{ 65534, 1 }, { 1000, 1 }, { 1001, 3 }, { 65534, 2 }, { 0, 1 },
};
#define FZ_WORKERS ((int)(sizeof(fz_worker) / sizeof(fz_worker[0])))

/* Shared by every process (MAP_SHARED): counts and the first findings. */
struct fz_shared {
	volatile int stop;
	uint64_t calls, op_calls[OP_COUNT], op_ok[OP_COUNT];
	uint64_t jobs_done, jobs_failed, cqes, kills, unexpected;
	uint64_t status[160];	/* failed jobs by -status */
	char bad[8][800];
};

static struct fz_shared *sh;
static uint64_t g_seed, g_calls, g_secs;
static int g_trace, g_workers;

/* A program image the worker knows, with what the validator said. */
struct fz_img {
	uint8_t *img;
	size_t size;
	struct kllm_prog_info pi;
	uint32_t n_out, n_w;
};

struct fz_slot {
	int fd;			/* stable number; /dev/null stands in while closed */
	int open;
	uint32_t w_bo, out_bo, kv_bo[KJ_SEQS], tiny_bo, up_bo, up_ro_bo;
	uint32_t bo[FZ_NH];
	unsigned int n_bo;
	uint32_t prog[FZ_NP], prog_img[FZ_NP];
	unsigned int n_prog;
	uint32_t kv_seq[KJ_SEQS];	/* KV sequences of the paged toy (1.3) */
	uint64_t job[FZ_NJ];
	unsigned int n_job;
	struct io_uring ring;
	int ring_on;
	pthread_mutex_t ring_mu;
};

/* One fuzzing process. */
struct fz {
	int worker, threads, nullfd, wfd;
	uid_t uid;
	pthread_mutex_t mu;	/* the lists below, never held across a call */
	struct fz_slot s[FZ_SLOTS];
	struct fz_img img[FZ_NIMG];
	unsigned int n_img;
	int paged_img;		/* the toy with paged KV, or -1 */
	uint8_t *up, *up_ro, *hole, *short_end;	/* userptr, read-only, unmapped, guard */
	uint32_t stale_bo, stale_prog;
	uint64_t budget;
	struct toy_model *m;
};

/* A job's arrays: the kernel reads them at submission, so each command of
 * one io_uring_enter needs its own set. */
#define FZ_SETS 8
struct fz_arrays {
	int32_t tok[FZ_MAXT], pos[FZ_MAXT], seq[FZ_MAXT], out[FZ_MAXT];
	struct drm_kllm_bind binds[FZ_MAXB];
};

struct fz_thr {
	struct fz *z;
	int idx;
	struct kt_rng r;
	uint64_t n;
	struct fz_arrays set[FZ_SETS];
	unsigned int cur;
	int32_t *tok, *pos, *seq, *out;
	struct drm_kllm_bind *binds;
	char desc[160];
};

static struct toy_model g_m;
static struct { uint8_t *img; size_t size; } g_small;	/* no OUT_ROWS input */

/* The smallest program on the toy's weights: embedding rows out, no
 * OUT_ROWS input (a job's n_outputs must then be 0: issue 14 finding 4). */
static void small_build(void)
{
	struct kb *b = kt_alloc(sizeof(*b));
	uint32_t w, emb, tok, ob, out, x;

	kb_init(b, TM_MB);
	w = kb_buffer(b, KLLM_PROG_BUF_WEIGHTS, g_m.wsize, 0);
	emb = kb_tensor(b, w, KK_TYPE_Q8_0, g_m.woff[W_EMBD], g_m.w_stride[W_EMBD], TM_D, TM_V, 0);
	tok = kb_tensor(b, kb_buffer(b, KLLM_PROG_BUF_INPUT, 4 * TM_MB, KLLM_PROG_IN_TOKENS),
			KLLM_PROG_TYPE_I32, 0, 4, 1, 0, KLLM_PROG_T_ROWS_TOKENS);
	ob = kb_buffer(b, KLLM_PROG_BUF_OUTPUT, 4ull * TM_D * TM_MB, 0);
	out = kb_tensor(b, ob, KLLM_PROG_TYPE_F32, 0, 4 * TM_D, TM_D, 0, KLLM_PROG_T_ROWS_TOKENS);
	x = kb_act(b, TM_D, KLLM_PROG_T_ROWS_TOKENS);
	KB_OP(b, KK_OP_GET_ROWS, 0, KB_T(emb, tok, x), KB_P0);
	KB_OP(b, KK_OP_SCALE, 0, KB_T(x, out), KB_T(0x3f000000u));
	g_small.img = kb_finish(b, &g_small.size);
	free(b);
}
static uint64_t g_out_off[3];

static uint32_t rnd(struct fz_thr *t, uint32_t n)
{
	return n ? (uint32_t)(kt_rng_u64(&t->r) % n) : 0;
}

static int chance(struct fz_thr *t, uint32_t pct)
{
	return rnd(t, 100) < pct;
}

static uint64_t rnd_u64_edge(struct fz_thr *t)
{
	static const uint64_t v[] = { 0, 1, 2, 3, 7, 8, 31, 32, 33, 4095, 4096, 4097,
		0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull, 1ull << 47,
		1ull << 63, ~0ull, ~0ull - 31 };

	return chance(t, 80) ? v[rnd(t, sizeof(v) / sizeof(v[0]))] : kt_rng_u64(&t->r);
}

static void fz_bad(struct fz_thr *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fz_bad(struct fz_thr *t, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	uint64_t k;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	k = __atomic_fetch_add(&sh->unexpected, 1, __ATOMIC_RELAXED);
	if (k < 40) {
		printf("vm: fuzz: FINDING worker %d thread %d call %llu: %s [%s]\n", t->z->worker,
		       t->idx, (unsigned long long)t->n, msg, t->desc);
		fflush(stdout);
	}
	if (k < 8)
		snprintf(sh->bad[k], sizeof(sh->bad[k]), "w%d t%d call %llu: %s [%s]",
			 t->z->worker, t->idx, (unsigned long long)t->n, msg, t->desc);
}

static int in_set(int rc, const int *set)
{
	if (rc == 0)
		return 1;
	for (; *set; set++)
		if (-rc == *set)
			return 1;
	return 0;
}

/* Account one call of @op that returned @rc; @valid: it must not fail
 * with EINVAL/ENOENT/EFAULT. */
static void fz_rc(struct fz_thr *t, int op, int rc, const int *set, int valid)
{
	__atomic_fetch_add(&sh->op_calls[op], 1, __ATOMIC_RELAXED);
	if (!rc)
		__atomic_fetch_add(&sh->op_ok[op], 1, __ATOMIC_RELAXED);
	if (g_trace)
		printf("vm: fuzz: w%d t%d #%llu %s -> %d [%s]\n", t->z->worker, t->idx,
		       (unsigned long long)t->n, op_name[op], rc, t->desc);
	/* racing threads may find their file number standing in for /dev/null */
	if (t->z->threads > 1 && (rc == -ENOTTY || rc == -EBADF))
		return;
	if (!in_set(rc, set))
		fz_bad(t, "%s returned %d (%s), not a documented errno", op_name[op], rc,
		       strerror(-rc));
	else if (valid && t->z->threads == 1 && (rc == -EINVAL || rc == -ENOENT || rc == -EFAULT))
		fz_bad(t, "valid %s refused: %d (%s)", op_name[op], rc, strerror(-rc));
}

static int fz_ioctl(int fd, unsigned long req, void *arg)
{
	return kd_ioctl(fd, req, arg);
}

#include "fuzz_state.h"
#include "fuzz_ops.h"

/* ------------------------------------------------------------ processes */

/* One worker process: drop to its uid (keeping the node's group), set up,
 * run its threads until the budget or the stop flag ends them. */
static int fz_worker_main(int w, uint64_t budget)
{
	static struct fz z;
	struct fz_thr *thr;
	pthread_t th[8];
	gid_t grp = KD_GROUP_GID;
	struct kt_rng r;

	memset(&z, 0, sizeof(z));
	z.worker = w;
	z.threads = fz_worker[w].threads;
	z.uid = fz_worker[w].uid;
	z.budget = budget;
	z.m = &g_m;
	pthread_mutex_init(&z.mu, NULL);
	if (z.uid && (setgroups(1, &grp) || setresgid(z.uid, z.uid, z.uid) ||
		      setresuid(z.uid, z.uid, z.uid)))
		return 2;
	z.nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	z.wfd = open(FZ_WPATH, O_RDONLY | O_CLOEXEC);
	if (z.nullfd < 0 || z.wfd < 0)
		return 3;
	/* userptr memory, a read-only page, a hole, a page whose end meets a guard */
	z.up = mmap(NULL, (FZ_UP_PAGES + 4) * 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (z.up == MAP_FAILED)
		return 4;
	z.up_ro = z.up + FZ_UP_PAGES * 4096;
	z.hole = z.up_ro + 4096;
	mprotect(z.up_ro, 4096, PROT_READ);
	/* no access, but still mapped: an unmapped hole would be reused by
	 * the next mmap (a ring!) and the kernel write there for real */
	mprotect(z.hole, 4096, PROT_NONE);
	/* 8 readable bytes, then the hole: a struct or array read runs off */
	z.short_end = z.up_ro + 4096 - 8;
	for (int i = 0; i < FZ_SLOTS; i++) {
		z.s[i].fd = dup(z.nullfd);
		pthread_mutex_init(&z.s[i].ring_mu, NULL);
	}
	kt_rng_seed(&r, g_seed * 7919 + (uint64_t)w);
	img_setup(&z, &r);
	thr = calloc((size_t)z.threads, sizeof(*thr));
	for (int i = 0; i < z.threads; i++) {
		thr[i].z = &z;
		thr[i].idx = i;
		kt_rng_seed(&thr[i].r, g_seed * 1000003 + (uint64_t)w * 131 + (uint64_t)i);
	}
	for (int i = 1; i < z.threads; i++)
		pthread_create(&th[i], NULL, fz_thread, &thr[i]);
	fz_thread(&thr[0]);
	for (int i = 1; i < z.threads; i++)
		pthread_join(th[i], NULL);
	/* the end: reap some jobs, leave the rest (and rings) to the exit */
	for (int i = 0; i < FZ_SLOTS; i++) {
		struct fz_slot *s = &z.s[i];

		while (s->open && s->n_job && rnd(&thr[0], 2))
			op_wait_one(&thr[0], s, s->job[--s->n_job], 3000000000ll, 0);
		op_reap(&thr[0], s, 0);
	}
	return 0;
}

static void knob_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, val, strlen(val)) < 0) {
			/* a refused value is fine */
		}
		close(fd);
	}
}

/* The root child: pause, delays, stats reset and module parameters. */
static int fz_knobs_main(void)
{
	static const char *const knob[][6] = {
		{ FZ_DEBUGFS "pause", "1", "0", "0", "0", "0" },
		{ FZ_DEBUGFS "stats_reset", "1", "1", "1", "1", "1" },
		{ FZ_DEBUGFS "delay_queue_us", "0", "0", "50", "300", "1000" },
		{ FZ_DEBUGFS "delay_pick_us", "0", "0", "50", "300", "1000" },
		{ FZ_PARAM "chunk_tokens", "1", "2", "3", "8", "32" },
		{ FZ_PARAM "fuse", "Y", "N", "Y", "Y", "N" },
		{ FZ_PARAM "job_timeout_ms", "1", "50", "30000", "30000", "30000" },
		{ FZ_PARAM "job_mem_mb", "0", "1", "64", "64", "64" },
		{ FZ_PARAM "uid_quota_mb", "0", "1", "256", "256", "256" },
		{ FZ_PARAM "max_pinned_mb", "0", "1", "1024", "1024", "1024" },
	};
	struct kt_rng r;

	kt_rng_seed(&r, g_seed ^ 0x6b6e6f62);
	while (!sh->stop) {
		unsigned int k = (unsigned int)(kt_rng_u64(&r) % 10);
		unsigned int v = 1 + (unsigned int)(kt_rng_u64(&r) % 5);

		knob_write(knob[k][0], knob[k][v]);
		if (k == 0) {	/* paused: a few ms, then on again */
			usleep(1000 + (useconds_t)(kt_rng_u64(&r) % 20000));
			knob_write(knob[0][0], "0");
		}
		usleep(2000 + (useconds_t)(kt_rng_u64(&r) % 20000));
	}
	return 0;
}

/* Everything back to the defaults the module loaded with. */
static void knobs_reset(void)
{
	knob_write(FZ_DEBUGFS "pause", "0");
	knob_write(FZ_DEBUGFS "delay_queue_us", "0");
	knob_write(FZ_DEBUGFS "delay_pick_us", "0");
	knob_write(FZ_PARAM "chunk_tokens", "32");
	knob_write(FZ_PARAM "fuse", "Y");
	knob_write(FZ_PARAM "job_timeout_ms", "30000");
	knob_write(FZ_PARAM "job_mem_mb", "64");
	knob_write(FZ_PARAM "uid_quota_mb", "256");
	knob_write(FZ_PARAM "max_pinned_mb", "1024");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ tests */

static int g_kmsg = -1;
static char g_defaults[10][32];

START_TEST(test_fuzz)
{
	pid_t pid[FZ_WORKERS + 1];
	int status, crashed = 0, left = FZ_WORKERS + 1;
	double t0, t;
	int wfd;

	/* the toy model (its weights in a file every uid may read) */
	tm_build(&g_m, 14);
	small_build();
	g_out_off[0] = 0;
	g_out_off[1] = 4ull * TM_V * TM_MB;
	g_out_off[2] = g_out_off[1] + 64 * 4ull * TM_MB;
	wfd = open(FZ_WPATH, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(wfd, 0);
	ck_assert_int_eq(write(wfd, g_m.weights, g_m.wsize), (ssize_t)g_m.wsize);
	close(wfd);
	t0 = now_s();
	for (int w = 0; w <= FZ_WORKERS; w++) {
		pid[w] = fork();
		ck_assert_int_ge(pid[w], 0);
		if (pid[w] == 0) {
			fflush(stdout);
			if (w < FZ_WORKERS && w >= g_workers)
				_exit(0);	/* KLLM_FUZZ_WORKERS left it out */
			_exit(w == FZ_WORKERS ? fz_knobs_main() :
			      fz_worker_main(w, g_calls / (uint64_t)g_workers + 1));
		}
	}
	while (left > 0) {
		pid_t p = waitpid(-1, &status, WNOHANG);

		t = now_s() - t0;
		if (p > 0) {
			int w = 0;

			while (w <= FZ_WORKERS && pid[w] != p)
				w++;
			if (w <= FZ_WORKERS) {
				left--;
				pid[w] = 0;
				if (!WIFEXITED(status) || WEXITSTATUS(status)) {
					printf("vm: fuzz: worker %d (uid %d) ended badly: status %#x\n",
					       w, w < FZ_WORKERS ? (int)fz_worker[w].uid : 0, status);
					crashed++;
				}
			}
			if (left == 1 && pid[FZ_WORKERS])
				sh->stop = 1;	/* only the knob child left */
			continue;
		}
		if (g_secs && t > (double)g_secs && !sh->stop) {
			printf("vm: fuzz: %llu s up: stopping the workers\n", (unsigned long long)g_secs);
			sh->stop = 1;
		}
		usleep(20000);
	}
	t = now_s() - t0;
	knobs_reset();
	printf("vm: fuzz: seed %llu: %llu calls in %.1f s (%.0f calls/s), %llu jobs done, %llu failed, %llu CQEs, %llu children killed\n",
	       (unsigned long long)g_seed, (unsigned long long)sh->calls, t, (double)sh->calls / t,
	       (unsigned long long)sh->jobs_done, (unsigned long long)sh->jobs_failed,
	       (unsigned long long)sh->cqes, (unsigned long long)sh->kills);
	printf("vm: fuzz: failed jobs by status:");
	for (int e = 1; e < 160; e++)
		if (sh->status[e])
			printf(" -%s %llu", strerrorname_np(e), (unsigned long long)sh->status[e]);
	printf("\n");
	for (int op = 0; op < OP_COUNT; op++)
		printf("vm: fuzz:   %-16s %8llu calls %8llu succeeded\n", op_name[op],
		       (unsigned long long)sh->op_calls[op], (unsigned long long)sh->op_ok[op]);
	ck_assert_msg(!crashed, "%d worker(s) crashed or failed to start", crashed);
	ck_assert_msg(!sh->unexpected, "%llu unexpected result(s); first: %s",
		      (unsigned long long)sh->unexpected, sh->bad[0]);
	ck_assert_uint_gt(sh->op_ok[OP_SUBMIT] + sh->jobs_done, 0);
}
END_TEST

/* After every child: no job in flight, no program, nothing pinned. */
START_TEST(test_counters_back_to_zero)
{
	struct drm_kllm_get_stats st;
	int fd;

	for (int waited = 0;; waited += 50) {
		fd = kd_open();
		ck_assert_int_ge(fd, 0);
		st = kd_stats(fd);
		close(fd);
		if ((!st.jobs_in_flight && !st.programs && !st.file_pinned_bytes &&
		     !st.userptr_bytes && !st.shmem_bytes) || waited > 20000)
			break;
		usleep(50000);
	}
	printf("vm: fuzz: after the workers: %llu jobs in flight, %llu programs, %llu file / %llu userptr / %llu shmem bytes\n",
	       (unsigned long long)st.jobs_in_flight, (unsigned long long)st.programs,
	       (unsigned long long)st.file_pinned_bytes, (unsigned long long)st.userptr_bytes,
	       (unsigned long long)st.shmem_bytes);
	ck_assert_uint_eq(st.jobs_in_flight, 0);
	ck_assert_uint_eq(st.programs, 0);
	ck_assert_uint_eq(st.file_pinned_bytes, 0);
	ck_assert_uint_eq(st.uid_pinned_bytes, 0);
	ck_assert_uint_eq(st.userptr_bytes, 0);
	ck_assert_uint_eq(st.shmem_bytes, 0);
}
END_TEST

START_TEST(test_rmmod)
{
	int ret = vm_unload_wait(KLLM);

	ck_assert_msg(ret == 0, "rmmod kllm: %s", strerror(-ret));
}
END_TEST

/* The kernel log since the module was loaded, and kmemleak. */
START_TEST(test_kernel_log_clean)
{
	static const char *const bad[] = {
		"BUG", "WARNING", "Oops", "KASAN", "lockdep", "possible circular",
		"inconsistent lock", "Redzone", "Poison", "refcount_t", "general protection",
		"list_del", "soft lockup", "hard LOCKUP", "stall", "NULL pointer",
		"kernel paging request", "Call Trace", "hung_task", "blocked for more than",
		"sleeping function", "UBSAN", "double free",
	};
	char rec[8192], first[512] = "", *msg;
	int n_bad = 0, leaks = 0;
	FILE *f;

	if (g_kmsg >= 0) {
		while ((msg = vm_kmsg_next(g_kmsg, rec, sizeof(rec)))) {
			for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
				const char *hit = strstr(msg, bad[i]);

				if (hit && i == 0 && hit > msg &&
				    (isalnum((unsigned char)hit[-1]) || hit[-1] == '_'))
					hit = NULL;	/* DEBUG, not BUG */
				if (hit) {
					if (!n_bad++)
						vm_strlcpy(first, msg, sizeof(first));
					printf("vm: fuzz: kernel: %s\n", msg);
					break;
				}
			}
		}
	}
	if (access("/sys/kernel/debug/kmemleak", F_OK) == 0) {
		char line[512];
		int kllm_in_it = 0, entries = 0;

		knob_write("/sys/kernel/debug/kmemleak", "scan");
		knob_write("/sys/kernel/debug/kmemleak", "scan");
		f = fopen("/sys/kernel/debug/kmemleak", "r");
		while (f && fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "unreferenced object", 19)) {
				leaks += kllm_in_it;
				kllm_in_it = 0;
				entries++;
			}
			if (strstr(line, "kllm"))
				kllm_in_it = 1;
			if (entries <= 20)
				printf("vm: fuzz: kmemleak: %s", line);
		}
		leaks += kllm_in_it;
		if (f)
			fclose(f);
		printf("vm: fuzz: kmemleak: %d report(s), %d naming kllm\n", entries, leaks);
	}
	ck_assert_msg(!n_bad, "%d kernel log line(s) of trouble, first: %s", n_bad, first);
	ck_assert_msg(!leaks, "kmemleak: %d leak(s) allocated by kllm", leaks);
}
END_TEST

/* ------------------------------------------------------------ coverage */

/* Every .gcda under @dir (the module's, from GCOV_KERNEL's debugfs), in
 * base64 between marker lines, for tests/vm/coverage.sh on the host. */
static void gcda_dump(const char *dir, int *files)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char path[1024];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;
		uint8_t buf[57];
		size_t n;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			gcda_dump(path, files);
			continue;
		}
		n = strlen(path);
		if (n < 5 || strcmp(path + n - 5, ".gcda") || !strstr(path, "/kmod-"))
			continue;
		f = fopen(path, "rb");
		if (!f)
			continue;
		printf("vm-gcda-begin %s\n", path + strlen("/sys/kernel/debug/gcov"));
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
			char line[80];
			size_t o = 0;

			for (size_t i = 0; i < n; i += 3) {
				uint32_t v = (uint32_t)buf[i] << 16 |
					     (i + 1 < n ? (uint32_t)buf[i + 1] << 8 : 0) |
					     (i + 2 < n ? buf[i + 2] : 0);

				line[o++] = b64[v >> 18];
				line[o++] = b64[(v >> 12) & 63];
				line[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
				line[o++] = i + 2 < n ? b64[v & 63] : '=';
			}
			line[o] = '\0';
			printf("%s\n", line);
		}
		printf("vm-gcda-end\n");
		fclose(f);
		(*files)++;
	}
	closedir(d);
}

/* ------------------------------------------------------------ main */

static uint64_t env_u64(const char *name, const char *arg, uint64_t def, int *given)
{
	const char *v = arg ? arg : getenv(name);
	char line[128];
	FILE *f;

	if (!v && (f = fopen("/data/fuzz.env", "r"))) {	/* run.sh's VM_FUZZ_* */
		size_t len = strlen(name);

		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, name, len) && line[len] == '=') {
				static char keep[8][64];
				static int nk;

				vm_strlcpy(keep[nk & 7], line + len + 1, sizeof(keep[0]));
				v = keep[nk++ & 7];
			}
		fclose(f);
	}
	if (!v || !*v)
		return def;
	if (given)
		*given = 1;
	return strtoull(v, NULL, 0);
}

int main(int argc, char **argv)
{
	Suite *s = suite_create("guest_fuzz");
	TCase *tc = tcase_create("fuzz");
	int calls_given = 0, failed, ret, files = 0;
	uint64_t skip;
	char node[64];

	g_seed = env_u64("KLLM_FUZZ_SEED", argc > 1 ? argv[1] : NULL, 0, NULL);
	if (!g_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		g_seed = ((uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec) % 1000000007u + 1;
	}
	g_calls = env_u64("KLLM_FUZZ_CALLS", argc > 2 ? argv[2] : NULL, 40000, &calls_given);
	/* CI: 45 s; 30 s on the debug kernel (KASAN: its checks after the
	 * run, kmemleak's scan above all, take a minute more) */
	mkdir("/sys/kernel/debug", 0755);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	g_secs = env_u64("KLLM_FUZZ_SECS", argc > 3 ? argv[3] : NULL, calls_given ? 0 :
			 access("/sys/kernel/debug/kmemleak", F_OK) ? 45 : 30, NULL);
	g_trace = (int)env_u64("KLLM_FUZZ_TRACE", NULL, 0, NULL);
	/* KLLM_FUZZ_SKIP: a bit mask of operations (enum order) left out */
	skip = env_u64("KLLM_FUZZ_SKIP", NULL, 0, NULL);
	for (int op = 0; op < OP_COUNT; op++)
		g_weight[op] = skip >> op & 1 ? 0 : op_weight[op];
	g_workers = (int)env_u64("KLLM_FUZZ_WORKERS", NULL, FZ_WORKERS, NULL);
	if (g_workers < 1 || g_workers > FZ_WORKERS)
		g_workers = FZ_WORKERS;
	printf("vm: fuzz: seed %llu, %llu calls, ", (unsigned long long)g_seed,
	       (unsigned long long)g_calls);
	if (g_secs)
		printf("%llu s cap, ", (unsigned long long)g_secs);
	else
		printf("no time cap, ");
	printf("%d workers (uids", g_workers);
	for (int w = 0; w < g_workers; w++)
		printf(" %d%s", (int)fz_worker[w].uid, fz_worker[w].threads > 1 ? "x" : "");
	printf("; x: threads racing) and a root knob child\n");
	printf("vm: fuzz: replay: KLLM_FUZZ_SEED=%llu KLLM_FUZZ_CALLS=%llu\n",
	       (unsigned long long)g_seed, (unsigned long long)g_calls);
	fflush(stdout);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	memset(sh, 0, sizeof(*sh));

	g_kmsg = vm_kmsg_open();
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	ret = vm_load_kllm("");
	if (ret) {
		printf("vm: fuzz: insmod kllm: %s\n", strerror(-ret));
		return 1;
	}
	if (kd_find_node(node, sizeof(node)) || chown(node, 0, KD_GROUP_GID) ||
	    chmod(node, KD_NODE_MODE)) {
		printf("vm: fuzz: no kllm node to give to group %d\n", KD_GROUP_GID);
		return 1;
	}
	(void)g_defaults;
	tcase_set_timeout(tc, g_secs ? (double)g_secs + 240 : 1e6);
	tcase_add_test(tc, test_fuzz);
	tcase_add_test(tc, test_counters_back_to_zero);
	tcase_add_test(tc, test_rmmod);
	tcase_add_test(tc, test_kernel_log_clean);
	suite_add_tcase(s, tc);
	failed = kt_run(s);
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	printf("vm: fuzz: %llu calls, seed %llu: %s\n", (unsigned long long)sh->calls,
	       (unsigned long long)g_seed, failed ? "FAILED" : "clean");
	gcda_dump("/sys/kernel/debug/gcov", &files);
	if (files)
		printf("vm: fuzz: %d .gcda file(s) dumped for tests/vm/coverage.sh\n", files);
	fflush(stdout);
	return failed;
}
