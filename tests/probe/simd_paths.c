// SPDX-License-Identifier: MIT
/*
 * simd_paths.c - prints the SIMD paths kernels/ detects on this CPU, space
 * separated; with arguments, exits non-zero unless they are exactly those.
 */
#include <stdio.h>
#include <string.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "kk.h"

int main(int argc, char **argv)
{
	unsigned long hwcap = 0;
	char have[128] = "", want[128] = "";
	kk_u32 mask, s;

#if defined(__aarch64__)
	hwcap = getauxval(AT_HWCAP);
#endif
	mask = kk_simd_available(hwcap);
	for (s = 0; s < KK_SIMD_COUNT; s++) {
		if (!(mask & (1u << s)))
			continue;
		if (have[0])
			strcat(have, " ");
		strcat(have, kk_simd_name(s));
	}
	printf("%s\n", have);
	if (argc < 2)
		return 0;
	for (int i = 1; i < argc; i++) {
		if (want[0])
			strcat(want, " ");
		strncat(want, argv[i], sizeof(want) - strlen(want) - 2);
	}
	if (strcmp(have, want)) {
		fprintf(stderr, "simd_paths: detected \"%s\", expected \"%s\"\n", have, want);
		return 1;
	}
	return 0;
}
