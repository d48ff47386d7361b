/* SPDX-License-Identifier: MIT */
/*
 * golden_reader.h - reads tests/golden/dequant.txt (written by
 * gen_dequant.py) for the unit tests: "dq" records hold raw blocks and the
 * float32 values gguf decoded them to, "q" records float32 inputs and the
 * blocks gguf encoded them to.  Include after <check.h> (kt.h); define
 * GOLDEN_PATH first.
 */
#ifndef KLLM_GOLDEN_READER_H
#define KLLM_GOLDEN_READER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct golden_case {
	int is_quant;		/* "q" record: float in, bytes out */
	unsigned type;
	char name[16];
	size_t n, nbytes;
	uint8_t *raw;		/* nbytes */
	float *vals;		/* n */
};

static struct golden_case *golden;
static size_t n_golden;
static char golden_header[256];

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_bytes(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);

		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return s[2 * n] == '\0' ? 0 : -1;
}

static int parse_f32(const char *s, float *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = 0;

		for (int k = 0; k < 8; k++) {
			int v = hexval(s[8 * i + k]);

			if (v < 0)
				return -1;
			u = u << 4 | (uint32_t)v;
		}
		memcpy(&out[i], &u, sizeof(u));
	}
	return s[8 * n] == '\0' ? 0 : -1;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void golden_load(void)
{
	char *text = read_file(GOLDEN_PATH), *save = NULL, *line;
	size_t cap = 0;

	ck_assert_msg(text, "cannot read %s", GOLDEN_PATH);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct golden_case *c;
		char kind[4];
		char *l1, *l2;

		if (line[0] == '#') {
			if (!golden_header[0])
				snprintf(golden_header, sizeof(golden_header), "%s", line);
			continue;
		}
		if (n_golden == cap) {
			cap = cap ? 2 * cap : 32;
			golden = realloc(golden, cap * sizeof(*golden));
			ck_assert(golden);
		}
		c = &golden[n_golden++];
		memset(c, 0, sizeof(*c));
		ck_assert_msg(sscanf(line, "%3s %u %15s %zu %zu", kind, &c->type, c->name,
				     &c->n, &c->nbytes) == 5, "bad record: %.60s", line);
		c->is_quant = !strcmp(kind, "q");
		l1 = strtok_r(NULL, "\n", &save);
		l2 = strtok_r(NULL, "\n", &save);
		ck_assert_msg(l1 && l2, "truncated record %s", c->name);
		c->raw = malloc(c->nbytes);
		c->vals = malloc(c->n * sizeof(float));
		ck_assert(c->raw && c->vals);
		if (c->is_quant)
			ck_assert_msg(!parse_f32(l1, c->vals, c->n) &&
				      !parse_bytes(l2, c->raw, c->nbytes), "bad q %s", c->name);
		else
			ck_assert_msg(!parse_bytes(l1, c->raw, c->nbytes) &&
				      !parse_f32(l2, c->vals, c->n), "bad dq %s", c->name);
	}
	free(text);
}

static void golden_free(void)
{
	for (size_t i = 0; i < n_golden; i++) {
		free(golden[i].raw);
		free(golden[i].vals);
	}
	free(golden);
	golden = NULL;
	n_golden = 0;
}

static const struct golden_case *golden_find(int is_quant, unsigned type)
{
	for (size_t i = 0; i < n_golden; i++)
		if (golden[i].is_quant == is_quant && golden[i].type == type)
			return &golden[i];
	return NULL;
}

#endif /* KLLM_GOLDEN_READER_H */
