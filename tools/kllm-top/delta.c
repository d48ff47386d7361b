// SPDX-License-Identifier: MIT
/*
 * delta.c - what the screen shows, from two snapshots: rates and shares
 * over the refresh interval, means (wait, run, batch size) over the jobs
 * finished in it.  Without a previous snapshot (first screen, --once)
 * rates are unknown and means cover everything since the module loaded,
 * as top's first screen covers everything since boot.  A counter that
 * went down (module reloaded) gives unknown, never a negative rate.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "top.h"

/* (num - num0) / (den - den0) * scale; NAN when unknown or den did not move. */
static double ratio(uint64_t num, uint64_t num0, uint64_t den, uint64_t den0,
		    double scale)
{
	if (num == TOP_NA || num0 == TOP_NA || den == TOP_NA || den0 == TOP_NA ||
	    num < num0 || den <= den0)
		return NAN;
	return (double)(num - num0) / (double)(den - den0) * scale;
}

static double rate(uint64_t cur, uint64_t prev, double secs)
{
	if (cur == TOP_NA || prev == TOP_NA || cur < prev || !(secs > 0))
		return NAN;
	return (double)(cur - prev) / secs;
}

static const struct top_client *find_client(const struct top_snap *s,
					    uint64_t id)
{
	for (size_t i = 0; s && i < s->n_cl; i++)
		if (s->cl[i].id == id)
			return &s->cl[i];
	return NULL;
}

static void client_view(const struct top_snap *prev, const struct top_client *c,
			double secs, struct top_client_view *cv)
{
	const struct top_client *p = find_client(prev, c->id);
	/* A client opened during the interval started from zero. */
	uint64_t eng0 = p ? p->engine_ns : 0, jobs0 = p ? p->jobs : 0;

	cv->c = c;
	cv->engine_pct = NAN;
	cv->jobs_per_s = NAN;
	if (!prev)
		return;
	cv->engine_pct = rate(c->engine_ns, eng0, secs) / 1e9 * 100.0;
	cv->jobs_per_s = rate(c->jobs, jobs0, secs);
}

/* Busiest first; unknown shares last; then by total time, then by id. */
static int cmp_client(const void *a, const void *b)
{
	const struct top_client_view *x = a, *y = b;
	bool xn = isnan(x->engine_pct), yn = isnan(y->engine_pct);
	uint64_t ex = x->c->engine_ns == TOP_NA ? 0 : x->c->engine_ns;
	uint64_t ey = y->c->engine_ns == TOP_NA ? 0 : y->c->engine_ns;

	if (xn != yn)
		return xn - yn;
	if (!xn && x->engine_pct != y->engine_pct)
		return x->engine_pct < y->engine_pct ? 1 : -1;
	if (ex != ey)
		return ex < ey ? 1 : -1;
	return (x->c->id > y->c->id) - (x->c->id < y->c->id);
}

int top_view_make(const struct top_snap *prev, const struct top_snap *cur,
		  struct top_view *v)
{
	const uint64_t *c = cur->st.v, zero[TOP_NKEYS] = { 0 };
	const uint64_t *p = prev ? prev->st.v : zero;
	double secs = NAN;

	memset(v, 0, sizeof(*v));
	v->cur = cur;
	if (prev && cur->t_ns > prev->t_ns)
		secs = (double)(cur->t_ns - prev->t_ns) / 1e9;
	v->interval_s = secs;
	v->jobs_per_s = rate(c[TOP_JOBS_COMPLETED], p[TOP_JOBS_COMPLETED], secs);
	v->submitted_per_s = rate(c[TOP_JOBS_SUBMITTED], p[TOP_JOBS_SUBMITTED], secs);
	v->busy_pct = rate(c[TOP_BUSY_NS], p[TOP_BUSY_NS], secs) / 1e9 * 100.0;
	v->mean_batch = ratio(c[TOP_BATCHED_JOBS], p[TOP_BATCHED_JOBS],
			      c[TOP_BATCHES], p[TOP_BATCHES], 1.0);
	for (int i = 0; i < TOP_NCLASS; i++) {
		const struct top_class *k = &cur->st.cls[i];
		struct top_class z = { 0 };
		const struct top_class *k0 = prev ? &prev->st.cls[i] : &z;

		v->cls[i].wait_ms = ratio(k->wait_ns, k0->wait_ns, k->jobs,
					  k0->jobs, 1e-6);
		v->cls[i].run_ms = ratio(k->run_ns, k0->run_ns, k->jobs,
					 k0->jobs, 1e-6);
	}
	if (!cur->n_cl)
		return 0;
	v->cl = calloc(cur->n_cl, sizeof(*v->cl));
	if (!v->cl)
		return -ENOMEM;
	v->n_cl = cur->n_cl;
	for (size_t i = 0; i < cur->n_cl; i++)
		client_view(prev, &cur->cl[i], secs, &v->cl[i]);
	qsort(v->cl, v->n_cl, sizeof(*v->cl), cmp_client);
	return 0;
}

void top_view_free(struct top_view *v)
{
	free(v->cl);
	v->cl = NULL;
	v->n_cl = 0;
}
