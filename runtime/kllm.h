/* SPDX-License-Identifier: MIT */
/*
 * kllm.h - public API of libkllm.
 *
 *   model    kllm_llm_load() opens a GGUF file: weights, hyperparameters,
 *            tokenizer and chat template.  Tokenize, detokenize (streaming
 *            whole UTF-8 characters only), format a conversation.
 *   engine   kllm_engine_create() compiles the model for a number of
 *            sequence slots of n_ctx positions each.  Sequences are
 *            created, forked (sharing a prefix computed once) and freed;
 *            a sequence's tokens take positions 0, 1, ... in the order
 *            they are fed, each with its own KV cache.
 *   batching Tokens are fed to sequences (kllm_seq_feed); each
 *            kllm_engine_step() runs one forward pass over the pending
 *            tokens of every sequence: decode tokens of some sequences and
 *            a prefill chunk of another in one batch, at most max_batch
 *            tokens.  Sequences join and leave between steps.  Results
 *            (logits) are bitwise the same however the tokens were batched.
 *   sampling kllm_sampler_*: greedy, temperature, top-k/p, min-p,
 *            penalties, seeded.
 *   generate kllm_generate(): prefill, sample and stream tokens of one
 *            sequence through a callback, stopping at end of generation, a
 *            stop string or a token limit; kllm_abort() from any thread.
 *   also     the library version, the compute kernels' SIMD path and the
 *            thread pool (kllm_cpu_*, kllm_pool_*).
 *
 * This header is the whole public interface: it includes only <stddef.h>
 * and <stdint.h>, is valid C99 and C++, and libkllm.so exports exactly the
 * functions declared here (runtime/libkllm.map; everything else in the
 * library has hidden visibility, and the installed libkllm.a has its
 * internal symbols made local).  Internal callers in this tree use
 * kllm_internal.h.
 *
 * Errors: functions return a negative errno (or NULL) and leave a one-line
 * message for kllm_last_error(), which is per thread (a successful call
 * leaves it as it was).  -EINVAL bad argument
 * (NULL, a sequence out of range or not in use), -ENOSPC a sequence's
 * context is full, -EBUSY no free sequence slot, -ECANCELED aborted,
 * -ENOMEM, -ENOENT/-ENOTSUP/-EINVAL for files that cannot be loaded.
 *
 * Threading:
 *  - kllm_cpu_init() is called by kllm_llm_load/kllm_engine_create; call it
 *    yourself before using kernels or pools directly.
 *  - A loaded model (struct kllm_llm) is read-only: any number of threads
 *    and engines may use it at once (tokenize, detokenize, info, chat).  It
 *    must outlive its engines.
 *  - An engine and its sequences are used by one thread at a time (calls
 *    on one engine must not overlap), except kllm_abort(), which any thread
 *    (or a signal handler) may call at any time while the engine exists.
 *  - A sampler and a kllm_detok stream are used by one thread at a time.
 *  - A pool runs one job at a time (one caller thread per pool).
 */
#ifndef KLLM_H
#define KLLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared up to the matching pop is exported by libkllm.so,
 * whatever -fvisibility the library's (or a user's) objects are built with. */
#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility push(default)
#endif

#define KLLM_VERSION_MAJOR 0
#define KLLM_VERSION_MINOR 1
#define KLLM_VERSION_PATCH 0

/* "0.1.0" */
const char *kllm_version(void);

/* The message of this thread's last failed kllm call ("" if none). */
const char *kllm_last_error(void);

/* ------------------------------------------------------------------ */
/* Models                                                              */

struct kllm_llm;

struct kllm_llm_info {
	const char *arch;	/* general.architecture: "llama", ... */
	const char *name;	/* general.name, or "" */
	uint32_t n_vocab;	/* logits per token (rows of token_embd) */
	uint32_t n_ctx_train;	/* context length it was trained with (0: unknown) */
	uint32_t n_layer, n_embd, n_head, n_head_kv;
	int32_t bos, eos, eot;	/* special tokens, -1 when the vocabulary has none */
	int add_bos;		/* the vocabulary asks for BOS at the start */
	uint64_t weights_bytes;	/* the file's tensor data */
	const char *chat_template;	/* tokenizer.chat_template, or NULL */
};

