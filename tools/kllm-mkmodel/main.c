// SPDX-License-Identifier: MIT
/*
 * kllm-mkmodel - write a seeded, synthetic GGUF of the llama, qwen2 or
 * gemma3 architecture.
 *
 * The weights are random but valid blocks of the requested type (see
 * gen.c), so real model shapes (TinyLlama 1.1B, Llama-2 7B, SmolLM2 135M)
 * can be produced in seconds for benchmarks and tests without downloading
 * anything.  Tensors are streamed to the file one chunk at a time.
 *
 * --help on stdout (status 0); a usage error is one line on stderr with
 * status 2, a failed write one line with status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "kk.h"
#include "kllm.h"
#include "mkmodel.h"
#include "../tool_opt.h"

/* The Makefile's VERSION (-DKLLM_VERSION); a build without it asks the library. */
#ifndef KLLM_VERSION
#define KLLM_VERSION kllm_version()
#endif

#define CHUNK_BYTES (4u << 20)
#define MAX_TENSORS (16 + 16 * 1024)

struct shape {
	const char *name;
	uint32_t layers, embd, heads, kv_heads, ffn, vocab, ctx;
	int tied;
	float rope_base, eps;
	const char *arch;	/* the shape's architecture (--arch overrides) */
	uint32_t head_dim;	/* attention.key_length; 0: embd / heads */
	uint32_t swa;		/* gemma3: attention.sliding_window */
};

static const struct shape shapes[] = {
	{ "tiny", 2, 256, 4, 2, 512, 512, 512, 0, 10000.0f, 1e-5f, "llama", 0, 0 },
	{ "tinyllama-1.1b", 22, 2048, 32, 4, 5632, 32000, 2048, 0, 10000.0f, 1e-5f,
	  "llama", 0, 0 },
	{ "llama2-7b", 32, 4096, 32, 32, 11008, 32000, 4096, 0, 10000.0f, 1e-5f,
	  "llama", 0, 0 },
	{ "smollm2-135m", 30, 576, 9, 3, 1536, 49152, 8192, 1, 100000.0f, 1e-5f,
	  "llama", 0, 0 },
	{ "qwen2-0.5b", 24, 896, 14, 2, 4864, 151936, 32768, 1, 1000000.0f, 1e-6f,
	  "qwen2", 0, 0 },
	{ "gemma3-270m", 18, 640, 4, 1, 2048, 262144, 32768, 1, 1000000.0f, 1e-6f,
	  "gemma3", 256, 512 },
};

/* --type names, their base tensor type and llama.cpp's general.file_type. */
struct ftype {
	const char *name;
	uint32_t type;
	uint32_t file_type;
	int k_mix;		/* llama.cpp's Q4_K_M tensor mix */
};

static const struct ftype ftypes[] = {
	{ "f32", KK_TYPE_F32, 0, 0 },	{ "f16", KK_TYPE_F16, 1, 0 },
	{ "q4_0", KK_TYPE_Q4_0, 2, 0 },	{ "q4_1", KK_TYPE_Q4_1, 3, 0 },
	{ "q8_0", KK_TYPE_Q8_0, 7, 0 },	{ "q5_0", KK_TYPE_Q5_0, 8, 0 },
	{ "q5_1", KK_TYPE_Q5_1, 9, 0 },	{ "q4_k", KK_TYPE_Q4_K, 14, 0 },
	{ "q5_k", KK_TYPE_Q5_K, 16, 0 }, { "q6_k", KK_TYPE_Q6_K, 18, 0 },
	{ "bf16", KK_TYPE_BF16, 32, 0 }, { "q4_k_m", KK_TYPE_Q4_K, 15, 1 },
};

struct cfg {
	const char *out, *arch, *tokenizer, *name;
	struct shape s;
	const struct ftype *ft;
	uint64_t seed;
	int verbose;
};

struct plan {
	char name[GGUF_MAX_NAME];
	uint32_t type;
	uint32_t n_dims;
	uint64_t ne[2];
	int is_norm;
	int is_bias;
};

