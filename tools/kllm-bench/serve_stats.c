// SPDX-License-Identifier: MIT
/*
 * serve_stats.c - `kllm-bench serve`'s numbers: samples per class,
 * percentiles, the table, the JSON object, the ratios and the plot.
 */
#include "bench.h"
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *serve_prio_name(uint32_t prio)
{
	static const char *const names[] = { "normal", "interactive", "background" };

	return prio <= KLLM_PRIORITY_BACKGROUND ? names[prio] : "?";
}

int serve_samples_add(struct serve_samples *s, double ttft, const float *tok, int n,
		      double end)
{
	if (bench_grow(&s->ttft, &s->cap_ttft, s->n_ttft + 1) ||
	    bench_grow(&s->tok, &s->cap_tok, s->n_tok + n))
		return -1;
	s->ttft[s->n_ttft++] = ttft;
	for (int i = 0; i < n; i++)
		s->tok[s->n_tok++] = tok[i];
	s->tokens += (uint64_t)n + 1;	/* the first token came with the TTFT */
	if (end > s->last_end)
		s->last_end = end;
	return 0;
}

void serve_samples_free(struct serve_samples *s)
{
	free(s->ttft);
	free(s->tok);
	memset(s, 0, sizeof(*s));
}

void serve_class_finish(struct serve_class *c, struct serve_samples *s, double t_start)
{
	if (s->n_ttft)
		bench_sort(s->ttft, s->n_ttft);
	if (s->n_tok)
		bench_sort(s->tok, s->n_tok);
	c->requests = s->n_ttft;
	c->tokens = s->tokens;
	c->ttft_p50 = bench_pct_ms(s->ttft, s->n_ttft, 50);
	c->ttft_p99 = bench_pct_ms(s->ttft, s->n_ttft, 99);
	c->tok_p50 = bench_pct_ms(s->tok, s->n_tok, 50);
	c->tok_p99 = bench_pct_ms(s->tok, s->n_tok, 99);
	c->gen_tps = s->last_end > t_start ? (double)s->tokens / (s->last_end - t_start) : 0;
}

const struct serve_class *serve_find_class(const struct serve_run *r, uint32_t prio)
{
	for (int i = 0; i < r->n_cls; i++)
		if (r->cls[i].spec.prio == prio && r->cls[i].spec.count)
			return &r->cls[i];
	return NULL;
}

/* ------------------------------------------------------------ ratios */

/* The sweep's run with no background clients and an interactive class. */
static const struct serve_class *alone(const struct serve_report *rep)
{
	for (int i = 0; i < rep->n_runs; i++)
		if (!rep->runs[i].background)
			return serve_find_class(&rep->runs[i], KLLM_PRIORITY_INTERACTIVE);
	return NULL;
}

/* Interactive p99 per-token latency of run @i ÷ alone; 0: not defined. */
static double p99_ratio(const struct serve_report *rep, int i)
{
	const struct serve_class *a = alone(rep),
		*c = serve_find_class(&rep->runs[i], KLLM_PRIORITY_INTERACTIVE);

	if (!a || !c || !rep->runs[i].background || a->tok_p99 <= 0)
		return 0;
	return c->tok_p99 / a->tok_p99;
}

static double scale_ratio(const struct serve_report *rep)
{
	return rep->scale[0].total_tps > 0 ? rep->scale[1].total_tps / rep->scale[0].total_tps
					   : 0;
}

/* ------------------------------------------------------------ table */

static const char *backend(const struct serve_report *rep)
{
	if (rep->n_runs)
		return rep->runs[0].backend;
	return rep->scale ? rep->scale[0].backend : "?";
}

static void table_rows(const struct serve_run *r, int with_bg)
{
	char bg[16] = "";

	if (with_bg)
		snprintf(bg, sizeof(bg), "%d", r->background);
	for (int i = 0; i < r->n_cls; i++) {
		const struct serve_class *c = &r->cls[i];

		if (!c->spec.count)
			continue;
		printf("| %3s | %-11s | %7d | %6d | %4d | %5d | %8.2f | %8.2f | %7.2f | %7.2f "
		       "| %8.1f |\n", bg, serve_prio_name(c->spec.prio), c->spec.count,
		       c->spec.prompt, c->spec.gen, c->requests, c->ttft_p50, c->ttft_p99,
		       c->tok_p50, c->tok_p99, c->gen_tps);
	}
	printf("| %3s | %-11s | %7s | %6s | %4s | %5s | %8s | %8s | %7s | %7s | %8.1f |\n", bg,
	       "all", "", "", "", "", "", "", "", "", r->total_tps);
}

static void table_head(void)
{
	printf("| %3s | %-11s | %7s | %6s | %4s | %5s | %8s | %8s | %7s | %7s | %8s |\n", "bg",
	       "class", "clients", "prompt", "gen", "reqs", "TTFT p50", "TTFT p99", "tok p50",
	       "tok p99", "tok/s");
	printf("|-----|-------------|---------|--------|------|-------|----------|----------"
	       "|---------|---------|----------|\n");
}