/*
 * Open and check the GGUF at @path (weights mapped, tokenizer built).
 * 0 and *out, or a negative errno with a one-line message naming the
 * problem ("tensor blk.0.attn_q.weight: missing", "unsupported
 * architecture 'gpt2'").
 */
int kllm_llm_load(const char *path, struct kllm_llm **out);
void kllm_llm_free(struct kllm_llm *llm);	/* NULL: no-op */

/* Facts about the model; valid while it is loaded.  NULL for NULL. */
const struct kllm_llm_info *kllm_llm_info(const struct kllm_llm *llm);

/*
 * Tokenize text[0..len).  @add_special adds BOS (and EOS) as the
 * vocabulary asks, @parse_special turns the text of control tokens
 * ("<|im_start|>") into those tokens, as llama.cpp's llama_tokenize.
 * Returns the number of tokens the text encodes to, snprintf-style: when
 * it exceeds @max_ids only the first max_ids were stored (ids may be NULL
 * when max_ids is 0).  Negative errno on failure.
 */
int kllm_tokenize(const struct kllm_llm *llm, const char *text, size_t len,
		  int add_special, int parse_special, int32_t *ids, size_t max_ids);

/*
 * The bytes of token @id (llama_token_to_piece): control tokens give ""
 * unless @special.  A piece may be part of a UTF-8 character; for output
 * use kllm_detok_push.  Returns the piece length, snprintf-style (at most
 * @size bytes stored, no NUL), or -EINVAL.
 */
int kllm_token_to_piece(const struct kllm_llm *llm, int32_t id, int special,
			char *buf, size_t size);

/* The concatenated pieces of ids[0..n), snprintf-style like above. */
int kllm_detokenize(const struct kllm_llm *llm, const int32_t *ids, size_t n,
		    int special, char *buf, size_t size);

/* 1 if @id ends a generation (EOS, EOT, EOM, ...), else 0. */
int kllm_token_is_eog(const struct kllm_llm *llm, int32_t id);

/*
 * Streaming detokenizer: tokens go in one at a time and only whole UTF-8
 * characters come out; the start of a character split across tokens is
 * held back until it completes (or turns out invalid, then it is emitted
 * as it is).  Zero-initialise (or kllm_detok_init) before use.
 */
struct kllm_detok {
	unsigned char held[4];
	unsigned n_held;
};

static inline void kllm_detok_init(struct kllm_detok *d)
{
	d->n_held = 0;
}

/* Longest output of one kllm_detok_push, for a buffer on the stack. */
#define KLLM_DETOK_MAX 1024

/*
 * Append token @id; writes the text now complete to @out and returns its
 * length (0..).  @size must be at least the piece length + 3 (KLLM_DETOK_MAX
 * always is for pieces that long): else -ENOSPC and the stream is unchanged.
 */
int kllm_detok_push(const struct kllm_llm *llm, struct kllm_detok *d, int32_t id,
		    int special, char *out, size_t size);
/* Emit what is held back (an incomplete character at the end); 0..3 bytes. */
int kllm_detok_flush(struct kllm_detok *d, char *out, size_t size);

/* Chat templates: like llama.cpp's llm_chat_apply_template, recognised by
 * family ("chatml", "llama3", "phi3", "gemma", "mistral-v7", ...). */
struct kllm_chat_message {
	const char *role;	/* "system", "user", "assistant" */
	const char *content;
};

/*
 * The template to use: the family @name, or with NULL the model's
 * tokenizer.chat_template (a model without one gets its architecture's
 * family where there is one, e.g. gemma; kllm_llm_info's chat_template is
 * then NULL).  Its id (>= 0), or -ENOENT when the name is unknown, the
 * model has no template or it is not recognised (the message says which).
 */
int kllm_chat_template(const struct kllm_llm *llm, const char *name);
/* The family name of a template id; NULL when out of range. */
const char *kllm_chat_template_name(int tmpl);

/*
 * Format msgs[0..n) with template @tmpl, with the opening of the
 * assistant's turn when @add_assistant.  snprintf-style: the full length
 * is returned, at most size - 1 bytes and a NUL are written.  BOS is not
 * included (tokenize with add_special).  Negative errno on failure.
 */
