// SPDX-License-Identifier: MIT
/*
 * api_model.c - the public API's model handle: loading, facts,
 * tokenizing, detokenizing and chat templates (see kllm.h), over
 * model.h, tokenizer.h and chat.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api_int.h"
#include "chat.h"
#include "gguf.h"

/* A string key's value as a NUL-terminated copy; NULL when absent. */
static char *dup_str(const struct gguf *g, const char *key)
{
	struct gguf_str s;

	if (gguf_get_str(g, key, &s))
		return NULL;
	return strndup(s.s, s.n);
}

static int fill_info(struct kllm_llm *llm)
{
	const struct kllm_hparams *hp = &llm->m->hp;
	struct kllm_llm_info *in = &llm->info;

	llm->arch = dup_str(llm->m->gguf, "general.architecture");
	llm->name = dup_str(llm->m->gguf, "general.name");
	if (!llm->name)
		llm->name = strdup("");
	llm->chat_template = dup_str(llm->m->gguf, "tokenizer.chat_template");
	if (!llm->arch || !llm->name)
		return -ENOMEM;
	in->arch = llm->arch;
	in->name = llm->name;
	in->n_vocab = hp->n_vocab;
	in->n_ctx_train = hp->n_ctx_train;
	in->n_layer = hp->n_layer;
	in->n_embd = hp->n_embd;
	in->n_head = hp->n_head;
	in->n_head_kv = hp->n_head_kv;
	in->bos = kllm_tok_bos(llm->tok);
	in->eos = kllm_tok_eos(llm->tok);
	in->eot = kllm_tok_eot(llm->tok);
	in->add_bos = kllm_tok_add_bos(llm->tok);
	in->weights_bytes = llm->m->data_size;
	in->chat_template = llm->chat_template;
	return 0;
}

/* The file's own messages often start with its path already. */
static int load_fail(const char *path, int ret, const char *msg)
{
	if (!strncmp(msg, path, strlen(path)))
		return api_fail(ret, "%s", msg);
	return api_fail(ret, "%s: %s", path, msg[0] ? msg : strerror(-ret));
}

/*
 * The file's header (metadata: the tokenizer's strings, now copied) is
 * read once at load: its clean file pages go back to the page cache, and
 * a later metadata read faults them in again.  The tensors stay.
 */
static void release_header(const struct kllm_model *m)
{
	uintptr_t base = (uintptr_t)gguf_file_base(m->gguf);
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t end = (base + m->data_offset) & ~(uintptr_t)(page - 1);

	if (page > 0 && !(base % (uintptr_t)page) && end > base)
		madvise((void *)base, end - base, MADV_DONTNEED);
}

int kllm_llm_load(const char *path, struct kllm_llm **out)
{
	struct kllm_llm *llm;
	char err[256] = "";
	int ret;

	if (!out || !path)
		return api_fail(-EINVAL, "kllm_llm_load: NULL %s", out ? "path" : "out");
	*out = NULL;
	kllm_cpu_init();
	llm = calloc(1, sizeof(*llm));
	if (!llm)
		return api_fail(-ENOMEM, "out of memory");
	ret = kllm_model_load(&llm->m, path, err, sizeof(err));
	if (!ret) {
		ret = kllm_tok_load(&llm->tok, llm->m->gguf, err, sizeof(err));
		if (!ret && kllm_tok_n_vocab(llm->tok) > llm->m->hp.n_vocab) {
			snprintf(err, sizeof(err), "the tokenizer has more tokens (%u) "
				 "than token_embd rows (%u)", kllm_tok_n_vocab(llm->tok),
				 llm->m->hp.n_vocab);
			ret = -EINVAL;
		}
	}
	if (!ret && fill_info(llm)) {
		snprintf(err, sizeof(err), "out of memory");
		ret = -ENOMEM;
	}
	if (ret) {
		kllm_llm_free(llm);
		return load_fail(path, ret, err);
	}
	release_header(llm->m);
	*out = llm;
	return 0;
}

void kllm_llm_free(struct kllm_llm *llm)
{
	if (!llm)
		return;
	kllm_tok_free(llm->tok);
	if (llm->m)
		kllm_model_free(llm->m);
	free(llm->arch);
	free(llm->name);
	free(llm->chat_template);
	free(llm);
}

const struct kllm_llm_info *kllm_llm_info(const struct kllm_llm *llm)
{
	if (!llm) {
		api_fail(-EINVAL, "kllm_llm_info: NULL model");
		return NULL;
	}
	return &llm->info;
}

int kllm_tokenize(const struct kllm_llm *llm, const char *text, size_t len,
		  int add_special, int parse_special, int32_t *ids, size_t max_ids)
{
	int n;

	if (!llm || (!text && len) || (!ids && max_ids))
		return api_fail(-EINVAL, "kllm_tokenize: NULL %s", !llm ? "model" :
				!ids && max_ids ? "ids" : "text");
	n = kllm_tok_encode(llm->tok, text ? text : "", len, add_special,
			    parse_special, ids, max_ids);
	if (n < 0)
		return api_fail(n, "tokenize: %s", strerror(-n));
	return n;
}

/* Ids the model has logits for but the vocabulary lacks (padding rows). */
static int is_padding(const struct kllm_llm *llm, int32_t id)
{
	return id >= 0 && (uint32_t)id >= kllm_tok_n_vocab(llm->tok) &&
	       (uint32_t)id < llm->info.n_vocab;
}

