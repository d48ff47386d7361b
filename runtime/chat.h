/* SPDX-License-Identifier: MIT */
/*
 * chat.h - turning a conversation into a prompt string.
 *
 * Not a Jinja interpreter: like llama.cpp's llm_chat_detect_template() and
 * llm_chat_apply_template() (src/llama-chat.cpp), a model's
 * tokenizer.chat_template is recognised by substrings and the prompt is
 * produced by a hand-written formatter per family, byte for byte what
 * llama.cpp produces.  The BOS token is not part of the result (the
 * tokenizer adds it).
 */
#ifndef KLLM_CHAT_H
#define KLLM_CHAT_H

#include <stddef.h>

enum kllm_chat_template {
	KLLM_CHAT_CHATML,		/* "chatml": Qwen 2.5, SmolLM2 */
	KLLM_CHAT_LLAMA2,		/* "llama2" */
	KLLM_CHAT_LLAMA2_SYS,		/* "llama2-sys": with <<SYS>> */
	KLLM_CHAT_LLAMA2_SYS_BOS,	/* "llama2-sys-bos" */
	KLLM_CHAT_LLAMA2_SYS_STRIP,	/* "llama2-sys-strip" */
	KLLM_CHAT_MISTRAL_V1,		/* "mistral-v1" */
	KLLM_CHAT_MISTRAL_V3,		/* "mistral-v3" */
	KLLM_CHAT_MISTRAL_V3_TEKKEN,	/* "mistral-v3-tekken": Mistral Nemo */
	KLLM_CHAT_MISTRAL_V7,		/* "mistral-v7" */
	KLLM_CHAT_MISTRAL_V7_TEKKEN,	/* "mistral-v7-tekken" */
	KLLM_CHAT_PHI3,			/* "phi3": Phi 3 / 3.5 */
	KLLM_CHAT_PHI4,			/* "phi4" */
	KLLM_CHAT_GEMMA,		/* "gemma": Gemma 1/2/3 */
	KLLM_CHAT_LLAMA3,		/* "llama3": Llama 3.x */
	KLLM_CHAT_COUNT
};

struct kllm_chat_msg {
	const char *role;	/* "system", "user", "assistant" */
	const char *content;
};

/*
 * The template family of a chat_template string (or of a family name,
 * as llama.cpp also accepts), or -ENOENT when it is not one of the above:
 * the caller reports that and may ask for a --template name.
 */
int kllm_chat_detect(const char *tmpl);

/*
 * The family to use when a model's GGUF has no tokenizer.chat_template, by
 * its general.architecture ("gemma", "gemma2", "gemma3": gemma), or
 * -ENOENT: then the caller asks for --template.  The caller should say on
 * stderr that it fell back.
 */
int kllm_chat_for_arch(const char *arch);

/* "chatml", "llama3"...; NULL for a value outside the enum. */
const char *kllm_chat_name(int tmpl);

/* The enum value of a name, or -ENOENT. */
int kllm_chat_from_name(const char *name);

/*
 * Format msgs[0..n) and, when add_generation_prompt, the opening of the
 * assistant's turn (families whose user turn already ends with the cue,
 * llama2 and mistral, add nothing).  Like snprintf: writes at most
 * out_size - 1 bytes plus a NUL (out may be NULL when out_size is 0) and
 * returns the full length, not counting the NUL; a result >= out_size
 * means the output was cut.  -EINVAL for an unknown tmpl, a NULL role or
 * content, or NULL msgs with n > 0; -EOVERFLOW past INT_MAX.
 */
int kllm_chat_format(int tmpl, const struct kllm_chat_msg *msgs, size_t n,
		     int add_generation_prompt, char *out, size_t out_size);

#endif /* KLLM_CHAT_H */