int kllm_chat_apply(int tmpl, const struct kllm_chat_message *msgs, size_t n,
		    int add_assistant, char *out, size_t size);

/* ------------------------------------------------------------------ */
/* Sampling (llama.cpp's default chain and semantics)                  */

/*
 *   penalties -> top-k -> top-p -> min-p -> temperature -> dist
 *
 * - penalties: over the last penalty_last_n accepted tokens, a token seen
 *   `count` times gets its logit divided by penalty_repeat when positive
 *   (multiplied when <= 0), then minus count * penalty_freq and minus
 *   penalty_present.
 * - top-k keeps the k largest logits; top-p the smallest prefix by
 *   decreasing probability whose sum reaches p (before temperature);
 *   min-p the tokens at least p times as probable as the best.
 * - temperature <= 0 means greedy: the largest (penalised) logit, the
 *   lowest id on ties.
 * - dist draws with the sampler's own seeded generator and exp(), so a
 *   seed gives the same tokens on every machine and libc.
 */
struct kllm_sampler_params {
	float temperature;	/* <= 0: greedy */
	int32_t top_k;		/* <= 0: off */
	float top_p;		/* >= 1: off */
	float min_p;		/* <= 0: off */
	int32_t min_keep;	/* top-p and min-p keep at least this many */
	int32_t penalty_last_n;	/* history window; 0: penalties off */
	float penalty_repeat;	/* 1: off */
	float penalty_freq;	/* 0: off */
	float penalty_present;	/* 0: off */
	uint64_t seed;
};

struct kllm_sampler;

/* llama.cpp's defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05,
 * last_n 64, no penalties; seed 0. */
void kllm_sampler_default_params(struct kllm_sampler_params *p);
/* NULL on allocation failure or NULL params. */
struct kllm_sampler *kllm_sampler_create(const struct kllm_sampler_params *p);
void kllm_sampler_free(struct kllm_sampler *s);
/*
 * A token id in [0, n_vocab), or -EINVAL / -ENOMEM.  Does not record the
 * token: call kllm_sampler_accept() with the token actually used.
 */
int32_t kllm_sample(struct kllm_sampler *s, const float *logits, int32_t n_vocab);
/* The penalty stage alone, in place.  0, -EINVAL or -ENOMEM. */
int kllm_sampler_penalize(struct kllm_sampler *s, float *logits, int32_t n_vocab);
/* Append a token to the penalty history (prompt tokens too, if wanted). */
void kllm_sampler_accept(struct kllm_sampler *s, int32_t token);
/* Forget the history and restart the generator from the seed. */
void kllm_sampler_reset(struct kllm_sampler *s);
/* The generator's next double in [0, 1). */
double kllm_sampler_uniform(struct kllm_sampler *s);

/* ------------------------------------------------------------------ */
/* Engines and sequences                                               */

struct kllm_engine;

struct kllm_engine_params {
	uint32_t n_seqs;	/* sequence slots (1..4096) */
	uint32_t n_ctx;		/* positions per sequence; 0: n_ctx_train, else 4096 */
	uint32_t max_batch;	/* tokens per forward pass (1..4096, <= n_ctx) */
	uint32_t n_threads;	/* 0: every CPU this process may use */
	/*
	 * KLLM_PRIORITY_*: the device engine's scheduling class for this
	 * engine's jobs (the driver serves interactive before normal before
	 * background, fairly within a class; interactive needs CAP_SYS_NICE,
	 * else kllm_engine_create fails with -EPERM).  The cpu engine ignores
	 * it.
	 */
	uint32_t priority;
	/*
	 * KLLM_KV_*: how the KV cache stores keys and values.  DEFAULT is
	 * env KLLM_KV_TYPE (f16 or q8_0), else F16.  Q8_0 (blocks of 32
	 * int8 with an f16 scale, llama.cpp's -ctk/-ctv q8_0) takes 34/64
	 * of F16's memory and needs a head size that is a multiple of 32,
	 * else kllm_engine_create fails with -EINVAL.
	 */
	uint32_t kv_type;
};

