/* SPDX-License-Identifier: MIT */
/*
 * test_model_ref.h - part of test_model.c: the independent reference
 * forward pass of llama, qwen2 and gemma3 in double precision, one token
 * at a time, from the weights as the test wrote them.
 */

/* ------------------------------------------------------------------ */
/* The reference: double precision, one token at a time.                */

/* A matrix: dequantized, plus each block's min for Q4_1/Q5_1 (see matvec). */
struct rmat {
	double *w;
	double *mins;	/* [rows][k / 32], or NULL */
};

struct rlayer {
	double *an, *fn;
	struct rmat q, k, v, o, g, u, d;
	double *bq, *bk, *bv;		/* qwen2, else NULL */
	double *qn, *kn, *pan, *pfn;	/* gemma3, else NULL */
};

struct ref {
	const struct tcfg *c;
	uint32_t hd, qd, kvd;
	double *embd, *onorm, *freqs;
	struct rmat out;
	struct rlayer l[MAX_LAYERS];
	double *kc[NSEQ][MAX_LAYERS], *vc[NSEQ][MAX_LAYERS];	/* [ctx][kvd] */
};

static double *deq(const struct tmodel *tm, const char *name)
{
	const struct tten *t = tm_find(tm, name);
	uint64_t rb = kk_row_bytes(t->type, t->ne0);
	double *d = kt_alloc(8ull * t->ne0 * t->rows);
	float *row = kt_alloc(4ull * t->ne0);

	for (uint32_t i = 0; i < t->rows; i++) {
		ck_assert_int_eq(kk_dequantize_row(t->type, (const uint8_t *)t->data + i * rb,
						   row, t->ne0), 0);
		for (uint32_t j = 0; j < t->ne0; j++)
			d[(uint64_t)i * t->ne0 + j] = row[j];
	}
	free(row);
	return d;
}

/* The min of each 32-element block: Q4_1 and Q5_1 keep it as f16 at byte 2. */
static struct rmat deq_mat(const struct tmodel *tm, const char *name)
{
	const struct tten *t = tm_find(tm, name);
	const uint64_t rb = kk_row_bytes(t->type, t->ne0), nb = t->ne0 / 32;
	const uint32_t bb = kk_type_block_bytes(t->type);
	struct rmat m = { .w = deq(tm, name) };
	float f;

	if (t->type != KK_TYPE_Q4_1 && t->type != KK_TYPE_Q5_1)
		return m;
	m.mins = kt_alloc(8 * nb * t->rows);
	for (uint32_t i = 0; i < t->rows; i++)
		for (uint64_t b = 0; b < nb; b++) {
			kk_dequantize_row(KK_TYPE_F16, (const uint8_t *)t->data + i * rb +
					  b * bb + 2, &f, 1);
			m.mins[i * nb + b] = f;
		}
	return m;
}

static void rmat_free(struct rmat *m)
{
	free(m->w);
	free(m->mins);
}

static void ref_init(struct ref *r, const struct tmodel *tm)
{
	const struct tcfg *c = &tm->c;
	char n[64];

	memset(r, 0, sizeof(*r));
	r->c = c;
	r->hd = head_dim(c);
	r->qd = c->n_head * r->hd;
	r->kvd = c->n_kv * r->hd;
	r->embd = deq(tm, "token_embd.weight");
	r->onorm = deq(tm, "output_norm.weight");
	r->out = deq_mat(tm, c->tied ? "token_embd.weight" : "output.weight");
	r->freqs = c->freqs ? deq(tm, "rope_freqs.weight") : NULL;
	for (uint32_t i = 0; i < c->n_layer; i++) {
		struct rlayer *l = &r->l[i];
#define L(s) (snprintf(n, sizeof(n), "blk.%u." s ".weight", i), n)
		l->an = deq(tm, L("attn_norm"));
		l->q = deq_mat(tm, L("attn_q"));
		l->k = deq_mat(tm, L("attn_k"));
		l->v = deq_mat(tm, L("attn_v"));
		l->o = deq_mat(tm, L("attn_output"));
		l->fn = deq(tm, L("ffn_norm"));
		l->g = deq_mat(tm, L("ffn_gate"));
		l->u = deq_mat(tm, L("ffn_up"));
		l->d = deq_mat(tm, L("ffn_down"));
#undef L
#define L(s) (snprintf(n, sizeof(n), "blk.%u." s, i), n)
		if (is_qwen(c)) {
			l->bq = deq(tm, L("attn_q.bias"));
			l->bk = deq(tm, L("attn_k.bias"));
			l->bv = deq(tm, L("attn_v.bias"));
		}
		if (is_gemma(c)) {
			l->qn = deq(tm, L("attn_q_norm.weight"));
			l->kn = deq(tm, L("attn_k_norm.weight"));
			l->pan = deq(tm, L("post_attention_norm.weight"));
			l->pfn = deq(tm, L("post_ffw_norm.weight"));
		}
#undef L
		for (int s = 0; s < NSEQ; s++) {
			r->kc[s][i] = kt_alloc(8ull * c->ctx * r->kvd);
			r->vc[s][i] = kt_alloc(8ull * c->ctx * r->kvd);
		}
	}
}

