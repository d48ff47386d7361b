// SPDX-License-Identifier: MIT
/*
 * model.c - loading a GGUF model: hyperparameters, and every weight found,
 * shape-checked and type-checked (see model.h).
 */
#include "model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "kk.h"

struct ld {
	struct kllm_model *m;
	struct gguf *g;
	const uint8_t *base;	/* data section in the file */
	char *err;
	size_t errlen;
	char arch[32];
};

static int __attribute__((format(printf, 3, 4)))
fail(struct ld *l, int ret, const char *fmt, ...)
{
	va_list ap;

	if (l->err && l->errlen) {
		va_start(ap, fmt);
		vsnprintf(l->err, l->errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* "<arch>.<suffix>" as a u32: required (def NULL) or defaulted. */
static int hp_u32(struct ld *l, const char *suffix, const uint32_t *def, uint32_t *out)
{
	char key[96];
	int ret;

	snprintf(key, sizeof(key), "%s.%s", l->arch, suffix);
	ret = gguf_get_u32(l->g, key, out);
	if (ret == -ENOENT && def) {
		*out = *def;
		return 0;
	}
	if (ret == -ENOENT)
		return fail(l, -EINVAL, "missing key %s", key);
	if (ret)
		return fail(l, -EINVAL, "key %s: not a 32-bit unsigned integer", key);
	return 0;
}

static int hp_f32(struct ld *l, const char *suffix, float def, float *out)
{
	char key[96];
	int ret;

	snprintf(key, sizeof(key), "%s.%s", l->arch, suffix);
	ret = gguf_get_f32(l->g, key, out);
	if (ret == -ENOENT) {
		*out = def;
		return 0;
	}
	if (ret)
		return fail(l, -EINVAL, "key %s: not a float", key);
	return 0;
}

static int read_arch(struct ld *l)
{
	struct gguf_str s;
	int ret = gguf_get_str(l->g, "general.architecture", &s);

	if (ret == -ENOENT)
		return fail(l, -EINVAL, "missing key general.architecture");
	if (ret)
		return fail(l, -EINVAL, "key general.architecture: not a string");
	if (s.n == 5 && !memcmp(s.s, "llama", 5)) {
		memcpy(l->arch, "llama", 6);
		l->m->hp.arch = KLLM_ARCH_LLAMA;
		return 0;
	}
	return fail(l, -ENOTSUP, "unsupported architecture '%.*s'",
		    (int)(s.n > 40 ? 40 : s.n), s.s);
}

/* Only linear RoPE scaling (a plain freq_scale) is supported so far. */
static int rope_scaling(struct ld *l)
{
	struct gguf_str s;
	char key[96];
	int ret;

	snprintf(key, sizeof(key), "%s.rope.scaling.type", l->arch);
	ret = gguf_get_str(l->g, key, &s);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return fail(l, -EINVAL, "key %s: not a string", key);
	if ((s.n == 6 && !memcmp(s.s, "linear", 6)) || (s.n == 4 && !memcmp(s.s, "none", 4)))
		return 0;
	return fail(l, -ENOTSUP, "unsupported rope scaling '%.*s'",
		    (int)(s.n > 40 ? 40 : s.n), s.s);
}

static int read_hparams(struct ld *l)
{
	struct kllm_hparams *hp = &l->m->hp;
	uint32_t dflt, key_len, val_len;
	float scale;
	int ret;

	if ((ret = hp_u32(l, "block_count", NULL, &hp->n_layer)) ||
	    (ret = hp_u32(l, "embedding_length", NULL, &hp->n_embd)) ||
	    (ret = hp_u32(l, "feed_forward_length", NULL, &hp->n_ff)) ||
	    (ret = hp_u32(l, "attention.head_count", NULL, &hp->n_head)) ||
	    (ret = hp_u32(l, "context_length", NULL, &hp->n_ctx_train)))
		return ret;
	if (!hp->n_layer || !hp->n_embd || !hp->n_ff || !hp->n_head)
		return fail(l, -EINVAL, "%s: block_count, embedding_length, "
			    "feed_forward_length and head_count must be non-zero", l->arch);
	dflt = hp->n_head;
	if ((ret = hp_u32(l, "attention.head_count_kv", &dflt, &hp->n_head_kv)))
		return ret;
	dflt = hp->n_embd / hp->n_head;
	if ((ret = hp_u32(l, "attention.key_length", &dflt, &key_len)) ||
	    (ret = hp_u32(l, "attention.value_length", &key_len, &val_len)))
		return ret;
	if (key_len != val_len)
		return fail(l, -ENOTSUP, "%s: key_length %u differs from value_length %u",
			    l->arch, key_len, val_len);
	hp->head_dim = key_len;
	if (!hp->n_head_kv || hp->n_head % hp->n_head_kv)
		return fail(l, -EINVAL, "%s: head_count %u is not a multiple of head_count_kv %u",
			    l->arch, hp->n_head, hp->n_head_kv);
	if (!hp->head_dim || hp->head_dim % 2)
		return fail(l, -EINVAL, "%s: head dimension %u is not even", l->arch,
			    hp->head_dim);
	dflt = hp->head_dim;
	if ((ret = hp_u32(l, "rope.dimension_count", &dflt, &hp->n_rot)))
		return ret;
	if (!hp->n_rot || hp->n_rot % 2 || hp->n_rot > hp->head_dim)
		return fail(l, -EINVAL, "%s: rope.dimension_count %u: must be even, "
			    "non-zero and at most the head dimension %u",
			    l->arch, hp->n_rot, hp->head_dim);
	if ((ret = rope_scaling(l)))
		return ret;
	if ((ret = hp_f32(l, "rope.freq_base", 10000.0f, &hp->rope_freq_base)) ||
	    (ret = hp_f32(l, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps)) ||
	    (ret = hp_f32(l, "rope.scaling.factor", 1.0f, &scale)))
		return ret;
	if (!(hp->rope_freq_base > 0) || !(hp->rms_eps >= 0) || !(scale > 0))
		return fail(l, -EINVAL, "%s: rope.freq_base, rope.scaling.factor and "
			    "layer_norm_rms_epsilon must be positive", l->arch);
	hp->rope_freq_scale = 1.0f / scale;
	return 0;
}

enum wclass { W_MATRIX, W_NORM };

/*
 * Find tensor @name and check it: @ne0 elements per row and @rows rows (0:
 * any), a type the kernels take for the role.  Returns 0, 1 if absent and
 * !required, or a negative errno with the message.
 */
static int get_weight(struct ld *l, const char *name, int required, uint64_t ne0,
		      uint64_t rows, enum wclass cls, struct kllm_weight *w)
{
	struct gguf_tensor_info ti;
	int64_t idx = gguf_find_tensor(l->g, name);
	uint64_t nrows;
	int ret;

	if (idx < 0)
		return required ? fail(l, -EINVAL, "tensor %s: missing", name) : 1;
	ret = gguf_tensor_at(l->g, (uint64_t)idx, &ti, NULL, 0);
	if (ret == -ENOTSUP)
		return fail(l, -ENOTSUP, "tensor %s: type %s not supported", name,
			    gguf_tensor_type_name(ti.type));
	if (ret)
		return fail(l, ret, "tensor %s: unreadable", name);
	nrows = ti.ne[1] * ti.ne[2] * ti.ne[3];
	if (ti.ne[0] != ne0 || (rows && nrows != rows) || ti.ne[2] != 1 || ti.ne[3] != 1) {
		if (rows)
			return fail(l, -EINVAL, "tensor %s: shape [%llu, %llu, %llu, %llu] "
				    "where [%llu, %llu] was expected", name,
				    (unsigned long long)ti.ne[0], (unsigned long long)ti.ne[1],
				    (unsigned long long)ti.ne[2], (unsigned long long)ti.ne[3],
				    (unsigned long long)ne0, (unsigned long long)rows);
		return fail(l, -EINVAL, "tensor %s: shape [%llu, %llu, %llu, %llu] "
			    "where [%llu, n] was expected", name,
			    (unsigned long long)ti.ne[0], (unsigned long long)ti.ne[1],
			    (unsigned long long)ti.ne[2], (unsigned long long)ti.ne[3],
			    (unsigned long long)ne0);
	}
	if (!nrows || nrows > UINT32_MAX || ne0 > UINT32_MAX)
		return fail(l, -EINVAL, "tensor %s: too many rows", name);
	if (cls == W_NORM && ti.type != KK_TYPE_F32)
		return fail(l, -ENOTSUP, "tensor %s: type %s not supported (f32 needed)",
			    name, gguf_tensor_type_name(ti.type));
	if (cls == W_MATRIX && !kk_type_is_weight(ti.type))
		return fail(l, -ENOTSUP, "tensor %s: type %s not supported", name,
			    gguf_tensor_type_name(ti.type));
	*w = (struct kllm_weight){ .type = ti.type, .ne0 = (uint32_t)ne0,
		.rows = (uint32_t)nrows, .offset = ti.offset,
		.row_bytes = kk_row_bytes(ti.type, ne0) };
	if (!w->row_bytes || w->row_bytes * nrows != ti.size)
		return fail(l, -EINVAL, "tensor %s: size does not match its shape", name);
	w->data = (const uint8_t *)l->m->data + ti.offset;
	return 0;
}

static int get_layer(struct ld *l, uint32_t i)
{
	const struct kllm_hparams *hp = &l->m->hp;
	struct kllm_layer *ly = &l->m->layers[i];
	const uint64_t d = hp->n_embd, q = (uint64_t)hp->n_head * hp->head_dim;
	const uint64_t kv = (uint64_t)hp->n_head_kv * hp->head_dim;
	const struct {
		const char *name;
		struct kllm_weight *w;
		uint64_t ne0, rows;
		enum wclass cls;
	} ws[] = {
		{ "attn_norm", &ly->attn_norm, d, 1, W_NORM },
		{ "attn_q", &ly->wq, d, q, W_MATRIX },
		{ "attn_k", &ly->wk, d, kv, W_MATRIX },
		{ "attn_v", &ly->wv, d, kv, W_MATRIX },
		{ "attn_output", &ly->wo, q, d, W_MATRIX },
		{ "ffn_norm", &ly->ffn_norm, d, 1, W_NORM },
		{ "ffn_gate", &ly->gate, d, hp->n_ff, W_MATRIX },
		{ "ffn_up", &ly->up, d, hp->n_ff, W_MATRIX },
		{ "ffn_down", &ly->down, hp->n_ff, d, W_MATRIX },
	};
	char name[GGUF_MAX_NAME + 16];
	int ret;

	for (size_t j = 0; j < sizeof(ws) / sizeof(ws[0]); j++) {
		snprintf(name, sizeof(name), "blk.%u.%s.weight", i, ws[j].name);
		ret = get_weight(l, name, 1, ws[j].ne0, ws[j].rows, ws[j].cls, ws[j].w);
		if (ret)
			return ret;
	}
	return 0;
}

static int get_weights(struct ld *l)
{
	struct kllm_model *m = l->m;
	const struct kllm_hparams *hp = &m->hp;
	int ret;

	ret = get_weight(l, "token_embd.weight", 1, hp->n_embd, 0, W_MATRIX, &m->tok_embd);
	if (ret)
		return ret;
	m->hp.n_vocab = m->tok_embd.rows;
	ret = get_weight(l, "output_norm.weight", 1, hp->n_embd, 1, W_NORM, &m->output_norm);
	if (ret)
		return ret;
	ret = get_weight(l, "output.weight", 0, hp->n_embd, hp->n_vocab, W_MATRIX, &m->output);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		m->output = m->tok_embd;
		m->tied_output = 1;
	}
	ret = get_weight(l, "rope_freqs.weight", 0, hp->n_rot / 2, 1, W_NORM, &m->rope_freqs);
	if (ret < 0)
		return ret;
	m->has_rope_freqs = ret == 0;
	m->layers = calloc(hp->n_layer, sizeof(*m->layers));
	if (!m->layers)
		return fail(l, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < hp->n_layer; i++) {
		ret = get_layer(l, i);
		if (ret)
			return ret;
	}
	return 0;
}

/* The data section, 32-byte aligned for the program's WEIGHTS binding. */
static int map_data(struct ld *l)
{
	struct kllm_model *m = l->m;
	uint64_t off = gguf_data_offset(l->g);
	const uint8_t *p = (const uint8_t *)gguf_file_base(l->g) + off;

	m->data_size = gguf_file_size(l->g) - off;
	if (!((uintptr_t)p % 32)) {
		m->data = p;
		return 0;
	}
	if (posix_memalign(&m->data_copy, 32, m->data_size ? m->data_size : 32))
		return fail(l, -ENOMEM, "out of memory copying the weights");
	memcpy(m->data_copy, p, m->data_size);
	m->data = m->data_copy;
	return 0;
}

int kllm_model_from_gguf(struct kllm_model **out, struct gguf *g, char *err,
			 size_t errlen)
{
	struct ld l = { .g = g, .err = err, .errlen = errlen };
	int ret;

	*out = NULL;
	l.m = calloc(1, sizeof(*l.m));
	if (!l.m) {
		gguf_close(g);
		return fail(&l, -ENOMEM, "out of memory");
	}
	l.m->gguf = g;
	ret = read_arch(&l);
	if (!ret)
		ret = read_hparams(&l);
	if (!ret)
		ret = map_data(&l);
	if (!ret)
		ret = get_weights(&l);
	if (ret) {
		kllm_model_free(l.m);
		return ret;
	}
	*out = l.m;
	return 0;
}

int kllm_model_load(struct kllm_model **out, const char *path, char *err,
		    size_t errlen)
{
	struct gguf *g;
	int ret;

	*out = NULL;
	ret = gguf_open(&g, path, err, errlen);
	if (ret)
		return ret;
	return kllm_model_from_gguf(out, g, err, errlen);
}

void kllm_model_free(struct kllm_model *m)
{
	if (!m)
		return;
	free(m->layers);
	free(m->data_copy);
	gguf_close(m->gguf);
	free(m);
}