#define KLLM_KV_DEFAULT 0
#define KLLM_KV_F16 1
#define KLLM_KV_Q8_0 2

/*
 * A KV type's name, as llama.cpp's -ctk/-ctv spell it ("f16", "q8_0"):
 * its KLLM_KV_*, or KLLM_KV_DEFAULT for any other string (and NULL).
 * kllm_kv_type_name: the name of KLLM_KV_F16 or KLLM_KV_Q8_0, else
 * "default".
 */
uint32_t kllm_kv_type_parse(const char *name);
const char *kllm_kv_type_name(uint32_t kv_type);

#define KLLM_PRIORITY_NORMAL 0
#define KLLM_PRIORITY_INTERACTIVE 1
#define KLLM_PRIORITY_BACKGROUND 2

/* n_seqs 1, n_ctx 0, max_batch 256, n_threads 0, priority normal, kv_type
 * default. */
void kllm_engine_default_params(struct kllm_engine_params *p);

/*
 * Compile @llm for @p (NULL: defaults; max_batch is lowered to n_ctx) and
 * set up memory and threads.  KV memory of a sequence is allocated when it
 * first runs.  0 and *out, or a negative errno and a message.
 */
int kllm_engine_create(const struct kllm_llm *llm, const struct kllm_engine_params *p,
		       struct kllm_engine **out);
void kllm_engine_free(struct kllm_engine *e);	/* NULL: no-op */
/* The parameters in effect (n_ctx, max_batch and kv_type resolved); NULL
 * for NULL. */
const struct kllm_engine_params *kllm_engine_params(const struct kllm_engine *e);

/*
 * Where the forward passes run, chosen at kllm_engine_create by the
 * environment variable KLLM_ENGINE:
 *   cpu    in this process, on its thread pool;
 *   dev    in the kllm kernel driver (kllm.ko: /dev/accel/accelN, or
 *          /dev/dri/renderDN before Linux 6.2), which pins the model
 *          file's weights and runs jobs submitted through io_uring, or
 *          through its ioctls where io_uring is not allowed; no node,
 *          a driver older than UAPI 1.1, a model not loaded from a file
 *          or a library built without liburing/libdrm make
 *          kllm_engine_create fail with a message saying which;
 *   auto   (default, also when unset) dev when a kllm node opens and the
 *          model is a file, else cpu; a node that opens but refuses the
 *          model (the driver's pin quota or limits) is an error, as with
 *          dev, not a silent fall back.
 * Results are bitwise the same on both when the driver runs the same
 * SIMD path (its simd= parameter, KLLM_SIMD here).  Returns "cpu",
 * "dev (io_uring)" or "dev (ioctl)"; NULL for NULL.
 */
const char *kllm_engine_backend(const struct kllm_engine *e);

/*
 * A new empty sequence: its id (0..n_seqs-1, the lowest free slot), or
 * -EBUSY when every slot is in use.
 */
int kllm_seq_new(struct kllm_engine *e);

/*
 * A new sequence holding the first @n_keep tokens of sequence @parent
 * (n_keep <= kllm_seq_len(parent)): the KV rows of the positions the
 * parent has computed are copied, so a shared prefix is computed once;
 * tokens the parent holds but has not computed yet are copied as pending
 * input.  When n_keep is everything the parent computed, the child also
 * gets its logits.  The new id, or -EBUSY, -EINVAL, -ENOMEM.
 */
int kllm_seq_fork(struct kllm_engine *e, int seq, uint32_t n_keep);

/* Release a sequence's slot and KV memory.  0 or -EINVAL. */
int kllm_seq_free(struct kllm_engine *e, int seq);

/*
 * Keep only the first @n_keep tokens of a sequence (to rewind it); its
 * logits stay valid only when nothing is removed.  0 or -EINVAL.
 */
int kllm_seq_truncate(struct kllm_engine *e, int seq, uint32_t n_keep);

