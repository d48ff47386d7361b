// SPDX-License-Identifier: MIT
/*
 * chat.c - chat template detection and formatting (see chat.h).
 *
 * Both halves follow llama.cpp's src/llama-chat.cpp.  Detection walks the
 * same chain of substring tests in the same order, including the tests
 * for families we do not format, so that a template llama.cpp would call
 * e.g. "zephyr" is reported as unknown here rather than mistaken for a
 * family further down the chain.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "chat.h"

#define UNSUPPORTED (-ENOENT)

static const char *const names[KLLM_CHAT_COUNT] = {
	[KLLM_CHAT_CHATML] = "chatml",
	[KLLM_CHAT_LLAMA2] = "llama2",
	[KLLM_CHAT_LLAMA2_SYS] = "llama2-sys",
	[KLLM_CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
	[KLLM_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
	[KLLM_CHAT_MISTRAL_V1] = "mistral-v1",
	[KLLM_CHAT_MISTRAL_V3] = "mistral-v3",
	[KLLM_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
	[KLLM_CHAT_MISTRAL_V7] = "mistral-v7",
	[KLLM_CHAT_MISTRAL_V7_TEKKEN] = "mistral-v7-tekken",
	[KLLM_CHAT_PHI3] = "phi3",
	[KLLM_CHAT_PHI4] = "phi4",
	[KLLM_CHAT_GEMMA] = "gemma",
	[KLLM_CHAT_LLAMA3] = "llama3",
};

const char *kllm_chat_name(int tmpl)
{
	if (tmpl < 0 || tmpl >= KLLM_CHAT_COUNT)
		return NULL;
	return names[tmpl];
}

int kllm_chat_from_name(const char *name)
{
	if (!name)
		return -ENOENT;
	for (int i = 0; i < KLLM_CHAT_COUNT; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -ENOENT;
}

/*
 * Families for GGUFs without a template.  Gemma 3 files converted without
 * one exist (the 270M Q4_K_M); their tokenizer has <start_of_turn> and
 * <end_of_turn>, which only the gemma format uses.
 */
int kllm_chat_for_arch(const char *arch)
{
	static const struct {
		const char *arch;
		int tmpl;
	} by_arch[] = {
		{ "gemma", KLLM_CHAT_GEMMA },
		{ "gemma2", KLLM_CHAT_GEMMA },
		{ "gemma3", KLLM_CHAT_GEMMA },
	};

	for (size_t i = 0; arch && i < sizeof(by_arch) / sizeof(by_arch[0]); i++)
		if (!strcmp(arch, by_arch[i].arch))
			return by_arch[i].tmpl;
	return -ENOENT;
}

/* ------------------------------------------------------------------ */
/* Detection                                                            */

static int has(const char *t, const char *s)
{
	return strstr(t, s) != NULL;
}

static int detect_mistral_llama2(const char *t)
{
	if (has(t, "[SYSTEM_PROMPT]"))
		return KLLM_CHAT_MISTRAL_V7;
	/* Mistral's official v1, v3 and v3-tekken templates. */
	if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
		if (has(t, " [INST]"))
			return KLLM_CHAT_MISTRAL_V1;
		if (has(t, "\"[INST]\""))
			return KLLM_CHAT_MISTRAL_V3_TEKKEN;
		return KLLM_CHAT_MISTRAL_V3;
	}
	if (has(t, "content.strip()"))
		return KLLM_CHAT_LLAMA2_SYS_STRIP;
	if (has(t, "bos_token + '[INST]"))
		return KLLM_CHAT_LLAMA2_SYS_BOS;
	if (has(t, "<<SYS>>"))
		return KLLM_CHAT_LLAMA2_SYS;
	return KLLM_CHAT_LLAMA2;
}

