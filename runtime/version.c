// SPDX-License-Identifier: MIT
#include "kllm.h"

#define KLLM_STR_(x) #x
#define KLLM_STR(x) KLLM_STR_(x)

const char *kllm_version(void)
{
	return KLLM_STR(KLLM_VERSION_MAJOR) "." KLLM_STR(KLLM_VERSION_MINOR) "."
		KLLM_STR(KLLM_VERSION_PATCH);
}