/*
 * Put a new sequence (one that has computed nothing yet) in prefix-cache
 * partition @partition: sequences of different partitions never share
 * cached KV blocks (a service gives each app identity its own, so no app
 * learns from timing what another asked).  0 by default.  0, -EINVAL,
 * -EBUSY (it has computed positions).
 *
 * The prefix cache: KV memory is kept in blocks of KLLM_KV_BLOCK
 * positions (default 16).  A block filled in order is kept, keyed by
 * every token up to its end, and a new sequence whose input starts with
 * cached blocks takes them instead of computing them (at its first step;
 * KLLM_PREFIX_CACHE=N keeps at most N positions of blocks no sequence
 * holds, default n_ctx, 0 none).  Results are the same bits either way.
 */
int kllm_seq_set_partition(struct kllm_engine *e, int seq, uint32_t partition);

/*
 * Tokens the sequence holds: computed ones and pending input (the next
 * position is this value), or -EINVAL.
 */
int kllm_seq_len(const struct kllm_engine *e, int seq);
/* Of which pending (fed, not yet run), or -EINVAL. */
int kllm_seq_pending(const struct kllm_engine *e, int seq);
/* Of which computed positions the prefix cache gave it, or -EINVAL. */
int kllm_seq_cached(const struct kllm_engine *e, int seq);

/*
 * Append ids[0..n) to the sequence's pending input (copied).  Nothing is
 * computed until a step.  -ENOSPC (and nothing changes) when the sequence
 * would hold more than n_ctx tokens; -EINVAL for a bad id or sequence.
 */
int kllm_seq_feed(struct kllm_engine *e, int seq, const int32_t *ids, size_t n);

/*
 * One forward pass over pending input of the engine's sequences, at most
 * max_batch tokens: first the token of every sequence that has exactly
 * one pending (decoding), then chunks of the longer inputs (chunked
 * prefill); each kind is served round-robin across steps, so none waits
 * for ever when the batch is too small for all.  A sequence whose input
 * is used up gets the logits of its last token.  Sequences may be
 * created, fed and freed between steps (continuous batching).  Returns
 * the number of tokens run (0: nothing was pending), -ECANCELED after
 * kllm_abort(), or a negative errno; on failure no sequence changed.
 */
int kllm_engine_step(struct kllm_engine *e);

/*
 * Run forward passes over sequence @seq's pending input alone, in chunks
 * of max_batch, until none is left (its logits are then ready).  The
 * abort flag is checked before each chunk.  0, -ECANCELED (the chunks run
 * so far are kept), or a negative errno.  On the device engine an input
 * longer than max_batch goes to the driver as all its chunks in one
 * submission (one io_uring_enter): the abort flag is checked before it.
 */
int kllm_seq_decode(struct kllm_engine *e, int seq);

/*
 * The logits (n_vocab floats) after the sequence's last token, valid
 * until the next call that changes the sequence; NULL (with a message)
 * when it has pending input or none ran yet.
 */
const float *kllm_seq_logits(const struct kllm_engine *e, int seq);

/* Sample from kllm_seq_logits with @s (not accepted, not fed): an id or
 * a negative errno. */
int32_t kllm_seq_sample(struct kllm_engine *e, int seq, struct kllm_sampler *s);

/* What an engine has done and holds (kllm_engine_get_stats). */
struct kllm_engine_stats {
	uint64_t tokens_computed;	/* positions run through forward passes */
	uint64_t tokens_cached;		/* positions taken from the prefix cache */
	uint64_t kv_block_bytes;	/* bytes of one KV block */
	uint32_t kv_block_tokens;	/* positions per block */
	uint32_t kv_blocks;		/* blocks the KV memory has room for */
	uint32_t kv_blocks_used;	/* held by a sequence or cached */
	uint32_t kv_blocks_cached;	/* of which in the prefix cache */
	uint32_t kv_blocks_idle;	/* cached and held by none (evictable) */
	uint32_t pad;
	uint64_t cache_hits;		/* blocks found in the prefix cache */
	uint64_t cache_evicted;		/* cached blocks given back */
};

/* 0 and *st, or -EINVAL. */
int kllm_engine_get_stats(const struct kllm_engine *e, struct kllm_engine_stats *st);

/*
 * Ask a running kllm_engine_step / kllm_seq_decode / kllm_generate on @e
 * to stop: checked between forward passes, it then returns -ECANCELED.
 * Any thread may call it, also a signal handler.  The flag stays set
 * (every such call fails) until kllm_abort_clear() by the engine's user.
 */
