// SPDX-License-Identifier: MIT
/*
 * api_engine.c - the public API's engine: sequence slots over one
 * kllm_ctx (seq.h), pending input per sequence, and the batch step that
 * serves many sequences in one forward pass (see kllm.h).
 *
 * A sequence is a prefix of positions already in its KV cache (n_past)
 * followed by pending tokens.  A step packs pending tokens of several
 * sequences into one kllm_forward batch; kllm_forward gives the same
 * logits however tokens are batched, so continuous batching and chunked
 * prefill change nothing in the results.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "kllm_prog.h"
#include "lookup.h"

uint32_t kllm_kv_type_parse(const char *name)
{
	if (name && !strcmp(name, "f16"))
		return KLLM_KV_F16;
	if (name && !strcmp(name, "q8_0"))
		return KLLM_KV_Q8_0;
	return KLLM_KV_DEFAULT;
}

const char *kllm_kv_type_name(uint32_t kv_type)
{
	return kv_type == KLLM_KV_Q8_0 ? "q8_0" : kv_type == KLLM_KV_F16 ? "f16" : "default";
}

void kllm_engine_default_params(struct kllm_engine_params *p)
{
	if (p)
		*p = (struct kllm_engine_params){ .n_seqs = 1, .max_batch = 256 };
}

static int resolve_params(const struct kllm_llm *llm, struct kllm_engine_params *p)
{
	if (p->priority > KLLM_PRIORITY_BACKGROUND)
		return api_fail(-EINVAL, "priority %u: must be KLLM_PRIORITY_*", p->priority);
	if (p->kv_type > KLLM_KV_Q8_0)
		return api_fail(-EINVAL, "kv_type %u: must be KLLM_KV_*", p->kv_type);
	if (!p->n_seqs || p->n_seqs > KLLM_PROG_MAX_SEQS)
		return api_fail(-EINVAL, "n_seqs %u: must be 1..%u", p->n_seqs,
				KLLM_PROG_MAX_SEQS);
	if (!p->n_ctx)
		p->n_ctx = llm->info.n_ctx_train ? llm->info.n_ctx_train : 4096;
	if (!p->max_batch)
		p->max_batch = 256;
	if (p->max_batch > KLLM_PROG_MAX_BATCH)
		return api_fail(-EINVAL, "max_batch %u: must be 1..%u", p->max_batch,
				KLLM_PROG_MAX_BATCH);
	if (p->max_batch > p->n_ctx)
		p->max_batch = p->n_ctx;
	return 0;
}

static int engine_alloc(struct kllm_engine *e)
{
	const struct kllm_engine_params *p = &e->p;
	uint32_t n_out = p->n_seqs < p->max_batch ? p->n_seqs : p->max_batch;
	void *out = NULL;

	e->seqs = calloc(p->n_seqs, sizeof(*e->seqs));
	/* aligned for the CPU backend to write the logits in place */
	e->out = posix_memalign(&out, 64, 4ull * e->n_vocab * n_out) ? NULL : out;
	e->b_tok = malloc(4ull * p->max_batch);
	e->b_pos = malloc(4ull * p->max_batch);
	e->b_seq = malloc(4ull * p->max_batch);
	e->b_rows = malloc(4ull * n_out);
	e->b_sid = malloc(4ull * n_out);
	e->b_cnt = malloc(4ull * n_out);
	if (!e->seqs || !e->out || !e->b_tok || !e->b_pos || !e->b_seq || !e->b_rows ||
	    !e->b_sid || !e->b_cnt)
		return api_fail(-ENOMEM, "out of memory for the engine");
	return 0;
}

int kllm_engine_create(const struct kllm_llm *llm, const struct kllm_engine_params *p,
		       struct kllm_engine **out)
{
	struct kllm_ctx_opts co;
	struct kllm_engine *e;
	char err[256] = "";
	int ret;

