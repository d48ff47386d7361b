// SPDX-License-Identifier: MIT
/*
 * test_engine.c - the engine choice (KLLM_ENGINE) on the host: auto falls
 * back to the CPU where there is no kllm node, dev says why it cannot
 * run, an unknown value is refused; the device engine's io_uring is
 * single-issuer where the kernel has that (the premise of its ring per
 * thread).  The device itself is tested in the QEMU guest
 * (tests/vm/guest_engine.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>
#ifdef KLLM_HAVE_DEV
#include <liburing.h>
#endif

#include "engine_dev.h"
#include "gguf.h"
#include "kt_api.h"
#include "seq.h"

/* Is a kllm node usable here?  (Then the fallback cases cannot run.) */
static int have_node(void)
{
	struct kllm_dev *d;
	char err[256];

	if (kllm_dev_open(&d, err, sizeof(err)))
		return 0;
	kllm_dev_close(d);
	return 1;
}

/* kllm_engine_create under KLLM_ENGINE=@env (NULL: unset). */
static int create(const char *env, struct kllm_llm *llm, struct kllm_engine **e)
{
	if (env)
		ck_assert_int_eq(setenv("KLLM_ENGINE", env, 1), 0);
	else
		ck_assert_int_eq(unsetenv("KLLM_ENGINE"), 0);
	return kllm_engine_create(llm, NULL, e);
}

START_TEST(auto_and_cpu)
{
	static const char *const envs[] = { NULL, "", "auto", "cpu" };
	struct kllm_llm *llm;
	struct kllm_engine *e;

	ck_assert_int_eq(kllm_llm_load(kta_path, &llm), 0);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(create(envs[i], llm, &e), 0);
		if (i == 3 || !have_node())
			ck_assert_str_eq(kllm_engine_backend(e), "cpu");
		else
			ck_assert_msg(!strncmp(kllm_engine_backend(e), "dev (", 5), "%s",
				      kllm_engine_backend(e));
		/* the engine runs: one token, its logits */
		ck_assert_int_eq(kllm_seq_new(e), 0);
		ck_assert_int_eq(kllm_seq_feed(e, 0, (const int32_t[]){ 1 }, 1), 0);
		ck_assert_int_eq(kllm_seq_decode(e, 0), 0);
		ck_assert_ptr_nonnull(kllm_seq_logits(e, 0));
		kllm_engine_free(e);
	}
	ck_assert_ptr_null(kllm_engine_backend(NULL));
	kllm_llm_free(llm);
}
END_TEST

START_TEST(dev_without_node)
{
	struct kllm_llm *llm;
	struct kllm_engine *e = (void *)1;
	int ret;

	if (have_node())
		return;	/* nothing to refuse here */
	ck_assert_int_eq(kllm_llm_load(kta_path, &llm), 0);
	ret = create("dev", llm, &e);
	ck_assert_ptr_null(e);
	if (kllm_dev_built_in()) {
		ck_assert_int_eq(ret, -ENOENT);
		ck_assert_msg(strstr(kllm_last_error(), "no kllm device node") ||
			      strstr(kllm_last_error(), "no kllm node this user may open"),
			      "%s", kllm_last_error());
	} else {
		ck_assert_int_eq(ret, -ENOTSUP);
		ck_assert_msg(strstr(kllm_last_error(), "device engine not built in"),
			      "%s", kllm_last_error());
	}
	kllm_llm_free(llm);
}
END_TEST

START_TEST(bad_value)
{
	struct kllm_llm *llm;
	struct kllm_engine *e;

	ck_assert_int_eq(kllm_llm_load(kta_path, &llm), 0);
	ck_assert_int_eq(create("gpu", llm, &e), -EINVAL);
	ck_assert_msg(strstr(kllm_last_error(), "KLLM_ENGINE=gpu: expected cpu, dev or auto"),
		      "%s", kllm_last_error());
	kllm_llm_free(llm);
}
END_TEST

/* A model read from memory has no file to pin: auto runs it on the CPU. */
START_TEST(model_in_memory)
{
	struct kllm_ctx_opts co = { .n_ctx = 64, .max_batch = 8, .n_seqs = 1, .n_threads = 1 };
	struct kllm_model *m;
	struct kllm_ctx *ctx;
	struct gguf *g;
	char err[256];
	void *buf;
	long size;
	FILE *f = fopen(kta_path, "rb");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	rewind(f);
	buf = kt_alloc((size_t)size);
	ck_assert_int_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	ck_assert_int_eq(gguf_open_mem(&g, buf, (size_t)size, err, sizeof(err)), 0);
	ck_assert_int_eq(kllm_model_from_gguf(&m, g, err, sizeof(err)), 0);
	ck_assert_int_eq(m->fd, -1);
	ck_assert_int_eq(setenv("KLLM_ENGINE", "auto", 1), 0);
	ck_assert_int_eq(kllm_ctx_create(&ctx, m, &co, err, sizeof(err)), 0);
	ck_assert_str_eq(kllm_ctx_engine_name(ctx), "cpu");
	ck_assert_ptr_null(kllm_ctx_dev(ctx));
	kllm_ctx_free(ctx);
	ck_assert_int_eq(setenv("KLLM_ENGINE", "dev", 1), 0);
	ck_assert_int_ne(kllm_ctx_create(&ctx, m, &co, err, sizeof(err)), 0);
	ck_assert_ptr_null(ctx);
	ck_assert_msg(strstr(err, kllm_dev_built_in() ? "not loaded from a file" :
			     "not built in"), "%s", err);
	kllm_model_free(m);
	free(buf);
}
END_TEST

