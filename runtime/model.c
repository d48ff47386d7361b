// SPDX-License-Identifier: MIT
/*
 * model.c - loading a GGUF model: hyperparameters, and every weight found,
 * shape-checked and type-checked (see model.h).
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static const struct {
	const char *name;
	uint32_t arch;
} arches[] = {
	{ "llama", KLLM_ARCH_LLAMA },
	{ "qwen2", KLLM_ARCH_QWEN2 },
	{ "gemma3", KLLM_ARCH_GEMMA3 },
};

const char *kllm_arch_name(uint32_t arch)
{
	for (size_t i = 0; i < sizeof(arches) / sizeof(arches[0]); i++)
		if (arches[i].arch == arch)
			return arches[i].name;
	return "?";
}

static int read_arch(struct ld *l)
{
	struct gguf_str s;
	int ret = gguf_get_str(l->g, "general.architecture", &s);

	if (ret == -ENOENT)
		return fail(l, -EINVAL, "missing key general.architecture");
	if (ret)
		return fail(l, -EINVAL, "key general.architecture: not a string");
	for (size_t i = 0; i < sizeof(arches) / sizeof(arches[0]); i++) {
		if (s.n == strlen(arches[i].name) && !memcmp(s.s, arches[i].name, s.n)) {
			snprintf(l->arch, sizeof(l->arch), "%s", arches[i].name);
			l->m->hp.arch = arches[i].arch;
			return 0;
		}
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

/*
 * What differs between the architectures, as llama.cpp has it: the RoPE
 * style (llama_model_rope_type: NeoX for qwen2 and gemma3), the FFN
 * activation, gemma3's embedding scale, attention scale and sliding window.
 */
static int read_arch_hparams(struct ld *l)
{
	struct kllm_hparams *hp = &l->m->hp;
	const uint32_t zero = 0;
	float cap;
	int ret;

	hp->rope_mode = KK_ROPE_NORMAL;
	hp->ffn_act = KK_UNARY_SILU;
	hp->attn_scale = (float)(1.0 / sqrt((double)hp->head_dim));
	hp->embd_scale = 1.0f;
	hp->rope_freq_base_swa = hp->rope_freq_base;
	if (hp->arch == KLLM_ARCH_QWEN2)
		hp->rope_mode = KK_ROPE_NEOX;
	if (hp->arch != KLLM_ARCH_GEMMA3)
		return 0;
	hp->rope_mode = KK_ROPE_NEOX;
	hp->ffn_act = KK_UNARY_GELU;
	hp->embd_scale = sqrtf((float)hp->n_embd);
	/* gemma_pytorch's query_pre_attn_scalar: n_embd / n_head for the 27B
	 * model (62 layers), else head_dim; llama.cpp keys it on the size */
	hp->attn_scale = hp->n_layer == 62 ?
		1.0f / sqrtf((float)(hp->n_embd / hp->n_head)) :
		1.0f / sqrtf((float)hp->head_dim);
	if ((ret = hp_u32(l, "attention.sliding_window", &zero, &hp->n_swa)) ||
	    (ret = hp_f32(l, "rope.freq_base_swa", 10000.0f, &hp->rope_freq_base_swa)) ||
	    (ret = hp_f32(l, "final_logit_softcapping", 0.0f, &cap)))
		return ret;
	if (!(hp->rope_freq_base_swa > 0))
		return fail(l, -EINVAL, "%s: rope.freq_base_swa must be positive", l->arch);
	if (cap != 0.0f)
		return fail(l, -ENOTSUP, "%s: final_logit_softcapping not supported", l->arch);
	return 0;
}

/*
 * Which layers use the sliding window: <arch>.attention.sliding_window_pattern
 * as one bool per layer, or as a period n (llama.cpp's set_swa_pattern: the
 * last layer of every n is global), by default gemma3's 6.
 */
static int swa_pattern(struct ld *l, uint8_t *is_swa)
{
	const struct kllm_hparams *hp = &l->m->hp;
	uint32_t n = 6, et;
	uint64_t cnt;
	char key[96];
	int64_t idx;
	int ret;

	snprintf(key, sizeof(key), "%s.attention.sliding_window_pattern", l->arch);
	idx = gguf_get_arr(l->g, key, &et, &cnt);
	if (idx >= 0) {
		const uint8_t *b = gguf_arr_data(l->g, (uint64_t)idx);

		if (et != GGUF_TYPE_BOOL || cnt != hp->n_layer || !b)
			return fail(l, -EINVAL, "key %s: not %u bools", key, hp->n_layer);
		for (uint32_t i = 0; i < hp->n_layer; i++)
			is_swa[i] = b[i] != 0;
		return 0;
	}
	ret = gguf_get_u32(l->g, key, &n);
	if (ret && ret != -ENOENT)
		return fail(l, -EINVAL, "key %s: neither bools nor a count", key);
	for (uint32_t i = 0; i < hp->n_layer; i++)
		is_swa[i] = n == 0 || i % n < n - 1;
	return 0;
}