int kllm_chat_detect(const char *t)
{
	int byname;

	if (!t)
		return -ENOENT;
	byname = kllm_chat_from_name(t);
	if (byname >= 0)
		return byname;

	if (has(t, "<|im_start|>")) {
		if (has(t, "<|im_sep|>"))
			return KLLM_CHAT_PHI4;
		if (has(t, "<end_of_utterance>"))
			return UNSUPPORTED;	/* SmolVLM: <|im_start|> is its BOS */
		return KLLM_CHAT_CHATML;
	}
	if (!strncmp(t, "mistral", 7) || has(t, "[INST]"))
		return detect_mistral_llama2(t);
	if (has(t, "<|assistant|>") && has(t, "<|end|>"))
		return KLLM_CHAT_PHI3;
	/* chatglm4, falcon3/glmedge, glmedge, zephyr, monarch */
	if (has(t, "[gMASK]<sop>") ||
	    (has(t, "<|assistant|>") && has(t, "<|user|>")) ||
	    (has(t, "<|{{ item['role'] }}|>") && has(t, "<|begin_of_image|>")) ||
	    (has(t, "<|user|>") && has(t, "<|endoftext|>")) ||
	    has(t, "bos_token + message['role']"))
		return UNSUPPORTED;
	if (has(t, "<start_of_turn>"))
		return KLLM_CHAT_GEMMA;
	/* orion, openchat, vicuna, deepseek, command-r */
	if (has(t, "'\\n\\nAssistant: ' + eos_token") ||
	    has(t, "GPT4 Correct ") ||
	    (has(t, "USER: ") && has(t, "ASSISTANT: ")) ||
	    (has(t, "### Instruction:") && has(t, "<|EOT|>")) ||
	    (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>")))
		return UNSUPPORTED;
	if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
		return KLLM_CHAT_LLAMA3;
	return -ENOENT;
}

/* ------------------------------------------------------------------ */
/* Output buffer: counts everything, stores what fits                   */

struct out {
	char *p;
	size_t size;
	size_t len;
};

static void put_n(struct out *o, const char *s, size_t n)
{
	if (o->size && o->len < o->size - 1) {
		size_t room = o->size - 1 - o->len;

		memcpy(o->p + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void put(struct out *o, const char *s)
{
	put_n(o, s, strlen(s));
}

/* isspace() in the C locale, without the locale. */
static int space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static void trimmed(const char *s, const char **start, size_t *n)
{
	size_t b = 0, e = strlen(s);

	while (b < e && space(s[b]))
		b++;
	while (e > b && space(s[e - 1]))
		e--;
	*start = s + b;
	*n = e - b;
}

static void put_trim(struct out *o, const char *s)
{
	const char *t;
	size_t n;

	trimmed(s, &t, &n);
	put_n(o, t, n);
}

static int is(const char *role, const char *want)
{
	return !strcmp(role, want);
}

/* ------------------------------------------------------------------ */
/* Formatters                                                           */

static void fmt_chatml(struct out *o, const struct kllm_chat_msg *m,
		       size_t n, int add)
{
	for (size_t i = 0; i < n; i++) {
		put(o, "<|im_start|>");
		put(o, m[i].role);
		put(o, "\n");
		put(o, m[i].content);
		put(o, "<|im_end|>\n");
	}
	if (add)
		put(o, "<|im_start|>assistant\n");
}

static void fmt_mistral_v7(struct out *o, const struct kllm_chat_msg *m,
			   size_t n, int tekken)
{
	const char *sp = tekken ? "" : " ";

	for (size_t i = 0; i < n; i++) {
		if (is(m[i].role, "system")) {
			put(o, "[SYSTEM_PROMPT]");
			put(o, sp);
			put(o, m[i].content);
			put(o, "[/SYSTEM_PROMPT]");
		} else if (is(m[i].role, "user")) {
			put(o, "[INST]");
			put(o, sp);
			put(o, m[i].content);
			put(o, "[/INST]");
		} else {
			put(o, sp);
			put(o, m[i].content);
			put(o, "</s>");
		}
	}
}

static void fmt_mistral_v1_v3(struct out *o, const struct kllm_chat_msg *m,
			      size_t n, int tmpl)
{
	const char *lead = tmpl == KLLM_CHAT_MISTRAL_V1 ? " " : "";
	const char *trail = tmpl == KLLM_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
	int inside = 0;

	for (size_t i = 0; i < n; i++) {
		if (!inside) {
			put(o, lead);
			put(o, "[INST]");
			put(o, trail);
			inside = 1;
		}
		if (is(m[i].role, "system")) {
			put(o, m[i].content);
			put(o, "\n\n");
		} else if (is(m[i].role, "user")) {
			put(o, m[i].content);
			put(o, lead);
			put(o, "[/INST]");
		} else {
			put(o, trail);
			if (tmpl == KLLM_CHAT_MISTRAL_V3)
				put_trim(o, m[i].content);
			else
				put(o, m[i].content);
			put(o, "</s>");
			inside = 0;
		}
	}
}

static void fmt_llama2(struct out *o, const struct kllm_chat_msg *m,
		       size_t n, int tmpl)
{
	int sys_ok = tmpl != KLLM_CHAT_LLAMA2;
	int bos = tmpl == KLLM_CHAT_LLAMA2_SYS_BOS;
	int strip = tmpl == KLLM_CHAT_LLAMA2_SYS_STRIP;
	int inside = 1;		/* the first [INST] comes before the loop */

	put(o, "[INST] ");
	for (size_t i = 0; i < n; i++) {
		const char *c = m[i].content;
		size_t cn = strlen(c);

		if (strip)
			trimmed(m[i].content, &c, &cn);
		if (!inside) {
			inside = 1;
			put(o, bos ? "<s>[INST] " : "[INST] ");
		}
		if (is(m[i].role, "system")) {
			/* Without <<SYS>>, still part of the first turn. */
			put(o, sys_ok ? "<<SYS>>\n" : "");
			put_n(o, c, cn);
			put(o, sys_ok ? "\n<</SYS>>\n\n" : "\n");
		} else if (is(m[i].role, "user")) {
			put_n(o, c, cn);
			put(o, " [/INST]");
		} else {
			put_n(o, c, cn);
			put(o, "</s>");
			inside = 0;
		}
	}
}

static void fmt_phi3(struct out *o, const struct kllm_chat_msg *m,
		     size_t n, int add)
{
	for (size_t i = 0; i < n; i++) {
		put(o, "<|");
		put(o, m[i].role);
		put(o, "|>\n");
		put(o, m[i].content);
		put(o, "<|end|>\n");
	}
	if (add)
		put(o, "<|assistant|>\n");
}

static void fmt_phi4(struct out *o, const struct kllm_chat_msg *m,
		     size_t n, int add)
{
	for (size_t i = 0; i < n; i++) {
		put(o, "<|im_start|>");
		put(o, m[i].role);
		put(o, "<|im_sep|>");
		put(o, m[i].content);
		put(o, "<|im_end|>");
	}
	if (add)
		put(o, "<|im_start|>assistant<|im_sep|>");
}

/* The trimmed system messages m[from..to), concatenated; 0 if empty. */
static size_t gemma_system(struct out *o, const struct kllm_chat_msg *m,
			   size_t from, size_t to)
{
	size_t total = 0;

	for (size_t i = from; i < to; i++) {
		const char *t;
		size_t tn;

		if (!is(m[i].role, "system"))
			continue;
		trimmed(m[i].content, &t, &tn);
		if (o)
			put_n(o, t, tn);
		total += tn;
	}
	return total;
}

/*
 * Gemma has no system role: system messages are merged, trimmed, into the
 * next turn that is not the model's; "assistant" is called "model".
 */
static void fmt_gemma(struct out *o, const struct kllm_chat_msg *m,
		      size_t n, int add)
{
	size_t pending = 0;	/* system messages from here on not yet out */

	for (size_t i = 0; i < n; i++) {
		int model;

		if (is(m[i].role, "system"))
			continue;
		model = is(m[i].role, "assistant");
		put(o, "<start_of_turn>");
		put(o, model ? "model" : m[i].role);
		put(o, "\n");
		if (!model && gemma_system(NULL, m, pending, i)) {
			gemma_system(o, m, pending, i);
			put(o, "\n\n");
		}
		if (!model)
			pending = i + 1;
		put_trim(o, m[i].content);
		put(o, "<end_of_turn>\n");
	}
	if (add)
		put(o, "<start_of_turn>model\n");
}

static void fmt_llama3(struct out *o, const struct kllm_chat_msg *m,
		       size_t n, int add)
{
	for (size_t i = 0; i < n; i++) {
		put(o, "<|start_header_id|>");
		put(o, m[i].role);
		put(o, "<|end_header_id|>\n\n");
		put_trim(o, m[i].content);
		put(o, "<|eot_id|>");
	}
	if (add)
		put(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

int kllm_chat_format(int tmpl, const struct kllm_chat_msg *msgs, size_t n,
		     int add_generation_prompt, char *out, size_t out_size)
{
	struct out o = { .p = out, .size = out ? out_size : 0, .len = 0 };
	int add = !!add_generation_prompt;

	if (tmpl < 0 || tmpl >= KLLM_CHAT_COUNT || (n && !msgs))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!msgs[i].role || !msgs[i].content)
			return -EINVAL;

	switch (tmpl) {
	case KLLM_CHAT_CHATML:
		fmt_chatml(&o, msgs, n, add);
		break;
	case KLLM_CHAT_MISTRAL_V7:
	case KLLM_CHAT_MISTRAL_V7_TEKKEN:
		fmt_mistral_v7(&o, msgs, n, tmpl == KLLM_CHAT_MISTRAL_V7_TEKKEN);
		break;
	case KLLM_CHAT_MISTRAL_V1:
	case KLLM_CHAT_MISTRAL_V3:
	case KLLM_CHAT_MISTRAL_V3_TEKKEN:
		fmt_mistral_v1_v3(&o, msgs, n, tmpl);
		break;
	case KLLM_CHAT_LLAMA2:
	case KLLM_CHAT_LLAMA2_SYS:
	case KLLM_CHAT_LLAMA2_SYS_BOS:
	case KLLM_CHAT_LLAMA2_SYS_STRIP:
		fmt_llama2(&o, msgs, n, tmpl);
		break;
	case KLLM_CHAT_PHI3:
		fmt_phi3(&o, msgs, n, add);
		break;
	case KLLM_CHAT_PHI4:
		fmt_phi4(&o, msgs, n, add);
		break;
	case KLLM_CHAT_GEMMA:
		fmt_gemma(&o, msgs, n, add);
		break;
	case KLLM_CHAT_LLAMA3:
		fmt_llama3(&o, msgs, n, add);
		break;
	}
	if (o.size)
		o.p[o.len < o.size ? o.len : o.size - 1] = '\0';
	if (o.len > INT_MAX)
		return -EOVERFLOW;
	return (int)o.len;
}