static void usage(void)
{
	size_t i;

	printf("usage: kllm-mkmodel -o OUT.gguf [--shape NAME] [--type TYPE] [options]\n"
	       "  Write a seeded GGUF of random but valid weights (llama, qwen2, gemma3).\n"
	       "  -o, --out FILE        the GGUF to write (required)\n"
	       "  --shape NAME          start from a model's shape (default tiny)\n"
	       "  --arch ARCH           llama, qwen2 or gemma3 (default: the shape's)\n"
	       "  --layers N            transformer blocks\n"
	       "  --embd D              embedding width\n"
	       "  --heads H             attention heads\n"
	       "  --kv-heads KV         key/value heads (H a multiple of KV)\n"
	       "  --ffn F               feed-forward width\n"
	       "  --head-dim HD         attention.key_length (default: D / H)\n"
	       "  --swa WINDOW          gemma3: attention.sliding_window\n"
	       "  --vocab V             vocabulary size (without --tokenizer: %u..%u)\n"
	       "  -c, --ctx C           trained context length (context_length)\n"
	       "  --tied                no output.weight: logits use token_embd\n"
	       "  --type TYPE           weight format, or llama.cpp's q4_k_m mix (default q4_0)\n"
	       "  -s, --seed S          seed of the weights (default 1)\n"
	       "  --tokenizer FROM.gguf copy the tokenizer of another GGUF (V from it)\n"
	       "  --name NAME           general.name\n"
	       "  --rope-base B         rope.freq_base\n"
	       "  --eps E               attention.layer_norm_rms_epsilon\n"
	       "  -v, --verbose         list every tensor\n"
	       "  -h, --help            this help\n"
	       "  --version             print the version and exit\n"
	       "shapes:", MK_VOCAB_MIN, MK_VOCAB_MAX);
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		printf(" %s", shapes[i].name);
	printf("\ntypes:");
	for (i = 0; i < sizeof(ftypes) / sizeof(ftypes[0]); i++)
		printf(" %s", ftypes[i].name);
	printf("\nThe summary of what was written goes to stderr.\n");
}

static int parse_u32(const char *opt, const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-') {
		fprintf(stderr, "kllm-mkmodel: %s: bad number '%s'\n", opt, s);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_float(const char *opt, const char *s, float *out)
{
	char *end;

	*out = strtof(s, &end);
	if (end == s || *end || !(*out > 0)) {
		fprintf(stderr, "kllm-mkmodel: %s: bad value '%s'\n", opt, s);
		return -1;
	}
	return 0;
}

enum {
	O_ARCH = 256, O_LAYERS, O_EMBD, O_HEADS, O_KV, O_FFN, O_VOCAB, O_CTX,
	O_TIED, O_TYPE, O_SEED, O_TOK, O_SHAPE, O_NAME, O_ROPE, O_EPS,
	O_HEAD_DIM, O_SWA, O_VERSION,
};

static const struct option long_opts[] = {
	{ "out", required_argument, 0, 'o' },
	{ "arch", required_argument, 0, O_ARCH },
	{ "layers", required_argument, 0, O_LAYERS },
	{ "embd", required_argument, 0, O_EMBD },
	{ "heads", required_argument, 0, O_HEADS },
	{ "kv-heads", required_argument, 0, O_KV },
	{ "ffn", required_argument, 0, O_FFN },
	{ "vocab", required_argument, 0, O_VOCAB },
	{ "ctx", required_argument, 0, 'c' },
	{ "tied", no_argument, 0, O_TIED },
	{ "type", required_argument, 0, O_TYPE },
	{ "seed", required_argument, 0, 's' },
	{ "tokenizer", required_argument, 0, O_TOK },
	{ "shape", required_argument, 0, O_SHAPE },
	{ "name", required_argument, 0, O_NAME },
	{ "rope-base", required_argument, 0, O_ROPE },
	{ "eps", required_argument, 0, O_EPS },
	{ "head-dim", required_argument, 0, O_HEAD_DIM },
	{ "swa", required_argument, 0, O_SWA },
	{ "verbose", no_argument, 0, 'v' },
	{ "help", no_argument, 0, 'h' },
	{ "version", no_argument, 0, O_VERSION },
	{ 0, 0, 0, 0 },
};

/* The shape comes first so that explicit flags override its fields. */
static int find_shape(int argc, char **argv, struct shape *s)
{
	const char *want = "tiny";
	size_t i;
	int k;

	for (k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--shape") && k + 1 < argc)
			want = argv[k + 1];
		else if (!strncmp(argv[k], "--shape=", 8))
			want = argv[k] + 8;
	}
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		if (!strcmp(shapes[i].name, want)) {
			*s = shapes[i];
			return 0;
		}
	}
	fprintf(stderr, "kllm-mkmodel: unknown shape '%s' (see --help)\n", want);
	return -1;
}

