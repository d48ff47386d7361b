/* SPDX-License-Identifier: MIT */
/*
 * kt_models.h - where the unit tests find a real model: tools/fetch-model.sh's
 * cache (KLLM_MODEL_DIR, else $XDG_CACHE_HOME/kllm/models, else
 * ~/.cache/kllm/models).  Under qemu-user (tests/run-aarch64.sh sets
 * KLLM_TEST_EMULATED) a real model takes minutes per case, so it is
 * skipped there; the synthetic models cover the same code.
 */
#ifndef KLLM_KT_MODELS_H
#define KLLM_KT_MODELS_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* SmolLM2-135M-Instruct, relative to the model cache. */
#define KT_SMOLLM2 "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

/*
 * The path of cached model @rel in @path, or -1 after a line saying why
 * @test skips it (emulated, or not fetched).
 */
static inline int kt_model_path(const char *test, const char *rel, char *path, size_t len)
{
	const char *dir = getenv("KLLM_MODEL_DIR"), *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");

	if (getenv("KLLM_TEST_EMULATED")) {
		printf("%s: emulated, %s skipped\n", test, rel);
		return -1;
	}
	if (dir && *dir)
		snprintf(path, len, "%s/%s", dir, rel);
	else if (xdg && *xdg)
		snprintf(path, len, "%s/kllm/models/%s", xdg, rel);
	else
		snprintf(path, len, "%s/.cache/kllm/models/%s", home ? home : "", rel);
	if (access(path, R_OK)) {
		printf("%s: %s absent, skipped\n", test, path);
		return -1;
	}
	return 0;
}

#endif /* KLLM_KT_MODELS_H */