/* Each layer's attention span and RoPE (llama.cpp's get_rope_freq_base). */
static int layer_attention(struct ld *l)
{
	const struct kllm_hparams *hp = &l->m->hp;
	uint8_t *is_swa = calloc(hp->n_layer, 1);
	int ret = 0;

	if (!is_swa)
		return fail(l, -ENOMEM, "out of memory");
	if (hp->n_swa)
		ret = swa_pattern(l, is_swa);
	for (uint32_t i = 0; !ret && i < hp->n_layer; i++) {
		struct kllm_layer *ly = &l->m->layers[i];

		ly->window = is_swa[i] ? hp->n_swa : 0;
		ly->rope_freq_base = is_swa[i] ? hp->rope_freq_base_swa : hp->rope_freq_base;
		ly->rope_freq_scale = is_swa[i] ? 1.0f : hp->rope_freq_scale;
	}
	free(is_swa);
	return ret;
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
	return read_arch_hparams(l);
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
	const uint64_t kv = (uint64_t)hp->n_head_kv * hp->head_dim, hd = hp->head_dim;
	/* REQ: every arch; OPT: where present (biases, as llama.cpp);
	 * GEMMA: gemma3's QK-norm and post-norms, required there only */
	enum { REQ, OPT, GEMMA };
	const struct {
		const char *name;	/* after "blk.<i>." */
		struct kllm_weight *w;
		uint64_t ne0, rows;
		enum wclass cls;
		int need;
	} ws[] = {
		{ "attn_norm.weight", &ly->attn_norm, d, 1, W_NORM, REQ },
		{ "attn_q.weight", &ly->wq, d, q, W_MATRIX, REQ },
		{ "attn_k.weight", &ly->wk, d, kv, W_MATRIX, REQ },
		{ "attn_v.weight", &ly->wv, d, kv, W_MATRIX, REQ },
		{ "attn_q.bias", &ly->bq, q, 1, W_NORM, OPT },
		{ "attn_k.bias", &ly->bk, kv, 1, W_NORM, OPT },
		{ "attn_v.bias", &ly->bv, kv, 1, W_NORM, OPT },
		{ "attn_q_norm.weight", &ly->q_norm, hd, 1, W_NORM, GEMMA },
		{ "attn_k_norm.weight", &ly->k_norm, hd, 1, W_NORM, GEMMA },
		{ "attn_output.weight", &ly->wo, q, d, W_MATRIX, REQ },
		{ "post_attention_norm.weight", &ly->post_attn_norm, d, 1, W_NORM, GEMMA },
		{ "ffn_norm.weight", &ly->ffn_norm, d, 1, W_NORM, REQ },
		{ "ffn_gate.weight", &ly->gate, d, hp->n_ff, W_MATRIX, REQ },
		{ "ffn_up.weight", &ly->up, d, hp->n_ff, W_MATRIX, REQ },
		{ "ffn_down.weight", &ly->down, hp->n_ff, d, W_MATRIX, REQ },
		{ "post_ffw_norm.weight", &ly->post_ffn_norm, d, 1, W_NORM, GEMMA },
	};
	char name[GGUF_MAX_NAME + 16];
	int ret;

	for (size_t j = 0; j < sizeof(ws) / sizeof(ws[0]); j++) {
		if (ws[j].need == GEMMA && hp->arch != KLLM_ARCH_GEMMA3)
			continue;
		snprintf(name, sizeof(name), "blk.%u.%s", i, ws[j].name);
		ret = get_weight(l, name, ws[j].need != OPT, ws[j].ne0, ws[j].rows,
				 ws[j].cls, ws[j].w);
		if (ret < 0)
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
	if (gguf_find_tensor(l->g, "output.bias") >= 0)	/* qwen2 may have one */
		return fail(l, -ENOTSUP, "tensor output.bias: not supported");
	/* frequency factors (Llama 3.1): llama.cpp's qwen2 and gemma3 graphs
	 * do not use them, so neither do we */
	ret = hp->arch != KLLM_ARCH_LLAMA ? 1 :
		get_weight(l, "rope_freqs.weight", 0, hp->n_rot / 2, 1, W_NORM, &m->rope_freqs);
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
	return layer_attention(l);
}

/* The data section, 32-byte aligned for the program's WEIGHTS binding. */
static int map_data(struct ld *l)
{
	struct kllm_model *m = l->m;
	uint64_t off = gguf_data_offset(l->g);
	const uint8_t *p = (const uint8_t *)gguf_file_base(l->g) + off;

	m->data_size = gguf_file_size(l->g) - off;
	m->data_offset = off;
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
	l.m->fd = -1;
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

/*
 * The device engine pins the data section from the file (the CPU engine
 * reads the mapping), so keep it open.  A file replaced since it was
 * mapped (different size) is not used: the device engine then refuses.
 */
static void keep_fd(struct kllm_model *m, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != gguf_file_size(m->gguf)) {
		close(fd);
		return;
	}
	m->fd = fd;
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
	ret = kllm_model_from_gguf(out, g, err, errlen);
	if (!ret)
		keep_fd(*out, path);
	return ret;
}

void kllm_model_free(struct kllm_model *m)
{
	if (!m)
		return;
	free(m->layers);
	free(m->data_copy);
	if (m->fd >= 0)
		close(m->fd);
	gguf_close(m->gguf);
	free(m);
}