	if (!out || !llm)
		return api_fail(-EINVAL, "kllm_engine_create: NULL %s", out ? "model" : "out");
	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return api_fail(-ENOMEM, "out of memory");
	e->llm = llm;
	e->n_vocab = llm->info.n_vocab;
	if (p)
		e->p = *p;
	else
		kllm_engine_default_params(&e->p);
	atomic_init(&e->abort, 0);
	ret = resolve_params(llm, &e->p);
	if (!ret)
		ret = engine_alloc(e);
	if (!ret) {
		co = (struct kllm_ctx_opts){ .n_ctx = e->p.n_ctx, .max_batch = e->p.max_batch,
					     .n_seqs = e->p.n_seqs, .n_threads = e->p.n_threads,
					     .priority = e->p.priority, .kv_type = e->p.kv_type };
		ret = kllm_ctx_create(&e->ctx, llm->m, &co, err, sizeof(err));
		if (ret)
			api_fail(ret, "%s", err);
		else
			e->p.kv_type = kllm_ctx_program(e->ctx)->kv_type;
	}
	if (ret) {
		kllm_engine_free(e);
		return ret;
	}
	*out = e;
	return 0;
}

void kllm_engine_free(struct kllm_engine *e)
{
	if (!e)
		return;
	for (uint32_t i = 0; e->seqs && i < e->p.n_seqs; i++) {
		free(e->seqs[i].pending);
		free(e->seqs[i].logits);
		free(e->seqs[i].toks);
	}
	free(e->seqs);
	free(e->out);
	free(e->b_tok);
	free(e->b_pos);
	free(e->b_seq);
	free(e->b_rows);
	free(e->b_sid);
	free(e->b_cnt);
	if (e->ctx)
		kllm_ctx_free(e->ctx);
	free(e);
}

const struct kllm_engine_params *kllm_engine_params(const struct kllm_engine *e)
{
	if (!e) {
		api_fail(-EINVAL, "kllm_engine_params: NULL engine");
		return NULL;
	}
	return &e->p;
}

struct api_seq *api_seq_get(const struct kllm_engine *e, int seq, const char *fn)
{
	if (!e) {
		api_fail(-EINVAL, "%s: NULL engine", fn);
		return NULL;
	}
	if (seq < 0 || (uint32_t)seq >= e->p.n_seqs) {
		api_fail(-EINVAL, "%s: sequence %d out of range 0..%u", fn, seq,
			 e->p.n_seqs - 1);
		return NULL;
	}
	if (!e->seqs[seq].used) {
		api_fail(-EINVAL, "%s: sequence %d is not in use", fn, seq);
		return NULL;
	}
	return &e->seqs[seq];
}

/* The lowest free slot, made ready; its id or -EBUSY / -ENOMEM. */
static int slot_take(struct kllm_engine *e, const char *fn)
{
	struct api_seq *s;
	uint32_t i;

	for (i = 0; i < e->p.n_seqs && e->seqs[i].used; i++)
		;
	if (i == e->p.n_seqs)
		return api_fail(-EBUSY, "%s: all %u sequences are in use", fn, e->p.n_seqs);
	s = &e->seqs[i];
	if (!s->logits) {
		s->logits = malloc(4ull * e->n_vocab);
		if (!s->logits)
			return api_fail(-ENOMEM, "out of memory for logits");
	}
	s->used = 1;
	s->n_past = 0;
	s->n_pending = 0;
	s->has_logits = 0;
	s->partition = 0;
	s->looked = 0;
	s->n_cached = 0;
	return (int)i;
}

int kllm_seq_new(struct kllm_engine *e)
{
	if (!e)
		return api_fail(-EINVAL, "kllm_seq_new: NULL engine");
	return slot_take(e, "kllm_seq_new");
}