static void ref_free(struct ref *r)
{
	free(r->embd), free(r->onorm), free(r->freqs);
	rmat_free(&r->out);
	for (uint32_t i = 0; i < r->c->n_layer; i++) {
		struct rlayer *l = &r->l[i];

		free(l->an), free(l->fn);
		free(l->bq), free(l->bk), free(l->bv);
		free(l->qn), free(l->kn), free(l->pan), free(l->pfn);
		rmat_free(&l->q), rmat_free(&l->k), rmat_free(&l->v), rmat_free(&l->o);
		rmat_free(&l->g), rmat_free(&l->u), rmat_free(&l->d);
		for (int s = 0; s < NSEQ; s++)
			free(r->kc[s][i]), free(r->vc[s][i]);
	}
}

static void rmsnorm(const double *x, const double *w, double *y, uint32_t n)
{
	double ss = 0;

	for (uint32_t i = 0; i < n; i++)
		ss += x[i] * x[i];
	ss = 1.0 / sqrt(ss / n + 1e-5f);
	for (uint32_t i = 0; i < n; i++)
		y[i] = x[i] * ss * w[i];
}

/*
 * y (+)= W x, W: rows of k of the model's weight type.  As in ggml, x meets
 * a quantized weight quantized to the weight's partner type (Q8_0, Q8_1),
 * and that rounding is part of the computation: x is rounded the same way
 * here, and the products are summed in double.  Q8_1 also stores each
 * block's sum s (f16), which the Q4_1/Q5_1 products use for the min term:
 * sum_j (d q_j + min) x_j = d sum_j q_j x_j + min * s.
 */
static void matvec(const struct ref *r, const struct rmat *w, const double *x, double *y,
		   uint32_t k, uint32_t rows, int acc)
{
	const uint32_t vt = kk_type_vec_dot_type(r->c->wtype);
	double xr[256], corr[8] = { 0 };
	float xf[256], f;
	struct { uint16_t d, s; int8_t qs[32]; } q[8];	/* Q8_1 blocks (or Q8_0) */

	ck_assert_uint_le(k, 256);
	for (uint32_t j = 0; j < k; j++)
		xf[j] = (float)x[j];
	if (vt != KK_TYPE_F32) {
		ck_assert_int_eq(kk_quantize_row(vt, xf, q, k), 0);
		ck_assert_int_eq(kk_dequantize_row(vt, q, xf, k), 0);
	}
	for (uint32_t j = 0; j < k; j++)
		xr[j] = xf[j];
	for (uint32_t b = 0; w->mins && b < k / 32; b++) {
		kk_dequantize_row(KK_TYPE_F16, &q[b].s, &f, 1);
		corr[b] = f;
		for (uint32_t j = 0; j < 32; j++)
			corr[b] -= xr[b * 32 + j];
	}
	for (uint32_t i = 0; i < rows; i++) {
		double s = 0;

		for (uint32_t j = 0; j < k; j++)
			s += w->w[(uint64_t)i * k + j] * xr[j];
		for (uint32_t b = 0; w->mins && b < k / 32; b++)
			s += w->mins[(uint64_t)i * (k / 32) + b] * corr[b];
		y[i] = acc ? y[i] + s : s;
	}
}