static int set_type(struct cfg *c, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(ftypes) / sizeof(ftypes[0]); i++) {
		if (!strcasecmp(ftypes[i].name, name)) {
			c->ft = &ftypes[i];
			return 0;
		}
	}
	fprintf(stderr, "kllm-mkmodel: unknown type '%s' (see --help)\n", name);
	return -1;
}

static int opt_error(int o, char **argv)
{
	tool_opt_error("kllm-mkmodel", o, argv);
	return -1;
}

/* One option: 0, or -1 after a one-line message; --help and --version exit. */
static int parse_opt(struct cfg *c, int o, const char *a, char **argv)
{
	unsigned long long seed;
	char *end;

	switch (o) {
	case 'o': c->out = a; return 0;
	case O_ARCH: c->arch = a; return 0;
	case O_LAYERS: return parse_u32("--layers", a, &c->s.layers);
	case O_EMBD: return parse_u32("--embd", a, &c->s.embd);
	case O_HEADS: return parse_u32("--heads", a, &c->s.heads);
	case O_KV: return parse_u32("--kv-heads", a, &c->s.kv_heads);
	case O_FFN: return parse_u32("--ffn", a, &c->s.ffn);
	case O_VOCAB: return parse_u32("--vocab", a, &c->s.vocab);
	case 'c': return parse_u32("--ctx", a, &c->s.ctx);
	case O_TIED: c->s.tied = 1; return 0;
	case O_TYPE: return set_type(c, a);
	case O_TOK: c->tokenizer = a; return 0;
	case O_SHAPE: return 0;
	case O_NAME: c->name = a; return 0;
	case O_ROPE: return parse_float("--rope-base", a, &c->s.rope_base);
	case O_EPS: return parse_float("--eps", a, &c->s.eps);
	case O_HEAD_DIM: return parse_u32("--head-dim", a, &c->s.head_dim);
	case O_SWA: return parse_u32("--swa", a, &c->s.swa);
	case 'v': c->verbose = 1; return 0;
	case 's':
		errno = 0;
		seed = strtoull(a, &end, 0);
		if (errno || end == a || *end) {
			fprintf(stderr, "kllm-mkmodel: --seed: bad number '%s'\n", a);
			return -1;
		}
		c->seed = seed;
		return 0;
	case 'h': usage(); exit(0);
	case O_VERSION: printf("kllm-mkmodel %s\n", KLLM_VERSION); exit(0);
	}
	return opt_error(o, argv);
}

_Static_assert(MK_VOCAB_MIN == 259 && MK_VOCAB_MAX == 4194304, "check_cfg's --vocab message");

static int check_cfg(const struct cfg *c)
{
	const struct shape *s = &c->s;
	const char *why = NULL;

	if (!c->out)
		why = "-o OUT.gguf is required";
	else if (strcmp(c->arch, "llama") && strcmp(c->arch, "qwen2") &&
		 strcmp(c->arch, "gemma3"))
		why = "--arch must be llama, qwen2 or gemma3";
	else if (!s->layers || s->layers > 1024)
		why = "--layers must be in [1, 1024]";
	else if (!s->embd || !s->heads || !s->kv_heads || !s->ffn || !s->ctx)
		why = "sizes must be positive";
	else if (s->embd > (1u << 20) || s->ffn > (1u << 22))
		why = "--embd or --ffn is unreasonably large";
	else if (!s->head_dim && (s->embd % s->heads || (s->embd / s->heads) % 2))
		why = "--embd must be a multiple of --heads with an even head size";
	else if (s->head_dim % 2 || s->head_dim > 4096)
		why = "--head-dim must be even and at most 4096";
	else if (s->swa && strcmp(c->arch, "gemma3"))
		why = "--swa is for --arch gemma3";
	else if (s->heads % s->kv_heads)
		why = "--heads must be a multiple of --kv-heads";
	else if (!c->tokenizer && (s->vocab < MK_VOCAB_MIN || s->vocab > MK_VOCAB_MAX))
		why = "--vocab must be in [259, 4194304] without --tokenizer";
	if (why)
		fprintf(stderr, "kllm-mkmodel: %s\n", why);
	return why ? -1 : 0;
}

