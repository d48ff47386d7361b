// SPDX-License-Identifier: MIT
/*
 * guest_basic.c - kllm.ko load/unload in the QEMU guest: the SIMD path it
 * reports, simd= parsing, repeated reloads, and that an unprivileged user
 * can neither load nor unload it.
 */
#include "guest.h"

#define KLLM "kllm"
#define PATH_LINE "kllm: kernels path "

/* Every test starts and ends with the module unloaded. */
static void unload_quietly(void)
{
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
}

/* Load with @params; the path named in the kernel log goes to @path. */
static int load_and_read_path(const char *params, char *path, size_t pathsz)
{
	char msg[512];
	int fd = vm_kmsg_open();
	int ret;

	ck_assert_int_ge(fd, 0);
	ret = vm_load_kllm(params);
	if (ret == 0) {
		ck_assert_msg(vm_kmsg_find(fd, PATH_LINE, msg, sizeof(msg)),
			      "no \"%s\" line after insmod %s", PATH_LINE, params);
		printf("vm: insmod kllm.ko %s -> %s\n", params, msg);
		vm_strlcpy(path, msg + strlen(PATH_LINE), pathsz);
		path[strcspn(path, " ")] = '\0';
	}
	close(fd);
	return ret;
}

/*
 * The module's paths on this architecture beside scalar, worst first,
 * and whether the guest CPU has each (/proc/cpuinfo, as the kernel sees
 * it): auto must pick the last one the CPU has, simd=NAME must load
 * exactly NAME where the CPU has it and be refused (-EINVAL) where not.
 */
struct path_need {
	const char *name;
	const char *flags[3];	/* all of them */
};

static const struct path_need paths[] = {
#if defined(__aarch64__)
	{ "neon", { "asimd" } },
	{ "dotprod", { "asimd", "asimddp" } },
	{ "i8mm", { "asimd", "asimddp", "i8mm" } },
#else
	{ "avx2", { "avx2", "fma", "f16c" } },
	{ "avx512", { "avx512f", "avx512bw", "avx512vl" } },
#endif
};

#define N_PATHS (sizeof(paths) / sizeof(paths[0]))

static int cpu_has_path(const struct path_need *p)
{
	for (size_t i = 0; i < 3 && p->flags[i]; i++)
		if (!vm_cpu_has(p->flags[i]))
			return 0;
	return 1;
}

START_TEST(test_load_auto)
{
	const char *want = "scalar";
	char path[64];

	for (size_t i = 0; i < N_PATHS; i++)
		if (cpu_has_path(&paths[i]))
			want = paths[i].name;
	ck_assert_int_eq(load_and_read_path("", path, sizeof(path)), 0);
	ck_assert(vm_module_loaded(KLLM));
	ck_assert_str_eq(path, want);
	ck_assert_int_eq(vm_unload(KLLM), 0);
	ck_assert(!vm_module_loaded(KLLM));
}
END_TEST

START_TEST(test_load_scalar)
{
	char path[64];

	ck_assert_int_eq(load_and_read_path("simd=scalar", path, sizeof(path)), 0);
	ck_assert_str_eq(path, "scalar");
	ck_assert_int_eq(vm_unload(KLLM), 0);
}
END_TEST

/* Each path: exactly it where the CPU has it; refused, not silently
 * replaced, where it does not (TCG's x86 -cpu max has no AVX-512). */
START_TEST(test_load_each_path)
{
	const struct path_need *p = &paths[_i];
	char params[32], path[64];
	int ret;

	snprintf(params, sizeof(params), "simd=%s", p->name);
	ret = load_and_read_path(params, path, sizeof(path));
	printf("vm: %s: cpu %s it, insmod %d\n", params, cpu_has_path(p) ? "has" : "lacks", ret);
	if (!cpu_has_path(p)) {
		ck_assert_int_eq(ret, -EINVAL);
		ck_assert(!vm_module_loaded(KLLM));
		return;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert_str_eq(path, p->name);
	ck_assert_int_eq(vm_unload(KLLM), 0);
}
END_TEST

/* Another architecture's path name is as unknown as a bogus one. */
START_TEST(test_load_foreign_path)
{
	char path[64];
#if defined(__aarch64__)
	const char *params = "simd=avx2";
#else
	const char *params = "simd=dotprod";
#endif

	ck_assert_int_eq(load_and_read_path(params, path, sizeof(path)), -EINVAL);
	ck_assert(!vm_module_loaded(KLLM));
}
END_TEST

START_TEST(test_load_bogus)
{
	char path[64];

	ck_assert_int_eq(load_and_read_path("simd=bogus", path, sizeof(path)), -EINVAL);
	ck_assert(!vm_module_loaded(KLLM));
}
END_TEST

START_TEST(test_reload)
{
	static const char *const params[] = { "", "simd=scalar", "simd=auto" };

	for (int i = 0; i < 12; i++) {
		ck_assert_int_eq(vm_load_kllm(params[i % 3]), 0);
		ck_assert_int_eq(vm_load_kllm(""), -EEXIST);
		ck_assert_int_eq(vm_unload(KLLM), 0);
	}
	ck_assert(!vm_module_loaded(KLLM));
}
END_TEST

static int try_load(void *arg)
{
	(void)arg;
	return -vm_load_kllm("");
}

static int try_unload(void *arg)
{
	(void)arg;
	return -vm_unload(KLLM);
}

START_TEST(test_unprivileged)
{
	ck_assert_int_eq(vm_as_nobody(try_load, NULL), EPERM);
	ck_assert(!vm_module_loaded(KLLM));
	ck_assert_int_eq(vm_load_kllm(""), 0);
	ck_assert_int_eq(vm_as_nobody(try_unload, NULL), EPERM);
	ck_assert(vm_module_loaded(KLLM));
	ck_assert_int_eq(vm_unload(KLLM), 0);
}
END_TEST

/* The guest's setpriv (tests/vm/setpriv.c) really drops to nobody. */
START_TEST(test_setpriv_helper)
{
	int rc = system(VM_AS_NOBODY
			"sh -c 'test \"$(id -u):$(id -g):$(id -G)\" = 65534:65534:65534'");

	ck_assert_int_eq(rc, 0);
	rc = system(VM_AS_NOBODY "insmod /modules/kllm.ko 2>/dev/null");
	ck_assert_int_ne(rc, 0);
	ck_assert(!vm_module_loaded(KLLM));
}
END_TEST

static Suite *basic_suite(void)
{
	Suite *s = suite_create("guest_basic");
	TCase *tc = tcase_create("load");

	tcase_add_checked_fixture(tc, unload_quietly, unload_quietly);
	tcase_add_test(tc, test_load_auto);
	tcase_add_test(tc, test_load_scalar);
	tcase_add_loop_test(tc, test_load_each_path, 0, (int)N_PATHS);
	tcase_add_test(tc, test_load_foreign_path);
	tcase_add_test(tc, test_load_bogus);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_unprivileged);
	tcase_add_test(tc, test_setpriv_helper);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kt_run(basic_suite());
}