static int bad_id(const struct kllm_llm *llm, const char *fn, int32_t id)
{
	return api_fail(-EINVAL, "%s: token %d out of 0..%u", fn, id,
			llm->info.n_vocab - 1);
}

int kllm_token_to_piece(const struct kllm_llm *llm, int32_t id, int special,
			char *buf, size_t size)
{
	int n;

	if (!llm || (!buf && size))
		return api_fail(-EINVAL, "kllm_token_to_piece: NULL %s",
				llm ? "buffer" : "model");
	if (is_padding(llm, id))
		return 0;
	n = kllm_tok_piece(llm->tok, id, special, buf, size);
	return n < 0 ? bad_id(llm, "kllm_token_to_piece", id) : n;
}

int kllm_detokenize(const struct kllm_llm *llm, const int32_t *ids, size_t n,
		    int special, char *buf, size_t size)
{
	size_t total = 0;
	int k;

	if (!llm || (!ids && n) || (!buf && size))
		return api_fail(-EINVAL, "kllm_detokenize: NULL %s", !llm ? "model" :
				!ids && n ? "ids" : "buffer");
	for (size_t i = 0; i < n; i++) {
		k = kllm_token_to_piece(llm, ids[i], special,
					total < size ? buf + total : NULL,
					total < size ? size - total : 0);
		if (k < 0)
			return k;
		total += (size_t)k;
		if (total > INT32_MAX)
			return api_fail(-EOVERFLOW, "kllm_detokenize: text too long");
	}
	return (int)total;
}

int kllm_token_is_eog(const struct kllm_llm *llm, int32_t id)
{
	return llm && kllm_tok_is_eog(llm->tok, id);
}

int kllm_detok_push(const struct kllm_llm *llm, struct kllm_detok *d, int32_t id,
		    int special, char *out, size_t size)
{
	struct kllm_tok_stream st;
	int n;

	if (!llm || !d || d->n_held > 3 || (!out && size))
		return api_fail(-EINVAL, "kllm_detok_push: NULL or corrupt argument");
	if (is_padding(llm, id))
		return 0;
	memcpy(st.held, d->held, sizeof(st.held));
	st.n_held = d->n_held;
	n = kllm_tok_stream_push(llm->tok, &st, id, special, out, size);
	if (n == -EINVAL)
		return bad_id(llm, "kllm_detok_push", id);
	if (n < 0)
		return api_fail(n, "kllm_detok_push: buffer of %zu bytes too small", size);
	memcpy(d->held, st.held, sizeof(d->held));
	d->n_held = st.n_held;
	return n;
}

int kllm_detok_flush(struct kllm_detok *d, char *out, size_t size)
{
	int n;

	if (!d || d->n_held > 3 || (!out && size))
		return api_fail(-EINVAL, "kllm_detok_flush: NULL or corrupt argument");
	if (size < d->n_held)
		return api_fail(-ENOSPC, "kllm_detok_flush: buffer too small");
	n = (int)d->n_held;
	memcpy(out, d->held, d->n_held);
	d->n_held = 0;
	return n;
}

int kllm_chat_template(const struct kllm_llm *llm, const char *name)
{
	const char *t;
	int id;
	size_t line;

	if (name) {
		id = kllm_chat_from_name(name);
		return id < 0 ? api_fail(-ENOENT, "unknown chat template '%s'", name) : id;
	}
	if (!llm)
		return api_fail(-EINVAL, "kllm_chat_template: NULL model");
	t = llm->chat_template;
	if (!t) {
		/* gemma GGUFs often lack one: the family goes by architecture */
		id = kllm_chat_for_arch(llm->arch);
		return id >= 0 ? id : api_fail(-ENOENT, "the model has no "
					      "tokenizer.chat_template");
	}
	id = kllm_chat_detect(t);
	if (id >= 0)
		return id;
	line = strcspn(t, "\r\n");
	return api_fail(-ENOENT, "chat template not recognised: \"%.*s%s\"",
			(int)(line < 60 ? line : 60), t, t[line] || line > 60 ? "..." : "");
}

const char *kllm_chat_template_name(int tmpl)
{
	return kllm_chat_name(tmpl);
}

int kllm_chat_apply(int tmpl, const struct kllm_chat_message *msgs, size_t n,
		    int add_assistant, char *out, size_t size)
{
	struct kllm_chat_msg *m = NULL;
	int ret;

	if (!kllm_chat_name(tmpl))
		return api_fail(-EINVAL, "kllm_chat_apply: template %d out of range", tmpl);
	if ((!msgs && n) || (!out && size))
		return api_fail(-EINVAL, "kllm_chat_apply: NULL %s", out ? "msgs" : "out");
	if (n) {
		m = calloc(n, sizeof(*m));
		if (!m)
			return api_fail(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		m[i] = (struct kllm_chat_msg){ msgs[i].role, msgs[i].content };
	ret = kllm_chat_format(tmpl, m, n, add_assistant, out, size);
	free(m);
	if (ret < 0)
		return api_fail(ret, "kllm_chat_apply: %s", ret == -EINVAL ?
				"a message without role or content" : strerror(-ret));
	return ret;
}