/* llama.cpp's choice of layers that get more bits in the K mixes. */
static int use_more_bits(uint32_t i, uint32_t n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* llama.cpp's fallback when ne[0] does not fit the type's block size. */
static uint32_t fallback(uint32_t type, uint64_t ncols)
{
	if (ncols % kk_type_block_elems(type) == 0)
		return type;
	switch (type) {
	case KK_TYPE_Q4_K: type = KK_TYPE_Q5_0; break;
	case KK_TYPE_Q5_K: type = KK_TYPE_Q5_1; break;
	case KK_TYPE_Q6_K: type = KK_TYPE_Q8_0; break;
	}
	return ncols % kk_type_block_elems(type) ? KK_TYPE_F16 : type;
}

/* The type of one weight matrix (llama.cpp's llama_tensor_get_type). */
static uint32_t weight_type(const struct cfg *c, const char *role,
			    uint32_t layer, uint64_t ncols)
{
	uint32_t t = c->ft->type;
	int output = !strcmp(role, "output") ||
		     (c->s.tied && !strcmp(role, "token_embd"));

	if (c->ft->k_mix) {
		if (output)
			/* Q6_K, or Q8_0 when the rows do not fit 256-blocks */
			return ncols % 256 ? KK_TYPE_Q8_0 : KK_TYPE_Q6_K;
		if ((!strcmp(role, "attn_v") || !strcmp(role, "ffn_down")) &&
		    use_more_bits(layer, c->s.layers))
			t = KK_TYPE_Q6_K;
	}
	return fallback(t, ncols);
}

static void add_plan(struct plan *p, uint32_t *n, const char *name,
		     uint32_t type, uint64_t ne0, uint64_t ne1)
{
	struct plan *e = &p[(*n)++];

	snprintf(e->name, sizeof(e->name), "%s", name);
	e->type = type;
	e->ne[0] = ne0;
	e->ne[1] = ne1;
	e->n_dims = ne1 ? 2 : 1;
	e->is_norm = !ne1;
}

/* A 1-D f32 tensor of layer l: a norm (values near 1) or a bias. */
static void add_vec(struct plan *p, uint32_t *n, uint32_t l, const char *role,
		    uint64_t ne0, int bias)
{
	char name[GGUF_MAX_NAME];

	snprintf(name, sizeof(name), "blk.%u.%s", l, role);
	add_plan(p, n, name, KK_TYPE_F32, ne0, 0);
	p[*n - 1].is_norm = !bias;
}

static uint32_t head_dim(const struct shape *s)
{
	return s->head_dim ? s->head_dim : s->embd / s->heads;
}

/*
 * Per layer: llama's tensors; qwen2 adds Q/K/V biases, gemma3 the QK-norm
 * and post-attention / post-FFN norms (llama.cpp's names).
 */
static uint32_t make_plan(const struct cfg *c, struct plan *p)
{
	static const char *const roles[] = { "attn_q", "attn_k", "attn_v",
		"attn_output", "ffn_gate", "ffn_up", "ffn_down" };
	const struct shape *s = &c->s;
	const uint64_t hd = head_dim(s), q = hd * s->heads, kv = hd * s->kv_heads;
	uint64_t in[7] = { s->embd, s->embd, s->embd, q, s->embd, s->embd, s->ffn };
	uint64_t out[7] = { q, kv, kv, s->embd, s->ffn, s->ffn, s->embd };
	const int qwen2 = !strcmp(c->arch, "qwen2"), gemma3 = !strcmp(c->arch, "gemma3");
	uint32_t n = 0, l, r, norm = KK_TYPE_F32;	/* norms stay F32, as in llama.cpp */
	char name[GGUF_MAX_NAME];

	add_plan(p, &n, "token_embd.weight",
		 weight_type(c, "token_embd", 0, s->embd), s->embd, s->vocab);
	for (l = 0; l < s->layers; l++) {
		snprintf(name, sizeof(name), "blk.%u.attn_norm.weight", l);
		add_plan(p, &n, name, norm, s->embd, 0);
		for (r = 0; r < 7; r++) {
			if (r == 4) {
				snprintf(name, sizeof(name), "blk.%u.ffn_norm.weight", l);
				add_plan(p, &n, name, norm, s->embd, 0);
			}
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, roles[r]);
			add_plan(p, &n, name, weight_type(c, roles[r], l, in[r]),
				 in[r], out[r]);
		}
		if (qwen2) {
			add_vec(p, &n, l, "attn_q.bias", q, 1);
			add_vec(p, &n, l, "attn_k.bias", kv, 1);
			add_vec(p, &n, l, "attn_v.bias", kv, 1);
		}
		if (gemma3) {
			add_vec(p, &n, l, "attn_q_norm.weight", hd, 0);
			add_vec(p, &n, l, "attn_k_norm.weight", hd, 0);
			add_vec(p, &n, l, "post_attention_norm.weight", s->embd, 0);
			add_vec(p, &n, l, "post_ffw_norm.weight", s->embd, 0);
		}
	}
	add_plan(p, &n, "output_norm.weight", norm, s->embd, 0);
	if (!s->tied)
		add_plan(p, &n, "output.weight",
			 weight_type(c, "output", 0, s->embd), s->embd, s->vocab);
	return n;
}