void serve_print_table(const struct serve_report *rep)
{
	printf("kllm-bench serve: %s, engine %s (%s), %d thread%s per client (cpu), "
	       "%d requests per client\n", rep->model, rep->engine, backend(rep), rep->threads,
	       rep->threads == 1 ? "" : "s", rep->requests);
	printf("times in ms: TTFT from the prompt to the first token, tok: each later token;"
	       " tok/s: generated tokens over the run\n\n");
	if (rep->n_runs) {
		table_head();
		for (int i = 0; i < rep->n_runs; i++)
			table_rows(&rep->runs[i], 1);
	}
	for (int i = 0; i < rep->n_runs; i++)
		if (p99_ratio(rep, i) > 0)
			printf("\ninteractive p99 per-token latency, %d background ÷ alone: %.2f",
			       rep->runs[i].background, p99_ratio(rep, i));
	if (rep->n_runs && alone(rep))
		printf("\n");
	if (!rep->scale)
		return;
	printf("\ndecode scaling (normal class, prompt %d, gen %d):\n", rep->scale_prompt,
	       rep->scale_gen);
	table_head();
	table_rows(&rep->scale[0], 0);
	table_rows(&rep->scale[1], 0);
	printf("total tokens/s, 4 clients ÷ 1: %.2f\n", scale_ratio(rep));
}

/* ------------------------------------------------------------ JSON */

static void json_run(const struct serve_run *r)
{
	printf("{\"background\": %d, \"seconds\": %.6f, \"total_tps\": %.4f, \"classes\": [",
	       r->background, r->seconds, r->total_tps);
	for (int i = 0, first = 1; i < r->n_cls; i++) {
		const struct serve_class *c = &r->cls[i];

		if (!c->spec.count)
			continue;
		printf("%s\n      {\"class\": \"%s\", \"clients\": %d, \"prompt\": %d, "
		       "\"gen\": %d, \"requests\": %d, \"tokens\": %llu, \"ttft_p50_ms\": %.4f, "
		       "\"ttft_p99_ms\": %.4f, \"tok_p50_ms\": %.4f, \"tok_p99_ms\": %.4f, "
		       "\"gen_tps\": %.4f}", first ? "" : ",", serve_prio_name(c->spec.prio),
		       c->spec.count, c->spec.prompt, c->spec.gen, c->requests,
		       (unsigned long long)c->tokens, c->ttft_p50, c->ttft_p99, c->tok_p50,
		       c->tok_p99, c->gen_tps);
		first = 0;
	}
	printf("]}");
}

void serve_print_json(const struct serve_report *rep)
{
	int first = 1;

	printf("{\"model\": ");
	bench_json_str(rep->model);
	printf(", \"engine\": \"%s\", \"backend\": ", rep->engine);
	bench_json_str(backend(rep));
	printf(", \"threads\": %d, \"requests_per_client\": %d,\n  \"runs\": [", rep->threads,
	       rep->requests);
	for (int i = 0; i < rep->n_runs; i++) {
		printf("%s\n    ", i ? "," : "");
		json_run(&rep->runs[i]);
	}
	printf("],\n  \"interactive_p99_ratio\": ");
	for (int i = 0; i < rep->n_runs; i++) {
		if (p99_ratio(rep, i) <= 0)
			continue;
		printf("%s{\"background\": %d, \"ratio\": %.4f}", first ? "[" : ", ",
		       rep->runs[i].background, p99_ratio(rep, i));
		first = 0;
	}
	printf("%s,\n  \"decode_scaling\": ", first ? "null" : "]");
	if (rep->scale)
		printf("{\"prompt\": %d, \"gen\": %d, \"tps_1\": %.4f, \"tps_4\": %.4f, "
		       "\"ratio\": %.4f}", rep->scale_prompt, rep->scale_gen,
		       rep->scale[0].total_tps, rep->scale[1].total_tps, scale_ratio(rep));
	else
		printf("null");
	printf("}\n");
}

/* ------------------------------------------------------------ plot */

int serve_plot(const struct serve_report *rep, const char *path)
{
	char data[] = "/tmp/kllm-bench-serve-XXXXXX";
	const struct serve_class *c = NULL;
	int fd = mkstemp(data), ret;
	FILE *f, *gp;

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		perror("kllm-bench: plot data");
		return -1;
	}
	fprintf(f, "# background tok_p50 tok_p99 ttft_p50 ttft_p99 (ms)\n");
	for (int i = 0; i < rep->n_runs; i++)
		if ((c = serve_find_class(&rep->runs[i], KLLM_PRIORITY_INTERACTIVE)))
			fprintf(f, "%d %.4f %.4f %.4f %.4f\n", rep->runs[i].background,
				c->tok_p50, c->tok_p99, c->ttft_p50, c->ttft_p99);
	fclose(f);
	gp = popen("gnuplot", "w");
	if (!gp) {
		unlink(data);
		return -1;
	}
	fprintf(gp, "set terminal png size 800,500\nset output '%s'\n"
		"set title 'kllm serve: %s, engine %s, interactive latency against background "
		"load' noenhanced\n"
		"set xlabel 'background clients'\nset ylabel 'per-token latency, ms'\n"
		"set y2label 'time to first token, ms'\nset ytics nomirror\nset y2tics\n"
		"set xtics 1\nset yrange [0:*]\nset y2range [0:*]\nset grid\nset key top left\n"
		"plot '%s' using 1:2 with linespoints title 'per-token p50', "
		"'' using 1:3 with linespoints title 'per-token p99', "
		"'' using 1:4 axes x1y2 with linespoints dashtype 2 title 'TTFT p50', "
		"'' using 1:5 axes x1y2 with linespoints dashtype 2 title 'TTFT p99'\n",
		path, rep->model, backend(rep), data);
	ret = pclose(gp);
	unlink(data);
	if (ret) {
		fprintf(stderr, "kllm-bench: gnuplot failed (status %d)\n", ret);
		return -1;
	}
	fprintf(stderr, "kllm-bench: plot written to %s\n", path);
	return 0;
}
