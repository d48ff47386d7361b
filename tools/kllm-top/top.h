/* SPDX-License-Identifier: MIT */
/*
 * top.h - kllm-top's data: one snapshot of the driver's debugfs statistics
 * (stats.c) and of the DRM clients found through /proc fdinfo (proc.c),
 * the figures derived from two snapshots (delta.c), and their text and
 * JSON renderings (render.c).  main.c and term.c run the refresh loop.
 */
#ifndef KLLM_TOP_H
#define KLLM_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A value the driver did not report: shown as "-", null in JSON. */
#define TOP_NA UINT64_MAX

/* Single-value keys of the stats file, in the order they are shown. */
enum top_key {
	TOP_JOBS_SUBMITTED,
	TOP_JOBS_COMPLETED,
	TOP_JOBS_FAILED,
	TOP_JOBS_TIMED_OUT,
	TOP_JOBS_CANCELLED,
	TOP_JOBS_KILLED,
	TOP_JOBS_IN_FLIGHT,
	TOP_BATCHES,
	TOP_BATCHED_JOBS,
	TOP_BUSY_NS,
	TOP_ENGINE_THREADS,
	TOP_PROGRAMS,
	TOP_PINNED_BYTES,
	TOP_USERPTR_BYTES,
	TOP_SHMEM_BYTES,
	TOP_FPU_MAX_NS,
	TOP_NKEYS
};

/* Scheduling classes, as in the "class NAME ..." lines and kllm-priority. */
enum top_class_id {
	TOP_INTERACTIVE,
	TOP_NORMAL,
	TOP_BACKGROUND,
	TOP_NCLASS
};

extern const char *const top_key_names[TOP_NKEYS];
extern const char *const top_class_names[TOP_NCLASS];

struct top_class {
	uint64_t queued;
	uint64_t jobs;		/* finished jobs of the class */
	uint64_t wait_ns;	/* their summed queue time */
	uint64_t run_ns;	/* their summed run time */
};

struct top_uid {
	uint32_t uid;
	uint64_t bytes;
};

struct top_stats {
	uint64_t v[TOP_NKEYS];
	struct top_class cls[TOP_NCLASS];
	struct top_uid *uids;	/* pinned_bytes_uid lines, sorted by uid */
	size_t n_uids;
};

/* One DRM client (struct drm_file) of kllm, however many fds share it. */
struct top_client {
	int pid;		/* lowest pid holding it */
	char comm[32];
	uint64_t id;		/* drm-client-id */
	int prio;		/* enum top_class_id, -1 if not reported */
	uint64_t engine_ns;	/* drm-engine-kllm */
	uint64_t shmem;		/* drm-total-shmem, bytes */
	uint64_t resident;	/* drm-resident-shmem, bytes */
	uint64_t pinned;	/* drm-total-pinned, bytes */
	uint64_t jobs;		/* kllm-jobs */
	uint64_t queued;	/* kllm-queued */
};

struct top_snap {
	uint64_t t_ns;		/* CLOCK_MONOTONIC when taken */
	struct top_stats st;
	struct top_client *cl;
	size_t n_cl;
};

/* stats.c */
void top_stats_init(struct top_stats *st);
void top_stats_free(struct top_stats *st);
int top_stats_parse(const char *text, struct top_stats *st);
int top_stats_read(const char *debugfs, struct top_stats *st,
		   char *err, size_t errlen);
int top_read_file(const char *path, size_t max, char **out);

/* proc.c */
int top_fdinfo_parse(const char *text, struct top_client *c);
int top_clients_scan(const char *proc, struct top_client **out, size_t *n);

/* snapshot: both of the above; -errno with a message in err. */
int top_snap_take(const char *debugfs, const char *proc, struct top_snap *s,
		  char *err, size_t errlen);
void top_snap_free(struct top_snap *s);

/* delta.c: figures over the interval prev..cur (prev NULL: since load). */
struct top_class_view {
	double wait_ms;		/* mean queue time per finished job, NAN: - */
	double run_ms;
};

struct top_client_view {
	const struct top_client *c;
	double engine_pct;	/* share of wall time, NAN without prev */
	double jobs_per_s;
};

struct top_view {
	const struct top_snap *cur;
	double interval_s;	/* NAN without prev */
	double jobs_per_s;	/* completed */
	double submitted_per_s;
	double busy_pct;	/* engine busy share of wall time */
	double mean_batch;	/* jobs per batch */
	struct top_class_view cls[TOP_NCLASS];
	struct top_client_view *cl;	/* sorted: busiest first */
	size_t n_cl;
};

int top_view_make(const struct top_snap *prev, const struct top_snap *cur,
		  struct top_view *v);
void top_view_free(struct top_view *v);

/* render.c */
struct top_render_opts {
	bool ansi;		/* clear screen, home cursor */
	int max_rows;		/* screen height, 0: no limit */
};

void top_fmt_bytes(char *buf, size_t n, uint64_t bytes);
void top_render_text(FILE *f, const struct top_view *v,
		     const struct top_render_opts *o);
void top_render_json(FILE *f, const struct top_view *v);

/* term.c: raw keyboard input for the live view, the wait between refreshes. */
int top_term_signals(void);
int top_term_raw(void);
void top_term_restore(void);
int top_term_wait(double seconds, bool keys);

#endif /* KLLM_TOP_H */