void kllm_abort(struct kllm_engine *e);
void kllm_abort_clear(struct kllm_engine *e);

/* ------------------------------------------------------------------ */
/* Generation                                                          */

/*
 * Called for every generated token with the text it completes (may be
 * empty: part of a UTF-8 character, or text held back because it may
 * start a stop string) and once at the end with token -1 for the text
 * still held, if any.  Return non-zero to stop the generation.
 */
typedef int (*kllm_token_fn)(void *arg, int32_t token, const char *text, size_t len);

enum kllm_stop {
	KLLM_STOP_EOG = 1,	/* an end-of-generation token (not fed, not shown) */
	KLLM_STOP_LIMIT,	/* n_predict tokens */
	KLLM_STOP_STRING,	/* a stop string (it and what follows not shown) */
	KLLM_STOP_CALLBACK	/* the callback returned non-zero */
};

struct kllm_gen_params {
	int32_t n_predict;		/* tokens at most; < 0: no limit */
	const char *const *stop;	/* stop strings (non-empty), or NULL */
	size_t n_stop;
	int special;			/* render control tokens' text */
	kllm_token_fn on_token;		/* NULL: no streaming */
	void *arg;
	/*
	 * Prompt-lookup decoding (llama.cpp's lookup / ngram speculation):
	 * after each token, draft up to n_draft tokens (0: off; at most 32)
	 * that followed an earlier occurrence, in the sequence or in what
	 * was generated, of its last n tokens (n from ngram_max down to
	 * ngram_min; 0: 4 and 1), run them in one forward pass and keep
	 * those the sampler picks anyway (fewer are drafted while drafts
	 * miss).  The output, the counts and the sequence left behind are
	 * the same as without it, bit for bit, with any sampler; it only
	 * saves time where the text repeats the context (quoting, code
	 * edits), and costs some where it does not.
	 */
	uint32_t n_draft;
	uint32_t ngram_min, ngram_max;
};

struct kllm_gen_result {
	int stop;			/* enum kllm_stop, 0 on error */
	uint32_t n_prompt;		/* pending tokens run before sampling */
	uint32_t n_gen;			/* tokens sampled, EOG excluded */
	double t_prompt_s, t_gen_s;	/* wall time of prefill and generation */
	uint32_t n_draft;		/* draft tokens run (n_draft > 0) */
	uint32_t n_draft_accepted;	/* of those, tokens the sampler chose */
};

/*
 * Generate with sequence @seq: run its pending input (chunked), then
 * repeatedly sample with @s, accept the token into @s, and append it to
 * the sequence until a stop condition.  Every generated token but an EOG
 * is appended, the last one as pending input (computed by the next
 * decode), so the sequence can simply be continued.  Only this sequence
 * runs.  Prompt tokens are not accepted into @s (call kllm_sampler_accept
 * for them if penalties should see the prompt).
 * 0 with @res filled (may be NULL), or -ECANCELED, -ENOSPC (the context
 * filled up; what was generated stays), or another negative errno; @res
 * holds the counts in every case.
 */
int kllm_generate(struct kllm_engine *e, int seq, struct kllm_sampler *s,
		  const struct kllm_gen_params *p, struct kllm_gen_result *res);

/* ------------------------------------------------------------------ */
/* CPU: the compute kernels' SIMD path                                 */

/* SIMD paths (values of kllm_cpu_init and friends). */
#define KLLM_SIMD_SCALAR 0	/* portable reference, always available */
#define KLLM_SIMD_AVX2 1	/* x86-64 AVX2 + FMA + F16C */
#define KLLM_SIMD_AVX512 2	/* AVX-512 F/BW/VL/DQ (+VNNI when present) */
#define KLLM_SIMD_NEON 3	/* aarch64 Advanced SIMD */
#define KLLM_SIMD_NEON_DOTPROD 4 /* aarch64 + SDOT/UDOT */
/* x86-64, never chosen by default (KLLM_SIMD=ggml): llama.cpp's ggml-cpu
 * arithmetic bit for bit, for checking against llama.cpp.  Slow. */
#define KLLM_SIMD_GGML 5
#define KLLM_SIMD_NEON_I8MM 6	/* aarch64 + SDOT + SMMLA (i8mm) */