/* "<arch>.<key>" = v */
static int arch_u32(struct gguf_writer *w, const struct cfg *c, const char *key,
		    uint32_t v)
{
	char k[128];

	snprintf(k, sizeof(k), "%s.%s", c->arch, key);
	return gguf_writer_add_u32(w, k, v);
}

static int arch_f32(struct gguf_writer *w, const struct cfg *c, const char *key,
		    float v)
{
	char k[128];

	snprintf(k, sizeof(k), "%s.%s", c->arch, key);
	return gguf_writer_add_f32(w, k, v);
}

/* The key/value pairs; a failure of the tokenizer's is explained in @err. */
static int add_kvs(struct gguf_writer *w, const struct cfg *c, uint32_t *n_vocab,
		   char *err, size_t errlen)
{
	const struct shape *s = &c->s;
	char name[128];
	int r;

	if (c->name)
		snprintf(name, sizeof(name), "%s", c->name);
	else
		snprintf(name, sizeof(name), "kllm synthetic %s %s seed %llu",
			 s->name, c->ft->name, (unsigned long long)c->seed);
	r = gguf_writer_add_str(w, "general.architecture", c->arch);
	r = r ? r : gguf_writer_add_str(w, "general.name", name);
	if (r)
		return r;
	r = mk_add_tokenizer(w, c->tokenizer, n_vocab, err, errlen);
	if (r)
		return r;
	r = arch_u32(w, c, "vocab_size", *n_vocab);
	r = r ? r : arch_u32(w, c, "context_length", s->ctx);
	r = r ? r : arch_u32(w, c, "embedding_length", s->embd);
	r = r ? r : arch_u32(w, c, "block_count", s->layers);
	r = r ? r : arch_u32(w, c, "feed_forward_length", s->ffn);
	r = r ? r : arch_u32(w, c, "rope.dimension_count", head_dim(s));
	r = r ? r : arch_u32(w, c, "attention.head_count", s->heads);
	r = r ? r : arch_u32(w, c, "attention.head_count_kv", s->kv_heads);
	if (!r && s->head_dim) {
		r = arch_u32(w, c, "attention.key_length", s->head_dim);
		r = r ? r : arch_u32(w, c, "attention.value_length", s->head_dim);
	}
	if (!r && s->swa) {	/* gemma3: the base of its sliding-window layers */
		r = arch_u32(w, c, "attention.sliding_window", s->swa);
		r = r ? r : arch_f32(w, c, "rope.freq_base_swa", 10000.0f);
	}
	r = r ? r : arch_f32(w, c, "attention.layer_norm_rms_epsilon", s->eps);
	r = r ? r : arch_f32(w, c, "rope.freq_base", s->rope_base);
	r = r ? r : gguf_writer_add_u32(w, "general.file_type", c->ft->file_type);
	if (!r && kk_type_block_elems(c->ft->type) > 1)
		r = gguf_writer_add_u32(w, "general.quantization_version", 2);
	return r;
}