/*
 * RoPE on n_head heads: pairs (2i, 2i+1) for llama, (i, i + n_rot/2) for
 * qwen2 and gemma3 (NeoX), with the base and scaling of the layer's kind.
 */
static void rope(const struct ref *r, double *x, uint32_t n_head, int32_t pos, uint32_t il)
{
	const uint32_t nr = r->c->n_rot;
	const int neox = is_qwen(r->c) || is_gemma(r->c);
	const int swa = layer_is_swa(r->c, il);
	const double base = swa ? ROPE_BASE_SWA : ROPE_BASE;
	/* linear scaling: positions divided by the factor (not on SWA layers) */
	const double fpos = pos / (r->c->rope_factor && !swa ? (double)r->c->rope_factor : 1.0);

	for (uint32_t h = 0; h < n_head; h++)
		for (uint32_t i = 0; i < nr / 2; i++) {
			double th = fpos * pow(base, -2.0 * i / nr);
			double *p0 = x + h * r->hd + (neox ? i : 2 * i);
			double *p1 = p0 + (neox ? nr / 2 : 1), a = *p0, b = *p1;

			if (r->freqs)
				th /= r->freqs[i];
			*p0 = a * cos(th) - b * sin(th);
			*p1 = a * sin(th) + b * cos(th);
		}
}

/* What the cache keeps: f16 (and q meets an f16 cache as f16, as in ggml). */
static double f16_round(double v)
{
	float f = (float)v;
	uint16_t h;

	kk_quantize_row(KK_TYPE_F16, &f, &h, 1);
	kk_dequantize_row(KK_TYPE_F16, &h, &f, 1);
	return f;
}

/*
 * What a Q8_0 cache keeps of @n values (whole blocks of 32, inside one
 * head): each block scaled to int8 with an f16 scale; q meets such a cache
 * quantized the same way (ggml's vec_dot_q8_0_q8_0), products exact.
 */
static void q8_0_round(double *x, uint32_t n)
{
	struct { uint16_t d; int8_t qs[32]; } q[8];
	float f[256];

	ck_assert_uint_le(n, 256);
	for (uint32_t j = 0; j < n; j++)
		f[j] = (float)x[j];
	ck_assert_int_eq(kk_quantize_row(KK_TYPE_Q8_0, f, q, n), 0);
	ck_assert_int_eq(kk_dequantize_row(KK_TYPE_Q8_0, q, f, n), 0);
	for (uint32_t j = 0; j < n; j++)
		x[j] = f[j];
}

/* @n cache values (a position's K or V) as the cache's type keeps them. */
static void kv_round(const struct ref *r, double *x, uint32_t n)
{
	if (r->c->kv_type == KLLM_KV_Q8_0) {
		q8_0_round(x, n);
		return;
	}
	for (uint32_t j = 0; j < n; j++)
		x[j] = f16_round(x[j]);
}

static void attend(const struct ref *r, uint32_t il, int s, const double *q, int32_t pos,
		   double *y)
{
	const uint32_t grp = r->c->n_head / r->c->n_kv;
	/* gemma3 scaled q before (see ref_token); a window: p > pos - swa */
	const double scale = is_gemma(r->c) ? 1.0 : 1.0 / sqrt((double)r->hd);
	const int32_t p0 = layer_is_swa(r->c, il) && pos >= (int32_t)r->c->swa ?
		pos - (int32_t)r->c->swa + 1 : 0;
	double sc[64];

	ck_assert_int_lt(pos, 64);
	for (uint32_t h = 0; h < r->c->n_head; h++) {
		const uint32_t g = h / grp;
		double mx = -INFINITY, sum = 0, qh[256];

		memcpy(qh, q + h * r->hd, 8 * r->hd);
		kv_round(r, qh, r->hd);
		for (int32_t p = p0; p <= pos; p++) {
			const double *k = r->kc[s][il] + (uint64_t)p * r->kvd + g * r->hd;

			sc[p] = 0;
			for (uint32_t j = 0; j < r->hd; j++)
				sc[p] += qh[j] * k[j];
			sc[p] *= scale;
			mx = fmax(mx, sc[p]);
		}
		for (int32_t p = p0; p <= pos; p++)
			sum += sc[p] = exp(sc[p] - mx);
		for (uint32_t j = 0; j < r->hd; j++) {
			double acc = 0;

			for (int32_t p = p0; p <= pos; p++)
				acc += sc[p] * r->vc[s][il][(uint64_t)p * r->kvd + g * r->hd + j];
			y[h * r->hd + j] = acc / sum;
		}
	}
}