/* A model loaded from a file keeps it open for the device engine. */
START_TEST(model_keeps_file)
{
	struct kllm_model *m;
	char err[256];

	ck_assert_int_eq(kllm_model_load(&m, kta_path, err, sizeof(err)), 0);
	ck_assert_int_ge(m->fd, 0);
	ck_assert_uint_eq(m->data_offset % 32, 0);
	ck_assert_uint_eq(m->data_offset + m->data_size, (uint64_t)lseek(m->fd, 0, SEEK_END));
	kllm_model_free(m);
}
END_TEST

#ifdef KLLM_HAVE_DEV
/*
 * One NOP through @ring: the submit's error, else the CQE's result.  A
 * submission the kernel refused stays in the SQ ring and goes with the
 * next one, so every CQE there is is reaped (@n_cqes: how many).
 */
static int ring_nop(struct io_uring *ring, int *n_cqes)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	*n_cqes = 0;
	ck_assert_ptr_nonnull(sqe);
	io_uring_prep_nop(sqe);
	ret = io_uring_submit_and_wait(ring, 1);
	if (ret < 0)
		return ret;
	while (io_uring_peek_cqe(ring, &cqe) == 0) {
		if (!*n_cqes || cqe->res)
			ret = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		++*n_cqes;
	}
	return ret;
}

struct nop_thread {
	struct io_uring *ring;
	int ret, n_cqes;
};

static void *ring_nop_thread(void *arg)
{
	struct nop_thread *t = arg;

	t->ret = ring_nop(t->ring, &t->n_cqes);
	return NULL;
}

/*
 * kllm_dev_ring_init: 128-byte SQEs always; from 6.1 single-issuer with
 * deferred task work, which refuses a second thread (-EEXIST): why the
 * device engine makes a ring per thread.  Where io_uring is refused
 * (seccomp, io_uring_disabled) it says so, and the engine uses ioctls.
 */
START_TEST(dev_ring_single_issuer)
{
	struct io_uring ring;
	struct utsname u;
	unsigned int flags = 0, major = 0, minor = 0;
	struct nop_thread t = { .ring = &ring };
	pthread_t th;
	int ret, n;

	ret = kllm_dev_ring_init(&ring, 8, &flags);
	if (ret == -ENOSYS || ret == -EPERM) {
		printf("engine: io_uring refused here (%d); the ioctls would be used\n", ret);
		return;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert(flags & IORING_SETUP_SQE128);
	ck_assert_int_eq(uname(&u), 0);
	ck_assert_int_eq(sscanf(u.release, "%u.%u", &major, &minor), 2);
	if (major > 6 || (major == 6 && minor >= 1))
		ck_assert_msg(flags & IORING_SETUP_DEFER_TASKRUN &&
			      flags & IORING_SETUP_SINGLE_ISSUER, "%s: flags %#x", u.release, flags);
	ck_assert_int_eq(ring_nop(&ring, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(pthread_create(&th, NULL, ring_nop_thread, &t), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	if (flags & IORING_SETUP_SINGLE_ISSUER) {
		ck_assert_int_eq(t.ret, -EEXIST);
		/* the maker still may, and its enter takes the refused NOP too */
		ck_assert_int_eq(ring_nop(&ring, &n), 0);
		ck_assert_int_eq(n, 2);
	} else {
		ck_assert_int_eq(t.ret, 0);
		ck_assert_int_eq(ring_nop(&ring, &n), 0);
		ck_assert_int_eq(n, 1);
	}
	io_uring_queue_exit(&ring);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("engine");
	int ret;

	kta_make(kta_path, 44, 0);
	tcase_add_test(tc, auto_and_cpu);
	tcase_add_test(tc, dev_without_node);
	tcase_add_test(tc, bad_value);
	tcase_add_test(tc, model_in_memory);
	tcase_add_test(tc, model_keeps_file);
#ifdef KLLM_HAVE_DEV
	tcase_add_test(tc, dev_ring_single_issuer);
#endif
	suite_add_tcase(s, tc);
	ret = kt_run(s);
	unlink(kta_path);
	return ret;
}
