// SPDX-License-Identifier: MIT
/*
 * api_err.c - the public API's error messages: one per thread, so that a
 * loaded model can be shared by threads and a NULL handle can still be
 * reported.
 */
#include <stdarg.h>
#include <stdio.h>

#include "api_int.h"

static _Thread_local char last_error[256];

int api_fail(int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return ret;
}

const char *kllm_last_error(void)
{
	return last_error;
}
