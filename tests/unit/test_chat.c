// SPDX-License-Identifier: MIT
/*
 * test_chat.c - chat template detection and formatting: the real
 * templates of shared/testdata/chat-templates, hand-written expected
 * prompts for each family, llama.cpp's own expected prompts for its
 * six-message test conversation (tests/test-chat-template.cpp), and the
 * snprintf-like behaviour on short buffers.
 */
#include <errno.h>
#include <unistd.h>

#include "chat.h"
#include "kt.h"

#ifndef KLLM_SRCDIR
#define KLLM_SRCDIR "."
#endif

#define S "You are a helpful assistant"

/* $KLLM_TESTDATA, else shared/testdata next to or above the tree. */
static int testdata(char *path, size_t n, const char *name)
{
	const char *env = getenv("KLLM_TESTDATA");
	const char *dirs[] = { KLLM_SRCDIR "/shared/testdata",
			       KLLM_SRCDIR "/../shared/testdata",
			       "/work/shared/testdata" };

	if (env) {
		snprintf(path, n, "%s/chat-templates/%s", env, name);
		if (access(path, R_OK) == 0)
			return 1;
	}
	for (size_t i = 0; !env && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, n, "%s/chat-templates/%s", dirs[i], name);
		if (access(path, R_OK) == 0)
			return 1;
	}
	/* Under CI a missing test group is a failure, not a skip. */
	if (getenv("CI") && !strcmp(getenv("CI"), "true"))
		ck_abort_msg("test_chat: %s not found (set KLLM_TESTDATA)", name);
	fprintf(stderr, "test_chat: %s not found (set KLLM_TESTDATA): skipped\n",
		name);
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	ck_assert(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert(buf != NULL);
	ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ------------------------------------------------------------------ */
/* Detection                                                            */

static const struct {
	const char *file;
	int want;
} files[] = {
	{ "Qwen-Qwen2.5-7B-Instruct.jinja", KLLM_CHAT_CHATML },
	{ "google-gemma-2-2b-it.jinja", KLLM_CHAT_GEMMA },
	{ "meta-llama-Llama-3.1-8B-Instruct.jinja", KLLM_CHAT_LLAMA3 },
	{ "meta-llama-Llama-3.2-3B-Instruct.jinja", KLLM_CHAT_LLAMA3 },
	{ "microsoft-Phi-3.5-mini-instruct.jinja", KLLM_CHAT_PHI3 },
	/* Has "[AVAILABLE_TOOLS]" and "\"[INST]\"": llama.cpp says v3-tekken. */
	{ "mistralai-Mistral-Nemo-Instruct-2407.jinja", KLLM_CHAT_MISTRAL_V3_TEKKEN },
};

START_TEST(test_detect_files)
{
	char path[512];
	char *t;
	int got;

	if (!testdata(path, sizeof(path), files[_i].file))
		return;
	t = slurp(path);
	got = kllm_chat_detect(t);
	ck_assert_msg(got == files[_i].want, "%s: detected %d (%s), want %s",
		      files[_i].file, got, got >= 0 ? kllm_chat_name(got) : "none",
		      kllm_chat_name(files[_i].want));
	free(t);
}
END_TEST

/* Template strings from llama.cpp's tests/test-chat-template.cpp. */
START_TEST(test_detect_strings)
{
	static const struct {
		const char *tmpl;
		int want;
	} cases[] = {
		{ "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}", KLLM_CHAT_CHATML },
		{ "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}", KLLM_CHAT_LLAMA2 },
		{ "{{- '[INST] <<SYS>>\\n' + messages[idx]['content'] + '\\n<</SYS>>\\n\\n' -}}", KLLM_CHAT_LLAMA2_SYS },
		{ "{{- bos_token + '[INST] ' + messages[idx]['content'] + ' [/INST]' -}}{{- '[INST] <<SYS>>\\n' }}", KLLM_CHAT_LLAMA2_SYS_BOS },
		{ "{{ '[INST] ' + content.strip() + ' [/INST]' }}{{ '<<SYS>>\\n' }}", KLLM_CHAT_LLAMA2_SYS_STRIP },
		{ "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}", KLLM_CHAT_MISTRAL_V1 },
		{ "{{- \"[AVAILABLE_TOOLS] [\" }}{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}", KLLM_CHAT_MISTRAL_V3 },
		{ "{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{{ '[INST] ' }}", KLLM_CHAT_MISTRAL_V7 },
		{ "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}", KLLM_CHAT_PHI3 },
		{ "{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}", KLLM_CHAT_PHI4 },
		{ "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}", KLLM_CHAT_GEMMA },
		{ "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}", KLLM_CHAT_LLAMA3 },
		/* A template that starts with "mistral" is of the [INST] kind. */
		{ "mistral-something", KLLM_CHAT_LLAMA2 },
		/* Family names are accepted as templates. */
		{ "chatml", KLLM_CHAT_CHATML },
		{ "mistral-v7-tekken", KLLM_CHAT_MISTRAL_V7_TEKKEN },
		{ "llama3", KLLM_CHAT_LLAMA3 },
		/* Families llama.cpp knows and we do not format: not mistaken
		 * for a later family of the chain (zephyr's <|assistant|> is
		 * not phi3's without <|end|>; monarch; SmolVLM; command-r). */
		{ "{{'<|user|>\\n' + message['content'] + '<|endoftext|>'}}", -ENOENT },
		{ "{{bos_token + message['role'] + '\\n' + message['content'] + eos_token}}<start_of_turn>", -ENOENT },
		{ "<|im_start|>{{ message['content'] }}<end_of_utterance>", -ENOENT },
		{ "<|START_OF_TURN_TOKEN|><|USER_TOKEN|><|start_header_id|><|end_header_id|>", -ENOENT },
		{ "{{ 'USER: ' + m + 'ASSISTANT: ' }}", -ENOENT },
		{ "zephyr", -ENOENT },
		{ "", -ENOENT },
		{ "{{ messages }}", -ENOENT },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = kllm_chat_detect(cases[i].tmpl);

		ck_assert_msg(got == cases[i].want, "case %zu: got %d want %d",
			      i, got, cases[i].want);
	}
	ck_assert_int_eq(kllm_chat_detect(NULL), -ENOENT);
}
END_TEST

START_TEST(test_names)
{
	for (int i = 0; i < KLLM_CHAT_COUNT; i++) {
		const char *n = kllm_chat_name(i);

		ck_assert_ptr_nonnull(n);
		ck_assert_int_eq(kllm_chat_from_name(n), i);
		ck_assert_int_eq(kllm_chat_detect(n), i);
	}
	ck_assert_str_eq(kllm_chat_name(KLLM_CHAT_CHATML), "chatml");
	ck_assert_str_eq(kllm_chat_name(KLLM_CHAT_MISTRAL_V3_TEKKEN), "mistral-v3-tekken");
	ck_assert_ptr_null(kllm_chat_name(-1));
	ck_assert_ptr_null(kllm_chat_name(KLLM_CHAT_COUNT));
	ck_assert_int_eq(kllm_chat_from_name("ChatML"), -ENOENT);
	ck_assert_int_eq(kllm_chat_from_name("zephyr"), -ENOENT);
	ck_assert_int_eq(kllm_chat_from_name(NULL), -ENOENT);
}
END_TEST

/* GGUFs without a chat_template: the family by architecture. */
START_TEST(test_for_arch)
{
	ck_assert_int_eq(kllm_chat_for_arch("gemma3"), KLLM_CHAT_GEMMA);
	ck_assert_int_eq(kllm_chat_for_arch("gemma2"), KLLM_CHAT_GEMMA);
	ck_assert_int_eq(kllm_chat_for_arch("gemma"), KLLM_CHAT_GEMMA);
	ck_assert_int_eq(kllm_chat_for_arch("llama"), -ENOENT);
	ck_assert_int_eq(kllm_chat_for_arch("qwen2"), -ENOENT);
	ck_assert_int_eq(kllm_chat_for_arch("gemma3n"), -ENOENT);
	ck_assert_int_eq(kllm_chat_for_arch(""), -ENOENT);
	ck_assert_int_eq(kllm_chat_for_arch(NULL), -ENOENT);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Formatting                                                           */

static void expect_format(int tmpl, const struct kllm_chat_msg *m, size_t n,
			  int add, const char *want)
{
	char buf[2048];
	int len = kllm_chat_format(tmpl, m, n, add, buf, sizeof(buf));

	ck_assert_msg(len == (int)strlen(want) && !strcmp(buf, want),
		      "%s (add=%d):\n got  [%s] (%d)\n want [%s]",
		      kllm_chat_name(tmpl), add, buf, len, want);
}

static const struct kllm_chat_msg conv3[] = {
	{ "system", S },
	{ "user", "Hello" },
	{ "assistant", "Hi there" },
};

/* Written by hand from llama.cpp's llm_chat_apply_template(). */
static const char *const want3[KLLM_CHAT_COUNT] = {
	[KLLM_CHAT_CHATML] =
		"<|im_start|>system\n" S "<|im_end|>\n"
		"<|im_start|>user\nHello<|im_end|>\n"
		"<|im_start|>assistant\nHi there<|im_end|>\n"
		"<|im_start|>assistant\n",
	[KLLM_CHAT_LLAMA2] = "[INST] " S "\nHello [/INST]Hi there</s>",
	[KLLM_CHAT_LLAMA2_SYS] =
		"[INST] <<SYS>>\n" S "\n<</SYS>>\n\nHello [/INST]Hi there</s>",
	[KLLM_CHAT_LLAMA2_SYS_BOS] =
		"[INST] <<SYS>>\n" S "\n<</SYS>>\n\nHello [/INST]Hi there</s>",
	[KLLM_CHAT_LLAMA2_SYS_STRIP] =
		"[INST] <<SYS>>\n" S "\n<</SYS>>\n\nHello [/INST]Hi there</s>",
	[KLLM_CHAT_MISTRAL_V1] = " [INST] " S "\n\nHello [/INST] Hi there</s>",
	[KLLM_CHAT_MISTRAL_V3] = "[INST] " S "\n\nHello[/INST] Hi there</s>",
	[KLLM_CHAT_MISTRAL_V3_TEKKEN] = "[INST]" S "\n\nHello[/INST]Hi there</s>",
	[KLLM_CHAT_MISTRAL_V7] =
		"[SYSTEM_PROMPT] " S "[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>",
	[KLLM_CHAT_MISTRAL_V7_TEKKEN] =
		"[SYSTEM_PROMPT]" S "[/SYSTEM_PROMPT][INST]Hello[/INST]Hi there</s>",
	[KLLM_CHAT_PHI3] =
		"<|system|>\n" S "<|end|>\n<|user|>\nHello<|end|>\n"
		"<|assistant|>\nHi there<|end|>\n<|assistant|>\n",
	[KLLM_CHAT_PHI4] =
		"<|im_start|>system<|im_sep|>" S "<|im_end|>"
		"<|im_start|>user<|im_sep|>Hello<|im_end|>"
		"<|im_start|>assistant<|im_sep|>Hi there<|im_end|>"
		"<|im_start|>assistant<|im_sep|>",
	[KLLM_CHAT_GEMMA] =
		"<start_of_turn>user\n" S "\n\nHello<end_of_turn>\n"
		"<start_of_turn>model\nHi there<end_of_turn>\n"
		"<start_of_turn>model\n",
	[KLLM_CHAT_LLAMA3] =
		"<|start_header_id|>system<|end_header_id|>\n\n" S "<|eot_id|>"
		"<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
		"<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
		"<|start_header_id|>assistant<|end_header_id|>\n\n",
};

START_TEST(test_format_three)
{
	expect_format(_i, conv3, 3, 1, want3[_i]);
}
END_TEST

/* Without the generation prompt only the cue at the end goes away. */
START_TEST(test_format_no_prompt)
{
	static const char *const cue[KLLM_CHAT_COUNT] = {
		[KLLM_CHAT_CHATML] = "<|im_start|>assistant\n",
		[KLLM_CHAT_PHI3] = "<|assistant|>\n",
		[KLLM_CHAT_PHI4] = "<|im_start|>assistant<|im_sep|>",
		[KLLM_CHAT_GEMMA] = "<start_of_turn>model\n",
		[KLLM_CHAT_LLAMA3] = "<|start_header_id|>assistant<|end_header_id|>\n\n",
	};
	char want[2048];
	size_t n = strlen(want3[_i]);

	if (cue[_i]) {
		ck_assert(n > strlen(cue[_i]));
		n -= strlen(cue[_i]);
		ck_assert(!strcmp(want3[_i] + n, cue[_i]));
	}
	memcpy(want, want3[_i], n);
	want[n] = '\0';
	expect_format(_i, conv3, 3, 0, want);
}
END_TEST

/* llama.cpp's test conversation and its expected outputs, verbatim. */
static const struct kllm_chat_msg conv6[] = {
	{ "system", S },
	{ "user", "Hello" },
	{ "assistant", "Hi there" },
	{ "user", "Who are you" },
	{ "assistant", "   I am an assistant   " },
	{ "user", "Another question" },
};

START_TEST(test_format_llama_cpp)
{
	static const struct {
		int tmpl;
		const char *want;
	} cases[] = {
		{ KLLM_CHAT_CHATML, "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n" },
		{ KLLM_CHAT_LLAMA2, "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question [/INST]" },
		{ KLLM_CHAT_LLAMA2_SYS_BOS, "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who are you [/INST]   I am an assistant   </s><s>[INST] Another question [/INST]" },
		{ KLLM_CHAT_LLAMA2_SYS_STRIP, "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]I am an assistant</s>[INST] Another question [/INST]" },
		{ KLLM_CHAT_GEMMA, "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n" },
		{ KLLM_CHAT_LLAMA3, "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" },
		{ KLLM_CHAT_PHI3, "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n" },
		{ KLLM_CHAT_MISTRAL_V1, " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   </s> [INST] Another question [/INST]" },
		{ KLLM_CHAT_MISTRAL_V3, "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST] I am an assistant</s>[INST] Another question[/INST]" },
		{ KLLM_CHAT_MISTRAL_V3_TEKKEN, "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   </s>[INST]Another question[/INST]" },
		{ KLLM_CHAT_MISTRAL_V7, "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST]    I am an assistant   </s>[INST] Another question[/INST]" },
		{ KLLM_CHAT_PHI4, "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_sep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>Hi there<|im_end|><|im_start|>user<|im_sep|>Who are you<|im_end|><|im_start|>assistant<|im_sep|>   I am an assistant   <|im_end|><|im_start|>user<|im_sep|>Another question<|im_end|><|im_start|>assistant<|im_sep|>" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_format(cases[i].tmpl, conv6, 6, 1, cases[i].want);
}
END_TEST

/* Gemma: system text waits for the next non-model turn, trimmed. */
START_TEST(test_format_gemma_system)
{
	static const struct kllm_chat_msg a[] = {
		{ "user", " Hi " },
		{ "system", "  first " },
		{ "assistant", "Yes" },
		{ "system", "second\n" },
		{ "user", "Go" },
	};
	static const struct kllm_chat_msg b[] = {
		{ "system", " \n\t" },
		{ "user", "Hi" },
	};

	expect_format(KLLM_CHAT_GEMMA, a, 5, 0,
		      "<start_of_turn>user\nHi<end_of_turn>\n"
		      "<start_of_turn>model\nYes<end_of_turn>\n"
		      "<start_of_turn>user\nfirstsecond\n\nGo<end_of_turn>\n");
	/* A blank system message adds nothing, not even the blank line. */
	expect_format(KLLM_CHAT_GEMMA, b, 2, 1,
		      "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
	/* No message at all: only the cue. */
	expect_format(KLLM_CHAT_GEMMA, NULL, 0, 1, "<start_of_turn>model\n");
	expect_format(KLLM_CHAT_LLAMA2, NULL, 0, 1, "[INST] ");
}
END_TEST

START_TEST(test_short_buffer)
{
	char want[2048], buf[2048];
	int len = kllm_chat_format(_i, conv6, 6, 1, want, sizeof(want));

	ck_assert_int_gt(len, 0);
	ck_assert_int_lt(len, (int)sizeof(want));
	ck_assert_int_eq(kllm_chat_format(_i, conv6, 6, 1, NULL, 0), len);
	for (size_t size = 0; size <= (size_t)len + 1; size++) {
		memset(buf, 'X', sizeof(buf));
		ck_assert_int_eq(kllm_chat_format(_i, conv6, 6, 1, buf, size), len);
		if (size == 0) {
			ck_assert(buf[0] == 'X');
			continue;
		}
		/* A prefix, NUL-terminated, and nothing written past it. */
		ck_assert_uint_eq(strlen(buf), size - 1 < (size_t)len ? size - 1 : (size_t)len);
		ck_assert(!memcmp(buf, want, strlen(buf)));
		ck_assert(buf[size] == 'X');
	}
}
END_TEST

START_TEST(test_format_errors)
{
	struct kllm_chat_msg bad[] = { { "user", NULL } };
	char buf[16] = "unchanged";

	ck_assert_int_eq(kllm_chat_format(-1, conv3, 3, 1, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(kllm_chat_format(KLLM_CHAT_COUNT, conv3, 3, 1, buf, sizeof(buf)),
			 -EINVAL);
	ck_assert_int_eq(kllm_chat_format(KLLM_CHAT_CHATML, bad, 1, 1, buf, sizeof(buf)),
			 -EINVAL);
	bad[0].content = "x";
	bad[0].role = NULL;
	ck_assert_int_eq(kllm_chat_format(KLLM_CHAT_CHATML, bad, 1, 1, buf, sizeof(buf)),
			 -EINVAL);
	ck_assert_int_eq(kllm_chat_format(KLLM_CHAT_CHATML, NULL, 2, 1, buf, sizeof(buf)),
			 -EINVAL);
	ck_assert_str_eq(buf, "unchanged");
}
END_TEST

static Suite *chat_suite(void)
{
	Suite *s = suite_create("chat");
	TCase *tc = tcase_create("chat");
	int nfiles = (int)(sizeof(files) / sizeof(files[0]));

	tcase_add_loop_test(tc, test_detect_files, 0, nfiles);
	tcase_add_test(tc, test_detect_strings);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_for_arch);
	tcase_add_loop_test(tc, test_format_three, 0, KLLM_CHAT_COUNT);
	tcase_add_loop_test(tc, test_format_no_prompt, 0, KLLM_CHAT_COUNT);
	tcase_add_test(tc, test_format_llama_cpp);
	tcase_add_test(tc, test_format_gemma_system);
	tcase_add_loop_test(tc, test_short_buffer, 0, KLLM_CHAT_COUNT);
	tcase_add_test(tc, test_format_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(chat_suite());
}
