// SPDX-License-Identifier: GPL-2.0
/*
 * kllm_main.c - module entry: picks the kernels/ SIMD path, then sets up
 * the pin accounting (kllm_acct.c) and the DRM device (kllm_drv.c).  Jobs
 * come on top of this (see docs/ARCHITECTURE.md, docs/DRIVER.md).
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

#include "kllm_drv.h"
#include "kllm_fpu_host.h"
#include "kllm_job.h"
#include "kllm_kv.h"

static char *simd = "auto";
module_param(simd, charp, 0444);
MODULE_PARM_DESC(simd, "kernels/ SIMD path: auto (best available), scalar, avx2, avx512, neon, dotprod, i8mm");

static int __init kllm_init(void)
{
	int want, ret;
	u32 mask;

	mask = kk_simd_available(kllm_cpu_hwcap());

	if (!strcmp(simd, "auto")) {
		want = kk_simd_best(mask);
	} else {
		want = kk_simd_parse(simd);
		if (want < 0) {
			pr_err("kllm: unknown simd=%s\n", simd);
			return -EINVAL;
		}
	}
	ret = kllm_fpu_simd_select(want);
	if (ret) {
		pr_err("kllm: simd=%s not supported by this CPU\n", simd);
		return -EINVAL;
	}
	pr_info("kllm: kernels path %s (available mask 0x%x)\n",
		kk_simd_name(want), mask);
	ret = kllm_acct_init();
	if (ret)
		return ret;
	ret = kllm_engine_init();
	if (ret)
		goto exit_acct;
	ret = kllm_kv_init();
	if (ret)
		goto exit_engine;
	ret = kllm_drv_register();
	if (ret) {
		pr_err("kllm: device registration failed: %d\n", ret);
		goto exit_kv;
	}
	return 0;

exit_kv:
	kllm_kv_exit();
exit_engine:
	kllm_engine_exit();
exit_acct:
	kllm_acct_exit();
	return ret;
}

/* No file is open (each holds the module): jobs left are cancelled ones. */
static void __exit kllm_exit(void)
{
	kllm_engine_exit();
	kllm_drv_unregister();
	kllm_kv_exit();
	kllm_acct_exit();
}

module_init(kllm_init);
module_exit(kllm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kllm: shared on-device LLM accelerator");
MODULE_AUTHOR("kllm developers");