/*
 * Detect the SIMD paths and select one: the best available, or the one
 * env KLLM_SIMD names (scalar|avx2|avx512|neon|dotprod|i8mm|ggml).  A name that is
 * unknown or not available prints a message on stderr and falls back to
 * the best path.  Idempotent and thread-safe: later calls return the first
 * result.  Returns the selected path (KLLM_SIMD_*).
 */
uint32_t kllm_cpu_init(void);

/* Mask of available paths (1u << KLLM_SIMD_*); calls kllm_cpu_init(). */
uint32_t kllm_cpu_simd_mask(void);

/*
 * Select @simd for all later computation (tools and tests switching
 * paths).  0, or -ENOTSUP if this CPU or build lacks it.  Not while an
 * engine or pool job runs.
 */
int kllm_cpu_select(uint32_t simd);

/*
 * Parse a path name ("avx2") for a tool's option: the path, or -EINVAL for
 * an unknown name, -ENOTSUP for a known one this CPU lacks.
 */
int kllm_cpu_parse_simd(const char *name);

/* The name of a path ("avx2"), "?" when out of range. */
const char *kllm_simd_name(uint32_t simd);

/* CPUs this process may run on (affinity mask), at least 1. */
unsigned int kllm_cpu_count(void);

/* ------------------------------------------------------------------ */
/* Thread pool                                                         */

/*
 * A pool of n threads runs parallel-for jobs: the calling thread takes part,
 * n - 1 worker threads help.  Between jobs the workers spin briefly and then
 * sleep, so an idle pool burns no CPU.  One job runs at a time: concurrent
 * callers are serialised, and a parallel-for issued from inside a job runs
 * inline on the calling thread.  Give a pool no more threads than the cores
 * it may use (kllm_cpu_count): every worker takes part in every job.
 */
struct kllm_pool;

/* Most threads a pool may have (callers should pass what the CPU offers). */
#define KLLM_POOL_MAX_THREADS 512

/*
 * Create a pool of @n_threads threads in all, the caller included (so 1
 * starts no worker).  0 and *out set, or -EINVAL (n_threads 0 or above
 * KLLM_POOL_MAX_THREADS), -ENOMEM, -EAGAIN (thread creation failed).
 */
int kllm_pool_create(unsigned int n_threads, struct kllm_pool **out);
/* Stop and join the workers, free the pool.  NULL is a no-op.  No job may
 * be running. */
void kllm_pool_destroy(struct kllm_pool *pool);
/* Threads taking part in each job, the caller included. */
unsigned int kllm_pool_threads(const struct kllm_pool *pool);

/* The range function of a job. */
typedef void (*kllm_range_fn)(void *arg, uint64_t begin, uint64_t end);

/*
 * Call fn(arg, b, e) over disjoint ranges covering [0, n_items), each at most
 * @chunk items (0 counts as 1), on the pool's threads; return when all are
 * done.  Ranges start at multiples of chunk.  Everything fn wrote is visible
 * to the caller on return.
 */
void kllm_pool_parallel_for(struct kllm_pool *pool, kllm_range_fn fn, void *arg,
			    uint64_t n_items, uint64_t chunk);

/*
 * Tuning: how long (ns) an idle worker spins before it sleeps, and how long
 * the caller spins waiting for the workers to finish before it sleeps.
 * Default KLLM_POOL_SPIN_NS, overridable with env KLLM_POOL_SPIN_NS at
 * create time.  0 = sleep at once.
 */
#define KLLM_POOL_SPIN_NS 100000u
void kllm_pool_set_spin_ns(struct kllm_pool *pool, uint32_t ns);

/* Counters for tests and tuning (monotonic since create). */
struct kllm_pool_stats {
	uint64_t jobs;		/* parallel_for calls */
	uint64_t jobs_inline;	/* of which ran on the caller alone */
	uint64_t worker_sleeps;	/* times a worker went to sleep on the futex */
	uint64_t caller_sleeps;	/* times the caller slept waiting for workers */
};
void kllm_pool_get_stats(const struct kllm_pool *pool, struct kllm_pool_stats *st);

#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* KLLM_H */