static int pending_reserve(struct api_seq *s, uint32_t n)
{
	uint32_t cap = s->cap ? s->cap : 64;
	int32_t *p;

	if (n <= s->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	p = realloc(s->pending, 4ull * cap);
	if (!p)
		return api_fail(-ENOMEM, "out of memory for pending input");
	s->pending = p;
	s->cap = cap;
	return 0;
}

/* Room for @n tokens in the sequence's list of all its tokens. */
static int toks_reserve(struct api_seq *s, uint32_t n)
{
	uint32_t cap = s->toks_cap ? s->toks_cap : 256;
	int32_t *p;

	if (n <= s->toks_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	p = realloc(s->toks, 4ull * cap);
	if (!p)
		return api_fail(-ENOMEM, "out of memory for the sequence's tokens");
	s->toks = p;
	s->toks_cap = cap;
	return 0;
}

int kllm_seq_fork(struct kllm_engine *e, int seq, uint32_t n_keep)
{
	const struct api_seq *p = api_seq_get(e, seq, "kllm_seq_fork");
	struct api_seq *c;
	uint32_t n_kv, n_pend;
	int id, ret;

	if (!p)
		return -EINVAL;
	if (n_keep > p->n_past + p->n_pending)
		return api_fail(-EINVAL, "kllm_seq_fork: %u tokens of a sequence of %u",
				n_keep, p->n_past + p->n_pending);
	id = slot_take(e, "kllm_seq_fork");
	if (id < 0)
		return id;
	c = &e->seqs[id];
	n_kv = n_keep < p->n_past ? n_keep : p->n_past;
	n_pend = n_keep - n_kv;
	ret = kllm_seq_copy(e->ctx, (uint32_t)id, (uint32_t)seq, n_kv);
	if (!ret)
		ret = pending_reserve(c, n_pend);
	else
		api_fail(ret, "kllm_seq_fork: %s", kllm_ctx_error(e->ctx));
	if (!ret)
		ret = toks_reserve(c, n_keep);
	if (ret) {
		c->used = 0;
		kllm_seq_clear(e->ctx, (uint32_t)id);
		return ret;
	}
	if (n_pend)
		memcpy(c->pending, p->pending, 4ull * n_pend);
	if (n_keep)
		memcpy(c->toks, p->toks, 4ull * n_keep);
	c->n_pending = n_pend;
	c->n_past = n_kv;
	c->partition = p->partition;
	c->looked = 1;	/* its prefix is its parent's */
	if (n_keep == p->n_past && p->has_logits) {
		memcpy(c->logits, p->logits, 4ull * e->n_vocab);
		c->has_logits = 1;
	}
	return id;
}

int kllm_seq_free(struct kllm_engine *e, int seq)
{
	struct api_seq *s = api_seq_get(e, seq, "kllm_seq_free");

	if (!s)
		return -EINVAL;
	s->used = 0;
	s->n_past = s->n_pending = 0;
	s->has_logits = 0;
	kllm_seq_clear(e->ctx, (uint32_t)seq);
	return 0;
}

int kllm_seq_truncate(struct kllm_engine *e, int seq, uint32_t n_keep)
{
	struct api_seq *s = api_seq_get(e, seq, "kllm_seq_truncate");

	if (!s)
		return -EINVAL;
	if (n_keep > s->n_past + s->n_pending)
		return api_fail(-EINVAL, "kllm_seq_truncate: %u tokens of a sequence of %u",
				n_keep, s->n_past + s->n_pending);
	if (n_keep == s->n_past + s->n_pending)
		return 0;
	if (n_keep < s->n_past) {
		s->n_past = n_keep;
		s->n_cached = s->n_cached < n_keep ? s->n_cached : n_keep;
		s->n_pending = 0;
		kllm_seq_keep(e->ctx, (uint32_t)seq, n_keep);	/* in range: cannot fail */
	} else {
		s->n_pending = n_keep - s->n_past;
	}
	s->has_logits = 0;
	return 0;
}

int kllm_seq_len(const struct kllm_engine *e, int seq)
{
	const struct api_seq *s = api_seq_get(e, seq, "kllm_seq_len");

	return s ? (int)(s->n_past + s->n_pending) : -EINVAL;
}

int kllm_seq_cached(const struct kllm_engine *e, int seq)
{
	const struct api_seq *s = api_seq_get(e, seq, "kllm_seq_cached");

	return s ? (int)s->n_cached : -EINVAL;
}

int kllm_seq_pending(const struct kllm_engine *e, int seq)
{
	const struct api_seq *s = api_seq_get(e, seq, "kllm_seq_pending");

	return s ? (int)s->n_pending : -EINVAL;
}

int kllm_seq_feed(struct kllm_engine *e, int seq, const int32_t *ids, size_t n)
{
	struct api_seq *s = api_seq_get(e, seq, "kllm_seq_feed");
	uint64_t len;
	int ret;

	if (!s)
		return -EINVAL;
	if (!ids && n)
		return api_fail(-EINVAL, "kllm_seq_feed: NULL ids");
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || (uint32_t)ids[i] >= e->n_vocab)
			return api_fail(-EINVAL, "kllm_seq_feed: token %zu: id %d out of 0..%u",
					i, ids[i], e->n_vocab - 1);
	len = (uint64_t)s->n_past + s->n_pending;
	if (len + n > e->p.n_ctx)
		return api_fail(-ENOSPC, "sequence %d: %zu tokens after %llu do not fit in "
				"its context of %u", seq, n, (unsigned long long)len,
				e->p.n_ctx);
	if (!n)
		return 0;
	ret = pending_reserve(s, s->n_pending + (uint32_t)n);
	if (!ret)
		ret = toks_reserve(s, (uint32_t)len + (uint32_t)n);
	if (ret)
		return ret;
	memcpy(s->pending + s->n_pending, ids, 4 * n);
	memcpy(s->toks + len, ids, 4 * n);
	s->n_pending += (uint32_t)n;
	s->has_logits = 0;
	return 0;
}

int kllm_seq_set_partition(struct kllm_engine *e, int seq, uint32_t partition)
{
	struct api_seq *s = api_seq_get(e, seq, "kllm_seq_set_partition");

	if (!s)
		return -EINVAL;
	if (s->n_past)
		return api_fail(-EBUSY, "kllm_seq_set_partition: sequence %d already "
				"holds %u computed positions", seq, s->n_past);
	s->partition = partition;
	return 0;
}

/*
 * A sequence about to start its prefill asks the prefix cache once: the
 * positions it finds there move from pending to computed.
 */
static void seq_reuse(struct kllm_engine *e, uint32_t id)
{
	struct api_seq *s = &e->seqs[id];
	int r;

	if (s->looked || s->n_past || s->n_pending < 2)
		return;
	s->looked = 1;
	r = kllm_seq_lookup(e->ctx, id, s->pending, s->n_pending, s->partition);
	if (r <= 0)
		return;
	s->n_past = (uint32_t)r;
	s->n_pending -= (uint32_t)r;
	memmove(s->pending, s->pending + r, 4ull * s->n_pending);
	s->n_cached = (uint32_t)r;
	e->n_reused += (uint32_t)r;
}

/* Put @take pending tokens of sequence @id into the batch. */
static void batch_add(struct kllm_engine *e, uint32_t *k, uint32_t *n_list,
		      uint32_t id, uint32_t take)
{
	const struct api_seq *s = &e->seqs[id];

	for (uint32_t j = 0; j < take; j++, (*k)++) {
		e->b_tok[*k] = s->pending[j];
		e->b_pos[*k] = (int32_t)(s->n_past + j);
		e->b_seq[*k] = (int32_t)id;
	}
	e->b_sid[*n_list] = id;
	e->b_cnt[*n_list] = take;
	(*n_list)++;
}

/*
 * Decode tokens first, then prefill chunks; each kind round-robin (from
 * e->rr_dec, e->rr) so that no sequence waits for ever when the batch is
 * too small for all.
 */
static uint32_t batch_build(struct kllm_engine *e, int only, uint32_t *n_list)
{
	const uint32_t n_seqs = e->p.n_seqs, budget = e->p.max_batch;
	uint32_t k = 0, i, start;

	*n_list = 0;
	if (only >= 0) {
		const struct api_seq *s = &e->seqs[only];

		seq_reuse(e, (uint32_t)only);
		if (s->n_pending)
			batch_add(e, &k, n_list, (uint32_t)only,
				  s->n_pending < budget ? s->n_pending : budget);
		return k;
	}
	for (i = 0; i < n_seqs; i++) {
		uint32_t id = (e->rr_dec + i) % n_seqs;

		if (e->seqs[id].n_pending != 1)
			continue;
		if (k == budget) {	/* the next step starts here */
			e->rr_dec = id;
			break;
		}
		batch_add(e, &k, n_list, id, 1);
	}
	/* from where the last step's prefill ended; e->rr moves as we go */
	for (i = 0, start = e->rr; i < n_seqs && k < budget; i++) {
		uint32_t id = (start + i) % n_seqs, left = budget - k;
		const struct api_seq *s = &e->seqs[id];

		if (!s->used || s->n_pending < 2)
			continue;
		seq_reuse(e, id);
		batch_add(e, &k, n_list, id, s->n_pending < left ? s->n_pending : left);
		e->rr = (id + 1) % n_seqs;
	}
	return k;
}

/* After a successful forward: positions move from pending to computed. */
static void batch_commit(struct kllm_engine *e, uint32_t n_list)
{
	uint32_t o = 0;

	for (uint32_t l = 0; l < n_list; l++) {
		struct api_seq *s = &e->seqs[e->b_sid[l]];
		uint32_t take = e->b_cnt[l];

		s->n_past += take;
		s->n_pending -= take;
		memmove(s->pending, s->pending + take, 4ull * s->n_pending);
		if (s->n_pending)
			continue;
		memcpy(s->logits, e->out + (size_t)o * e->n_vocab, 4ull * e->n_vocab);
		s->has_logits = 1;
		o++;
	}
}

int api_step(struct kllm_engine *e, int only)
{
	uint32_t n_list, n_out = 0, k, row = 0;
	int ret;

	if (atomic_load(&e->abort))
		return api_fail(-ECANCELED, "aborted (kllm_abort)");
	k = batch_build(e, only, &n_list);
	if (!k)
		return 0;
	for (uint32_t l = 0; l < n_list; l++) {
		row += e->b_cnt[l];
		if (e->b_cnt[l] == e->seqs[e->b_sid[l]].n_pending)
			e->b_rows[n_out++] = (int32_t)row - 1;
	}
	ret = kllm_forward(e->ctx, k, e->b_tok, e->b_pos, e->b_seq, e->b_rows, n_out,
			   e->out);
	if (ret)
		return api_fail(ret, "%s", kllm_ctx_error(e->ctx));
	batch_commit(e, n_list);
	e->n_computed += k;
	return (int)k;
}

int api_seq_verify(struct kllm_engine *e, int seq, const int32_t *draft, uint32_t n_draft,
		   float *rows)
{
	struct api_seq *s = &e->seqs[seq];
	const uint32_t len = s->n_past + s->n_pending, n = s->n_pending + n_draft;
	int32_t out[KLLM_LOOKUP_DRAFT_MAX + 1];
	int ret;

	if (!s->n_pending || n_draft > KLLM_LOOKUP_DRAFT_MAX || n > e->p.max_batch ||
	    len + n_draft > e->p.n_ctx)
		return api_fail(-EINVAL, "verify: %u pending and %u draft tokens after %u",
				s->n_pending, n_draft, s->n_past);
	if (atomic_load(&e->abort))
		return api_fail(-ECANCELED, "aborted (kllm_abort)");
	ret = pending_reserve(s, n);
	if (!ret)
		ret = toks_reserve(s, len + n_draft);
	if (ret)
		return ret;
	memcpy(s->pending + s->n_pending, draft, 4ull * n_draft);
	memcpy(s->toks + len, draft, 4ull * n_draft);
	for (uint32_t j = 0; j < n; j++) {
		e->b_tok[j] = s->pending[j];
		e->b_pos[j] = (int32_t)(s->n_past + j);
		e->b_seq[j] = seq;
	}
	for (uint32_t o = 0; o <= n_draft; o++)
		out[o] = (int32_t)(s->n_pending + o) - 1;
	ret = kllm_forward(e->ctx, n, e->b_tok, e->b_pos, e->b_seq, out, n_draft + 1, rows);
	if (ret)
		return api_fail(ret, "%s", kllm_ctx_error(e->ctx));
	s->n_past += n;
	s->n_pending = 0;
	s->has_logits = 0;
	e->n_computed += n;
	return 0;
}

void api_seq_rewind(struct kllm_engine *e, int seq, uint32_t n_keep, const float *logits)
{
	struct api_seq *s = &e->seqs[seq];

	if (n_keep < s->n_past) {
		s->n_past = n_keep;
		s->n_cached = s->n_cached < n_keep ? s->n_cached : n_keep;
		kllm_seq_keep(e->ctx, (uint32_t)seq, n_keep);	/* in range: cannot fail */
	}
	s->n_pending = 0;
	if (logits)
		memcpy(s->logits, logits, 4ull * e->n_vocab);
	s->has_logits = logits != NULL;
}

int kllm_engine_step(struct kllm_engine *e)
{
	if (!e)
		return api_fail(-EINVAL, "kllm_engine_step: NULL engine");
	return api_step(e, -1);
}

/* All of sequence @seq's pending input through kllm_forward_chunks. */
static int api_prefill(struct kllm_engine *e, int seq)
{
	struct api_seq *s = &e->seqs[seq];
	int ret;

	if (atomic_load(&e->abort))
		return api_fail(-ECANCELED, "aborted (kllm_abort)");
	ret = kllm_forward_chunks(e->ctx, (uint32_t)seq, s->n_past, s->n_pending, s->pending,
				  s->logits);
	if (ret)
		return api_fail(ret, "%s", kllm_ctx_error(e->ctx));
	e->n_computed += s->n_pending;
	s->n_past += s->n_pending;
	s->n_pending = 0;
	s->has_logits = 1;
	return 0;
}

int kllm_seq_decode(struct kllm_engine *e, int seq)
{
	const struct api_seq *s = api_seq_get(e, seq, "kllm_seq_decode");
	int ret;

	if (!s)
		return -EINVAL;
	/*
	 * A long input on a backend that takes all its chunks at once (the
	 * device: one submission, the driver runs them in order) goes so.
	 * Else (in process) chunk by chunk, so that kllm_abort stops between
	 * them.
	 */
	seq_reuse(e, seq);
	if (s->n_pending > e->p.max_batch && kllm_ctx_chunks_at_once(e->ctx))
		return api_prefill(e, seq);
	while (s->n_pending) {
		ret = api_step(e, seq);
		if (ret < 0)
			return ret;
	}
	return 0;
}

const float *kllm_seq_logits(const struct kllm_engine *e, int seq)
{
	const struct api_seq *s = api_seq_get(e, seq, "kllm_seq_logits");

	if (!s)
		return NULL;
	if (!s->has_logits) {
		api_fail(-EINVAL, "kllm_seq_logits: sequence %d has %s", seq,
			 s->n_pending ? "pending input (run a step first)" :
			 "not run yet");
		return NULL;
	}
	return s->logits;
}

int32_t kllm_seq_sample(struct kllm_engine *e, int seq, struct kllm_sampler *smp)
{
	const float *l = kllm_seq_logits(e, seq);
	int32_t id;

	if (!l)
		return -EINVAL;
	if (!smp)
		return api_fail(-EINVAL, "kllm_seq_sample: NULL sampler");
	id = kllm_sample(smp, l, (int32_t)e->n_vocab);
	return id < 0 ? api_fail(id, "sample: out of memory") : id;
}

void kllm_abort(struct kllm_engine *e)
{
	if (e)
		atomic_store(&e->abort, 1);
}

void kllm_abort_clear(struct kllm_engine *e)
{
	if (e)
		atomic_store(&e->abort, 0);
}

const char *kllm_engine_backend(const struct kllm_engine *e)
{
	return e && e->ctx ? kllm_ctx_engine_name(e->ctx) : NULL;
}

int kllm_engine_get_stats(const struct kllm_engine *e, struct kllm_engine_stats *st)
{
	struct kllm_kv_stats kv;

	if (!e || !st)
		return api_fail(-EINVAL, "kllm_engine_get_stats: NULL %s", e ? "stats" : "engine");
	kllm_ctx_kv_stats(e->ctx, &kv);
	*st = (struct kllm_engine_stats){
		.tokens_computed = e->n_computed, .tokens_cached = e->n_reused,
		.kv_block_bytes = kv.block_bytes, .kv_block_tokens = kv.block_tokens,
		.kv_blocks = kv.n_blocks, .kv_blocks_used = kv.n_used,
		.kv_blocks_cached = kv.n_cached, .kv_blocks_idle = kv.n_idle,
		.cache_hits = kv.hits, .cache_evicted = kv.evicted };
	return 0;
}