/* Generate one tensor a chunk of rows at a time and stream it out. */
static int stream_tensor(struct gguf_writer *w, const struct cfg *c,
			 const struct plan *t, void *buf)
{
	uint64_t row = kk_row_bytes(t->type, t->ne[0]);
	uint64_t rows = t->n_dims == 2 ? t->ne[1] : 1, done, k;
	uint64_t per = CHUNK_BYTES / row ? CHUNK_BYTES / row : 1;
	float sigma = 1.0f / sqrtf((float)t->ne[0]);
	struct mk_rng rng;
	int r = 0;

	mk_rng_seed(&rng, c->seed, t->name);
	for (done = 0; done < rows && !r; done += k) {
		k = rows - done < per ? rows - done : per;
		if (t->is_norm)
			mk_gen_norm(&rng, buf, t->ne[0]);
		else
			r = mk_gen(t->type, &rng, sigma, buf, k * t->ne[0]);
		if (!r)
			r = gguf_writer_stream(w, buf, (size_t)(k * row));
	}
	return r;
}

static void print_summary(const struct cfg *c, const struct plan *p, uint32_t n,
			  uint32_t n_vocab, uint64_t total)
{
	uint64_t bytes[KK_TYPE_COUNT] = { 0 };
	uint32_t count[KK_TYPE_COUNT] = { 0 }, i;

	for (i = 0; i < n; i++) {
		uint64_t b = kk_row_bytes(p[i].type, p[i].ne[0]) *
			     (p[i].n_dims == 2 ? p[i].ne[1] : 1);

		count[p[i].type]++;
		bytes[p[i].type] += b;
		if (c->verbose)
			fprintf(stderr, "  %-28s %-5s [%llu, %llu] %llu bytes\n",
				p[i].name, kk_type_name(p[i].type),
				(unsigned long long)p[i].ne[0],
				(unsigned long long)(p[i].n_dims == 2 ? p[i].ne[1] : 1),
				(unsigned long long)b);
	}
	fprintf(stderr, "kllm-mkmodel: wrote %s: %s shape, %u layers, embd %u, "
		"vocab %u, type %s, seed %llu\n", c->out, c->s.name, c->s.layers,
		c->s.embd, n_vocab, c->ft->name, (unsigned long long)c->seed);
	for (i = 0; i < KK_TYPE_COUNT; i++)
		if (count[i])
			fprintf(stderr, "  %-5s %4u tensors %14llu bytes\n",
				kk_type_name(i), count[i], (unsigned long long)bytes[i]);
	fprintf(stderr, "  total %4u tensors %14llu bytes in the file\n", n,
		(unsigned long long)total);
}

static int write_model(struct cfg *c)
{
	struct gguf_writer *w = gguf_writer_new();
	struct plan *p = calloc(MAX_TENSORS, sizeof(*p));
	char *tmp = malloc(strlen(c->out) + 32);
	void *buf = malloc(CHUNK_BYTES + (1u << 20));
	uint32_t n = 0, i;
	int fd = -1, r = -ENOMEM;
	char err[512] = "";

	if (!w || !p || !tmp || !buf)
		goto out;
	r = add_kvs(w, c, &c->s.vocab, err, sizeof(err));
	if (r)
		goto out;
	n = make_plan(c, p);
	for (i = 0; i < n; i++) {
		r = gguf_writer_add_tensor(w, p[i].name, p[i].type, p[i].n_dims,
					   p[i].ne, NULL);
		if (r < 0)
			goto out;
	}
	r = 0;
	sprintf(tmp, "%s.tmp%ld", c->out, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = gguf_writer_begin(w, fd);
	for (i = 0; i < n && !r; i++)
		r = stream_tensor(w, c, &p[i], buf);
	r = r ? r : gguf_writer_end(w);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, c->out) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	else
		print_summary(c, p, n, c->s.vocab, gguf_writer_total_size(w));
out:
	if (r < 0 && err[0])
		fprintf(stderr, "kllm-mkmodel: %s\n", err);
	else if (r < 0)
		fprintf(stderr, "kllm-mkmodel: writing %s failed: %s\n",
			c->out ? c->out : "?", strerror(-r));
	gguf_writer_free(w);
	free(p);
	free(tmp);
	free(buf);
	return r < 0 ? r : 0;
}

int main(int argc, char **argv)
{
	struct cfg c = { .arch = "llama", .ft = &ftypes[2], .seed = 1 };
	int o;

	if (find_shape(argc, argv, &c.s))
		return 2;
	c.arch = c.s.arch;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":o:c:s:vh", long_opts, NULL)) != -1)
		if (parse_opt(&c, o, optarg, argv))
			return 2;
	if (optind < argc) {
		fprintf(stderr, "kllm-mkmodel: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return 2;
	}
	if (check_cfg(&c))
		return 2;
	return write_model(&c) ? 1 : 0;
}
