// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kk_types.c - what each tensor type is: block geometry, name, role.
 *
 * Integers only: this file is built without FPU flags and may be called from
 * anywhere in the kernel home.
 */
#include "kk.h"
#include "kk_blocks.h"

struct kk_type_traits {
	const char *name;	/* NULL: type not supported */
	kk_u32 block_elems;
	kk_u32 block_bytes;
	kk_u32 vec_dot_type;	/* KK_TYPE_COUNT: not a weight type */
};

#define KK_NOT_WEIGHT KK_TYPE_COUNT

static const struct kk_type_traits kk_traits[KK_TYPE_COUNT] = {
	[KK_TYPE_F32] = { "f32", 1, 4, KK_TYPE_F32 },
	[KK_TYPE_F16] = { "f16", 1, 2, KK_TYPE_F16 },
	[KK_TYPE_BF16] = { "bf16", 1, 2, KK_TYPE_BF16 },
	[KK_TYPE_Q4_0] = { "q4_0", QK4_0, sizeof(struct kk_block_q4_0), KK_TYPE_Q8_0 },
	[KK_TYPE_Q4_1] = { "q4_1", QK4_1, sizeof(struct kk_block_q4_1), KK_TYPE_Q8_1 },
	[KK_TYPE_Q5_0] = { "q5_0", QK5_0, sizeof(struct kk_block_q5_0), KK_TYPE_Q8_0 },
	[KK_TYPE_Q5_1] = { "q5_1", QK5_1, sizeof(struct kk_block_q5_1), KK_TYPE_Q8_1 },
	[KK_TYPE_Q8_0] = { "q8_0", QK8_0, sizeof(struct kk_block_q8_0), KK_TYPE_Q8_0 },
	[KK_TYPE_Q8_1] = { "q8_1", QK8_1, sizeof(struct kk_block_q8_1), KK_NOT_WEIGHT },
	[KK_TYPE_Q4_K] = { "q4_K", QK_K, sizeof(struct kk_block_q4_K), KK_TYPE_Q8_K },
	[KK_TYPE_Q5_K] = { "q5_K", QK_K, sizeof(struct kk_block_q5_K), KK_TYPE_Q8_K },
	[KK_TYPE_Q6_K] = { "q6_K", QK_K, sizeof(struct kk_block_q6_K), KK_TYPE_Q8_K },
	[KK_TYPE_Q8_K] = { "q8_K", QK_K, sizeof(struct kk_block_q8_K), KK_NOT_WEIGHT },
};

static const struct kk_type_traits *kk_traits_of(kk_u32 type)
{
	if (type >= KK_TYPE_COUNT || !kk_traits[type].name)
		return NULL;
	return &kk_traits[type];
}

kk_u32 kk_type_block_elems(kk_u32 type)
{
	const struct kk_type_traits *t = kk_traits_of(type);

	return t ? t->block_elems : 0;
}

kk_u32 kk_type_block_bytes(kk_u32 type)
{
	const struct kk_type_traits *t = kk_traits_of(type);

	return t ? t->block_bytes : 0;
}

const char *kk_type_name(kk_u32 type)
{
	const struct kk_type_traits *t = kk_traits_of(type);

	return t ? t->name : "?";
}

int kk_type_is_weight(kk_u32 type)
{
	const struct kk_type_traits *t = kk_traits_of(type);

	return t && t->vec_dot_type != KK_NOT_WEIGHT;
}

/* KK_TYPE_COUNT (an invalid type) for activation-only or unknown types. */
kk_u32 kk_type_vec_dot_type(kk_u32 type)
{
	const struct kk_type_traits *t = kk_traits_of(type);

	return t ? t->vec_dot_type : KK_NOT_WEIGHT;
}

kk_u64 kk_row_bytes(kk_u32 type, kk_u64 n)
{
	const struct kk_type_traits *t = kk_traits_of(type);
	kk_u64 bytes;

	if (!t || n % t->block_elems)
		return 0;
	if (__builtin_mul_overflow(n / t->block_elems, (kk_u64)t->block_bytes, &bytes))
		return 0;
	return bytes;
}
