// SPDX-License-Identifier: MIT
/*
 * fuzz_prog.c - libFuzzer target for the program validator
 * (uapi/prog/kllm_prog_check.c) over arbitrary bytes.  Whatever it accepts must
 * then lower, for the largest and the smallest batch, into ops the kernels'
 * kk_op_check() accepts; any refusal there is a validator hole and aborts.
 *
 * Build (from the repository root, after `make lib`):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ikernels -Iuapi \
 *     tests/fuzz/fuzz_prog.c uapi/kllm_prog*.c build/lib/libkllm.a -lpthread -lm \
 *     -o build/fuzz_prog
 * Run:  build/fuzz_prog -max_total_time=60 tests/fuzz/corpus/prog
 * The seeds are valid programs written by test_prog
 * (KLLM_PROG_CORPUS=tests/fuzz/corpus/prog build/tests/test_prog).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kk.h"
#include "kllm_prog_check.h"
#include "kllm_prog_lower.h"

#define SEQS 2

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	kk_simd_select(kk_simd_best(kk_simd_available(0)));
	return 0;
}

/* Lower every op for a batch of n tokens; memory is never touched, so the
 * bindings are fake addresses with exactly the declared sizes. */
static void lower_all(const struct kllm_prog_info *pi, uint32_t n)
{
	static struct kllm_prog_mem buf[KLLM_PROG_MAX_BUFFERS];
	static struct kllm_prog_mem kv[SEQS * KLLM_PROG_MAX_BUFFERS];
	static int32_t ids[KLLM_PROG_MAX_BATCH], rows[KLLM_PROG_MAX_BATCH];
	void *fake = (void *)(uintptr_t)(1ull << 40);
	struct kllm_prog_bindings bind = { .buf = buf, .scratch = fake,
					   .scratch_size = pi->scratch_bytes };
	/* every row output, each once; none without an OUT_ROWS input */
	const uint32_t n_out = pi->inputs & (1u << KLLM_PROG_IN_OUT_ROWS) ? n : 0;
	struct kllm_prog_batch batch = { .n_tokens = n, .n_outputs = n_out,
		.tokens = ids, .pos = ids, .seq = ids, .out_rows = rows,
		.n_seqs = SEQS, .kv = kv };
	struct kk_kv_seq seqs[SEQS];
	struct kllm_prog_err err;
	struct kllm_prog_job job;
	char msg[256];

	for (uint32_t r = 0; r < n; r++)
		rows[r] = (int32_t)r;
	for (uint32_t id = 0; id < pi->n_buffers; id++) {
		struct kllm_prog_buffer b;

		memcpy(&b, pi->base + pi->buffers_off + (uint64_t)id * pi->buffer_size,
		       sizeof(b));
		buf[id] = (struct kllm_prog_mem){ fake, b.size };
		if (b.kind == KLLM_PROG_BUF_KV)
			for (uint32_t s = 0; s < SEQS; s++)
				kv[s * pi->n_kv + pi->kv_index[id]] =
					(struct kllm_prog_mem){ fake, b.size };
	}
	if (kllm_prog_job_init(&job, pi, &bind, &batch, seqs, &err))
		goto hole;
	for (uint32_t i = 0; i < pi->n_ops; i++) {
		struct kk_op op;

		if (kllm_prog_lower_op(&job, i, &op, &err) < 0)
			goto hole;
	}
	return;
hole:
	kllm_prog_err_format(&err, msg, sizeof(msg));
	fprintf(stderr, "accepted program fails to lower at batch %u: %s\n", n, msg);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kllm_prog_info pi;
	struct kllm_prog_err err;
	uint8_t *copy = malloc(size ? size : 1);	/* exact size: ASan sees over-reads */
	char msg[256];

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (kllm_prog_check(copy, size, &pi, &err)) {
		if (!err.reason || !kllm_prog_err_format(&err, msg, sizeof(msg)))
			abort();
	} else {
		lower_all(&pi, pi.max_batch);
		lower_all(&pi, 1);
	}
	free(copy);
	return 0;
}