static void add_vec(double *y, const double *b, uint32_t n)
{
	for (uint32_t i = 0; b && i < n; i++)
		y[i] += b[i];
}

static void head_norm(double *x, const double *w, uint32_t n_head, uint32_t hd)
{
	for (uint32_t h = 0; h < n_head; h++)
		rmsnorm(x + h * hd, w, x + h * hd, hd);
}

/* GELU, tanh form (ggml's and the kernels'). */
static double gelu(double x)
{
	return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* x += W a, or gemma3's x += rmsnorm(W a) * post. */
static void residual(const struct ref *r, const struct rmat *w, const double *a,
		     const double *post, double *x, uint32_t k)
{
	const uint32_t d = r->c->n_embd;
	double t[256];

	if (!post) {
		matvec(r, w, a, x, k, d, 1);
		return;
	}
	matvec(r, w, a, t, k, d, 0);
	rmsnorm(t, post, t, d);
	add_vec(x, t, d);
}

static void ref_token(struct ref *r, int32_t tok, int32_t pos, int s, double *logits)
{
	const struct tcfg *c = r->c;
	const uint32_t d = c->n_embd;
	double x[256], xn[256], q[256], k[256], v[256], a[256], g[256], u[256];

	ck_assert_uint_le(d, 256);
	ck_assert_uint_le(c->n_ff, 256);
	ck_assert_uint_le(r->qd, 256);
	memcpy(x, r->embd + (uint64_t)tok * d, 8 * d);
	for (uint32_t j = 0; is_gemma(c) && j < d; j++)
		x[j] *= sqrtf((float)d);
	for (uint32_t il = 0; il < c->n_layer; il++) {
		const struct rlayer *l = &r->l[il];

		rmsnorm(x, l->an, xn, d);
		matvec(r, &l->q, xn, q, d, r->qd, 0);
		matvec(r, &l->k, xn, k, d, r->kvd, 0);
		matvec(r, &l->v, xn, v, d, r->kvd, 0);
		add_vec(q, l->bq, r->qd);
		add_vec(k, l->bk, r->kvd);
		add_vec(v, l->bv, r->kvd);
		if (l->qn) {
			head_norm(q, l->qn, c->n_head, r->hd);
			head_norm(k, l->kn, c->n_kv, r->hd);
		}
		rope(r, q, c->n_head, pos, il);
		rope(r, k, c->n_kv, pos, il);
		for (uint32_t j = 0; is_gemma(c) && j < r->qd; j++)
			q[j] *= 1.0 / sqrt((double)r->hd);
		kv_round(r, k, r->kvd);
		kv_round(r, v, r->kvd);
		memcpy(r->kc[s][il] + (uint64_t)pos * r->kvd, k, 8 * r->kvd);
		memcpy(r->vc[s][il] + (uint64_t)pos * r->kvd, v, 8 * r->kvd);
		attend(r, il, s, q, pos, a);
		residual(r, &l->o, a, l->pan, x, r->qd);
		rmsnorm(x, l->fn, xn, d);
		matvec(r, &l->g, xn, g, d, c->n_ff, 0);
		matvec(r, &l->u, xn, u, d, c->n_ff, 0);
		for (uint32_t j = 0; j < c->n_ff; j++)
			g[j] = (is_gemma(c) ? gelu(g[j]) : g[j] / (1 + exp(-g[j]))) * u[j];
		residual(r, &l->d, g, l->pfn, x, c->n_ff);
	}
	rmsnorm(x, r->onorm, xn, d);
	matvec(r, &r->out, xn, logits, d, c->n_vocab, 0);
}
