// SPDX-License-Identifier: MIT
/*
 * guest_drm.c - the kllm DRM device in the QEMU guest.
 *
 * As root: load kllm.ko and give its node to group kllm (what
 * kmod/70-kllm.rules does under udev).  Then the "user" suite runs as uid
 * 65534 in group kllm only: every ioctl's bad-input checklist (exact errno,
 * counters and outputs unchanged, no handle made), shmem BOs, file pins,
 * userptr pins, isolation between files, truncation under a pin, kill -9
 * with pins held.  The "root" suite needs root: node permissions, the
 * module cap and per-uid quotas (children of different uids), CAP_IPC_LOCK,
 * and rmmod (refused while a file is open, then done).  After every test
 * the module-wide counters are back to the baseline.
 */
#include "drm_util.h"	/* first: guest.h asks for _GNU_SOURCE */

#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define KLLM "kllm"
#define PAGE 4096u
#define MODEL "/tmp/kd-model.bin"
#define MODEL_SIZE (3 * PAGE + 100)	/* not a whole number of pages */

static struct drm_kllm_get_stats g_base;	/* counters before each test */
static int g_fds[8];
static int g_nfds;

/* A node fd closed by the teardown. */
static int kd_open_tracked(void)
{
	int fd = kd_open();

	ck_assert_msg(fd >= 0, "open kllm node: %s", strerror(-fd));
	ck_assert_int_lt(g_nfds, 8);
	g_fds[g_nfds++] = fd;
	return fd;
}

static void baseline_setup(void)
{
	int fd = kd_open();

	ck_assert_msg(fd >= 0, "open kllm node: %s", strerror(-fd));
	g_base = kd_stats(fd);
	close(fd);
	g_nfds = 0;
}

/* Everything a test made is released once its files are closed. */
static void baseline_teardown(void)
{
	while (g_nfds)
		close(g_fds[--g_nfds]);
	unlink(MODEL);
	ck_assert_msg(kd_wait_global(&g_base, 5000) == 0,
		      "module-wide counters did not return to baseline");
	ck_assert_int_eq(kd_vmpin_kb(), 0);
}

/* ------------------------------------------------------------ info */

START_TEST(test_version)
{
	int fd = kd_open_tracked();
	drmVersionPtr v = drmGetVersion(fd);
	struct drm_kllm_get_info info = { 0 };
	struct rlimit rl;

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v->name, "kllm");
	ck_assert_int_eq(v->version_major, KLLM_UAPI_VERSION_MAJOR);
	drmFreeVersion(v);
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_GET_INFO, &info), 0);
	ck_assert_uint_eq(info.version, KLLM_UAPI_VERSION);
	ck_assert_uint_eq(info.page_size, (unsigned long)sysconf(_SC_PAGESIZE));
	ck_assert_uint_eq(info.bo_types, (1u << KLLM_BO_TYPE_SHMEM) |
			  (1u << KLLM_BO_TYPE_FILE) | (1u << KLLM_BO_TYPE_USERPTR));
	ck_assert_uint_gt(info.max_pinned_bytes, 0);
	ck_assert_uint_le(info.uid_quota_bytes, info.max_pinned_bytes);
	ck_assert_uint_gt(info.max_bo_bytes, 0);
	ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	ck_assert_uint_eq(info.memlock_limit_bytes,
			  rl.rlim_cur == RLIM_INFINITY ? ~0ull : rl.rlim_cur);
	/* Nothing allocated yet by this file. */
	ck_assert_uint_eq(kd_stats(fd).fd_handles, 0);
}
END_TEST

START_TEST(test_info_stats_bad)
{
	int fd = kd_open_tracked();
	struct drm_kllm_get_info info;
	struct drm_kllm_get_stats st;

	for (int i = 0; i < 6; i++) {
		memset(&info, 0, sizeof(info));
		info.version = KD_SENTINEL;
		if (i < 2)
			info.flags = i ? 0x80000000u : 1;
		else
			info.reserved[i - 2] = 1;
		ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_GET_INFO, &info), -EINVAL);
		ck_assert_uint_eq(info.version, KD_SENTINEL);
		ck_assert_uint_eq(info.max_pinned_bytes, 0);
	}
	for (int i = 0; i < 5; i++) {
		memset(&st, 0, sizeof(st));
		st.fd_handles = KD_SENTINEL;
		if (i == 0)
			st.flags = 1;
		else
			st.reserved[i - 1] = ~0ull;
		ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_GET_STATS, &st), -EINVAL);
		ck_assert_uint_eq(st.fd_handles, KD_SENTINEL);
	}
}
END_TEST

/* NULL and unmapped argument pointers, unknown ioctl numbers. */
START_TEST(test_bad_pointers)
{
	static const unsigned long reqs[] = {
		DRM_IOCTL_KLLM_GET_INFO, DRM_IOCTL_KLLM_BO_CREATE,
		DRM_IOCTL_KLLM_BO_IMPORT_FILE, DRM_IOCTL_KLLM_BO_USERPTR,
		DRM_IOCTL_KLLM_BO_INFO, DRM_IOCTL_KLLM_GET_STATS, DRM_IOCTL_KLLM_BO_READ,
	};
	int fd = kd_open_tracked();
	struct drm_kllm_get_stats before = kd_stats(fd);
	void *gone = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert(gone != MAP_FAILED);
	munmap(gone, PAGE);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		ck_assert_int_eq(kd_ioctl(fd, reqs[i], NULL), -EFAULT);
		ck_assert_int_eq(kd_ioctl(fd, reqs[i], gone), -EFAULT);
	}
	/* Past our table, and a DRM core number with our size. */
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOWR(DRM_COMMAND_BASE + 0x30, struct drm_kllm_get_info),
				  &before), -EINVAL);
	kd_assert_stats_eq(before, kd_stats(fd));
}
END_TEST

/* ------------------------------------------------------------ shmem BOs */

START_TEST(test_bo_create_mmap)
{
	int fd = kd_open_tracked();
	struct drm_kllm_get_stats st0 = kd_stats(fd), st;
	struct drm_kllm_bo_info info;
	uint32_t h1, h2;
	uint8_t *p;

	ck_assert_int_eq(kd_bo_create(fd, 1, &h1), 0);
	ck_assert_int_eq(kd_bo_create(fd, 5 * PAGE, &h2), 0);
	ck_assert_uint_ne(h1, h2);
	st = kd_stats(fd);
	ck_assert_uint_eq(st.fd_handles, st0.fd_handles + 2);
	ck_assert_uint_eq(st.fd_shmem_bytes, 6 * PAGE);
	ck_assert_uint_eq(st.shmem_bytes, st0.shmem_bytes + 6 * PAGE);
	ck_assert_int_eq(kd_info(fd, h1, &info), 0);
	ck_assert_uint_eq(info.type, KLLM_BO_TYPE_SHMEM);
	ck_assert_uint_eq(info.size, PAGE);	/* rounded up to a page */
	ck_assert_uint_eq(info.pinned_bytes, 0);
	ck_assert_int_eq(kd_info(fd, h2, &info), 0);
	ck_assert_uint_eq(info.size, 5 * PAGE);
	ck_assert_uint_ne(info.mmap_offset, 0);
	p = mmap(NULL, 5 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, info.mmap_offset);
	ck_assert(p != MAP_FAILED);
	for (unsigned int i = 0; i < 5 * PAGE; i++)
		p[i] = kd_pattern(i, 1);
	munmap(p, 5 * PAGE);
	/* A second mapping sees the same pages. */
	p = mmap(NULL, 5 * PAGE, PROT_READ, MAP_SHARED, fd, info.mmap_offset);
	ck_assert(p != MAP_FAILED);
	for (unsigned int i = 0; i < 5 * PAGE; i++)
		ck_assert_uint_eq(p[i], kd_pattern(i, 1));
	munmap(p, 5 * PAGE);
	/* Larger than the object: refused. */
	p = mmap(NULL, 6 * PAGE, PROT_READ, MAP_SHARED, fd, info.mmap_offset);
	ck_assert(p == MAP_FAILED);
	ck_assert_int_eq(kd_close(fd, h1), 0);
	ck_assert_int_eq(kd_close(fd, h1), -EINVAL);	/* DRM core: stale handle */
	ck_assert_int_eq(kd_info(fd, h1, &info), -ENOENT);
	ck_assert_int_eq(kd_close(fd, h2), 0);
	st = kd_stats(fd);
	ck_assert_uint_eq(st.fd_handles, 0);
	ck_assert_uint_eq(st.fd_shmem_bytes, 0);
}
END_TEST

/* A mapping outlives its handle and file; the object goes with it. */
START_TEST(test_bo_mmap_outlives_close)
{
	int fd = kd_open_tracked();
	struct drm_kllm_bo_info info;
	uint32_t h;
	uint8_t *p;

	ck_assert_int_eq(kd_bo_create(fd, 2 * PAGE, &h), 0);
	ck_assert_int_eq(kd_info(fd, h, &info), 0);
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, info.mmap_offset);
	ck_assert(p != MAP_FAILED);
	ck_assert_int_eq(kd_close(fd, h), 0);
	p[PAGE + 5] = 42;
	ck_assert_uint_eq(p[PAGE + 5], 42);
	munmap(p, 2 * PAGE);
}
END_TEST

START_TEST(test_bo_create_bad)
{
	int fd = kd_open_tracked();
	struct drm_kllm_get_info info = { 0 };
	struct drm_kllm_get_stats before;
	struct {
		uint64_t size;
		uint32_t flags;
		int reserved;
		int err;
	} cases[] = {
		{ 0, 0, -1, -EINVAL },
		{ ~0ull, 0, -1, -EINVAL },
		{ ~0ull - PAGE + 2, 0, -1, -EINVAL },	/* rounding overflows */
		{ ~0ull - PAGE + 1, 0, -1, -E2BIG },
		{ 0, 0, -1, -E2BIG },			/* max_bo_bytes + 1, below */
		{ 1ull << 62, 0, -1, -E2BIG },
		{ PAGE, 1, -1, -EINVAL },
		{ PAGE, 0x80000000u, -1, -EINVAL },
		{ PAGE, 0, 0, -EINVAL },
		{ PAGE, 0, 1, -EINVAL },
	};

	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_GET_INFO, &info), 0);
	cases[4].size = info.max_bo_bytes + 1;
	before = kd_stats(fd);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct drm_kllm_bo_create a = {
			.size = cases[i].size, .flags = cases[i].flags, .handle = KD_SENTINEL,
		};

		if (cases[i].reserved >= 0)
			a.reserved[cases[i].reserved] = 1;
		ck_assert_msg(kd_ioctl(fd, DRM_IOCTL_KLLM_BO_CREATE, &a) == cases[i].err,
			      "case %zu: errno %d expected", i, -cases[i].err);
		ck_assert_uint_eq(a.handle, KD_SENTINEL);
		kd_assert_stats_eq(before, kd_stats(fd));
	}
}
END_TEST

START_TEST(test_bo_info_bad)
{
	int fd = kd_open_tracked();
	struct drm_kllm_bo_info a;
	struct drm_kllm_get_stats before;
	uint32_t h;

	ck_assert_int_eq(kd_bo_create(fd, PAGE, &h), 0);
	before = kd_stats(fd);
	for (int i = 0; i < 7; i++) {
		int err = -EINVAL;

		memset(&a, 0, sizeof(a));
		a.handle = h;
		a.size = KD_SENTINEL;
		a.type = KD_SENTINEL;
		switch (i) {
		case 0: a.flags = 1; break;
		case 1: a.pad = 1; break;
		case 2: a.reserved[0] = 1; break;
		case 3: a.reserved[1] = 1; break;
		case 4: a.handle = 0; err = -ENOENT; break;
		case 5: a.handle = h + 1000; err = -ENOENT; break;
		case 6: a.handle = ~0u; err = -ENOENT; break;
		}
		ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_BO_INFO, &a), err);
		ck_assert_uint_eq(a.size, KD_SENTINEL);
		ck_assert_uint_eq(a.type, KD_SENTINEL);
		ck_assert_uint_eq(a.mmap_offset, 0);
		kd_assert_stats_eq(before, kd_stats(fd));
	}
}
END_TEST

/* Another file can neither name nor map our buffers, nor close them. */
START_TEST(test_isolation)
{
	int a = kd_open_tracked(), b = kd_open_tracked(), mf;
	struct drm_kllm_bo_info info;
	struct drm_kllm_get_stats sa, sb;
	uint32_t h, hp;
	uint8_t buf[16];
	int dmabuf = -1;
	void *p;

	mf = kd_make_file(MODEL, MODEL_SIZE, 3);
	ck_assert_int_eq(kd_bo_create(a, PAGE, &h), 0);
	ck_assert_int_eq(kd_import(a, mf, 0, MODEL_SIZE, &hp), 0);
	ck_assert_int_eq(kd_info(a, h, &info), 0);
	sa = kd_stats(a);
	sb = kd_stats(b);
	ck_assert_int_eq(kd_info(b, h, &info), -ENOENT);
	ck_assert_int_eq(kd_info(b, hp, &info), -ENOENT);
	ck_assert_int_eq(kd_read(b, hp, 0, sizeof(buf), buf), -ENOENT);
	ck_assert_int_eq(kd_close(b, h), -EINVAL);
	ck_assert_int_eq(kd_close(b, hp), -EINVAL);
	ck_assert_int_eq(kd_info(a, h, &info), 0);
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, info.mmap_offset);
	ck_assert(p == MAP_FAILED);
	/* No dma-buf export (ENOSYS before 6.6, EOPNOTSUPP after). */
	ck_assert_int_ne(drmPrimeHandleToFD(a, h, DRM_CLOEXEC, &dmabuf), 0);
	ck_assert_int_ne(drmPrimeHandleToFD(a, hp, DRM_CLOEXEC, &dmabuf), 0);
	ck_assert_int_eq(dmabuf, -1);
	kd_assert_stats_eq(sa, kd_stats(a));
	kd_assert_stats_eq(sb, kd_stats(b));
	close(mf);
}
END_TEST

/* ------------------------------------------------------------ file pins */

static void check_read(int fd, uint32_t h, uint64_t off, uint64_t len, uint64_t file_off,
		       unsigned int seed)
{
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(kd_read(fd, h, off, len, buf), 0);
	for (uint64_t i = 0; i < len; i++)
		ck_assert_msg(buf[i] == kd_pattern(file_off + off + i, seed),
			      "byte %llu of the pin differs", (unsigned long long)(off + i));
	free(buf);
}

START_TEST(test_file_pin)
{
	int fd = kd_open_tracked();
	int mf = kd_make_file(MODEL, MODEL_SIZE, 7);
	struct drm_kllm_get_stats st0 = kd_stats(fd), st;
	struct drm_kllm_bo_info info;
	uint32_t h, h2;

	/* Unaligned offset: pages 0..3 (the range ends in page 3). */
	ck_assert_int_eq(kd_import(fd, mf, 10, MODEL_SIZE - 10, &h), 0);
	st = kd_stats(fd);
	ck_assert_uint_eq(st.file_pinned_bytes, st0.file_pinned_bytes + 4 * PAGE);
	ck_assert_uint_eq(st.uid_pinned_bytes, st0.uid_pinned_bytes + 4 * PAGE);
	ck_assert_uint_eq(st.fd_file_pinned_bytes, 4 * PAGE);
	ck_assert_uint_eq(st.fd_handles, 1);
	ck_assert_int_eq(kd_info(fd, h, &info), 0);
	ck_assert_uint_eq(info.type, KLLM_BO_TYPE_FILE);
	ck_assert_uint_eq(info.size, MODEL_SIZE - 10);
	ck_assert_uint_eq(info.pinned_bytes, 4 * PAGE);
	ck_assert_uint_eq(info.mmap_offset, 0);
	check_read(fd, h, 0, MODEL_SIZE - 10, 10, 7);
	check_read(fd, h, MODEL_SIZE - 11, 1, 10, 7);
	/* The same range again shares the pages but is charged again. */
	ck_assert_int_eq(kd_import(fd, mf, MODEL_SIZE - 1, 1, &h2), 0);
	ck_assert_uint_eq(kd_stats(fd).fd_file_pinned_bytes, 5 * PAGE);
	check_read(fd, h2, 0, 1, MODEL_SIZE - 1, 7);
	/* Pins cannot be mapped through the device. */
	ck_assert(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
	/* Not charged to RLIMIT_MEMLOCK: a zero limit still pins, VmPin stays 0. */
	{
		struct rlimit rl = { 0, 0 };
		int rw = open(MODEL, O_RDWR | O_CLOEXEC);
		uint32_t h3;

		ck_assert_int_ge(rw, 0);
		ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
		ck_assert_int_eq(kd_import(fd, rw, 0, MODEL_SIZE, &h3), 0);	/* O_RDWR is fine */
		ck_assert_int_eq(kd_vmpin_kb(), 0);
		ck_assert_int_eq(kd_close(fd, h3), 0);
		close(rw);
	}
	ck_assert_int_eq(kd_close(fd, h), 0);
	ck_assert_int_eq(kd_close(fd, h2), 0);
	st = kd_stats(fd);
	ck_assert_uint_eq(st.file_pinned_bytes, st0.file_pinned_bytes);
	ck_assert_uint_eq(st.fd_handles, 0);
	close(mf);
}
END_TEST

/* A file on the initramfs (not tmpfs): the read_mapping_page path. */
START_TEST(test_file_pin_rootfs)
{
	int fd = kd_open_tracked();
	int bin = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	uint8_t head[64], pin[64];
	uint32_t h;

	ck_assert_int_ge(bin, 0);
	ck_assert_int_eq(pread(bin, head, sizeof(head), 0), (ssize_t)sizeof(head));
	ck_assert_int_eq(kd_import(fd, bin, 0, 3 * PAGE, &h), 0);
	ck_assert_int_eq(kd_read(fd, h, 0, sizeof(pin), pin), 0);
	ck_assert_int_eq(memcmp(head, pin, sizeof(pin)), 0);
	close(bin);
}
END_TEST

START_TEST(test_file_pin_bad)
{
	int fd = kd_open_tracked();
	int mf = kd_make_file(MODEL, MODEL_SIZE, 9);
	int wo = open(MODEL, O_WRONLY | O_CLOEXEC);
	int opath = open(MODEL, O_PATH | O_CLOEXEC);
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int pfd[2], sv[2];
	struct drm_kllm_get_stats before;
	struct {
		int fd;
		uint64_t off, size;
		uint32_t flags, pad;
		int reserved;
		int err;
	} cases[] = {
		{ mf, 0, 0, 0, 0, -1, -EINVAL },			/* size 0 */
		{ mf, MODEL_SIZE - 1, 2, 0, 0, -1, -EINVAL },		/* size-1 + 2 */
		{ mf, MODEL_SIZE, 1, 0, 0, -1, -EINVAL },		/* at the end */
		{ mf, MODEL_SIZE + 1, 1, 0, 0, -1, -EINVAL },		/* past it */
		{ mf, 0, MODEL_SIZE + 1, 0, 0, -1, -EINVAL },
		{ mf, ~0ull, 2, 0, 0, -1, -EINVAL },			/* overflow */
		{ mf, 1, ~0ull, 0, 0, -1, -EINVAL },
		{ mf, 0, 1ull << 62, 0, 0, -1, -EINVAL },
		{ mf, 0, PAGE, 1, 0, -1, -EINVAL },
		{ mf, 0, PAGE, 0x80000000u, 0, -1, -EINVAL },
		{ mf, 0, PAGE, 0, 1, -1, -EINVAL },
		{ mf, 0, PAGE, 0, 0, 0, -EINVAL },
		{ mf, 0, PAGE, 0, 0, 1, -EINVAL },
		{ -1, 0, PAGE, 0, 0, -1, -EBADF },
		{ 9999, 0, PAGE, 0, 0, -1, -EBADF },
		{ wo, 0, PAGE, 0, 0, -1, -EBADF },			/* write-only */
		{ opath, 0, PAGE, 0, 0, -1, -EBADF },
		{ dir, 0, 1, 0, 0, -1, -EINVAL },
		{ null, 0, 1, 0, 0, -1, -EINVAL },
		{ 0, 0, 1, 0, 0, -1, -EINVAL },				/* pipe, below */
		{ 0, 0, 1, 0, 0, -1, -EINVAL },				/* socket, below */
		{ fd, 0, 1, 0, 0, -1, -EINVAL },			/* the device */
	};

	ck_assert_int_ge(wo, 0);
	ck_assert_int_ge(opath, 0);
	ck_assert_int_ge(dir, 0);
	ck_assert_int_ge(null, 0);
	ck_assert_int_eq(pipe(pfd), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cases[19].fd = pfd[0];
	cases[20].fd = sv[0];
	before = kd_stats(fd);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct drm_kllm_bo_import_file a = {
			.fd = cases[i].fd, .offset = cases[i].off, .size = cases[i].size,
			.flags = cases[i].flags, .pad = cases[i].pad, .handle = KD_SENTINEL,
		};
		int ret;

		if (cases[i].reserved >= 0)
			a.reserved[cases[i].reserved] = 1;
		ret = kd_ioctl(fd, DRM_IOCTL_KLLM_BO_IMPORT_FILE, &a);
		ck_assert_msg(ret == cases[i].err, "case %zu: %d, expected %d", i, ret,
			      cases[i].err);
		ck_assert_uint_eq(a.handle, KD_SENTINEL);
		kd_assert_stats_eq(before, kd_stats(fd));
	}
	/* The edges that are inside: offset size-1, and the whole file. */
	{
		uint32_t h;

		ck_assert_int_eq(kd_import(fd, mf, MODEL_SIZE - 1, 1, &h), 0);
		ck_assert_int_eq(kd_close(fd, h), 0);
		ck_assert_int_eq(kd_import(fd, mf, 0, MODEL_SIZE, &h), 0);
		ck_assert_int_eq(kd_close(fd, h), 0);
	}
	kd_assert_stats_eq(before, kd_stats(fd));
	close(mf);
	close(wo);
	close(opath);
	close(dir);
	close(null);
}
END_TEST

/* Truncating or rewriting a pinned file leaves the pin's pages alone. */
START_TEST(test_file_truncate_while_pinned)
{
	int fd = kd_open_tracked();
	int mf = kd_make_file(MODEL, 8 * PAGE, 11);
	int rw = open(MODEL, O_RDWR | O_CLOEXEC);
	uint8_t junk[PAGE];
	uint32_t h;

	ck_assert_int_ge(rw, 0);
	ck_assert_int_eq(kd_import(fd, mf, PAGE, 6 * PAGE, &h), 0);
	ck_assert_int_eq(ftruncate(rw, 0), 0);
	check_read(fd, h, 0, 6 * PAGE, PAGE, 11);	/* the old pages */
	memset(junk, 0x5a, sizeof(junk));
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(write(rw, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	check_read(fd, h, 0, 6 * PAGE, PAGE, 11);
	/* Shrunk below a new pin's range: refused. */
	ck_assert_int_eq(ftruncate(rw, PAGE), 0);
	{
		uint32_t h2 = KD_SENTINEL;

		ck_assert_int_eq(kd_import(fd, mf, PAGE, 1, &h2), -EINVAL);
		ck_assert_uint_eq(h2, KD_SENTINEL);
	}
	unlink(MODEL);
	check_read(fd, h, 0, 6 * PAGE, PAGE, 11);
	ck_assert_int_eq(kd_close(fd, h), 0);
	close(rw);
	close(mf);
}
END_TEST

START_TEST(test_bo_read_bad)
{
	int fd = kd_open_tracked();
	int mf = kd_make_file(MODEL, MODEL_SIZE, 5);
	uint8_t buf[64];
	uint32_t h, hs;
	void *gone = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct drm_kllm_bo_read a;

	ck_assert(gone != MAP_FAILED);
	munmap(gone, PAGE);
	ck_assert_int_eq(kd_import(fd, mf, 0, MODEL_SIZE, &h), 0);
	ck_assert_int_eq(kd_bo_create(fd, PAGE, &hs), 0);
	ck_assert_int_eq(kd_read(fd, h, MODEL_SIZE - 1, 1, buf), 0);
	ck_assert_int_eq(kd_read(fd, h, MODEL_SIZE - 1, 2, buf), -EINVAL);
	ck_assert_int_eq(kd_read(fd, h, MODEL_SIZE, 1, buf), -EINVAL);
	ck_assert_int_eq(kd_read(fd, h, MODEL_SIZE + 1, 1, buf), -EINVAL);
	ck_assert_int_eq(kd_read(fd, h, 0, 0, buf), -EINVAL);
	ck_assert_int_eq(kd_read(fd, h, ~0ull, 2, buf), -EINVAL);
	ck_assert_int_eq(kd_read(fd, h, 0, 16, NULL), -EFAULT);
	ck_assert_int_eq(kd_read(fd, h, 0, 16, gone), -EFAULT);
	ck_assert_int_eq(kd_read(fd, h + 100, 0, 16, buf), -ENOENT);
	ck_assert_int_eq(kd_read(fd, hs, 0, 16, buf), -EINVAL);	/* shmem: mmap it */
	memset(&a, 0, sizeof(a));
	a.handle = h;
	a.size = 1;
	a.data_ptr = (uintptr_t)buf;
	a.flags = 1;
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_BO_READ, &a), -EINVAL);
	a.flags = 0;
	a.reserved[1] = 1;
	ck_assert_int_eq(kd_ioctl(fd, DRM_IOCTL_KLLM_BO_READ, &a), -EINVAL);
	close(mf);
}
END_TEST

/* ------------------------------------------------------------ userptr */

START_TEST(test_userptr)
{
	int fd = kd_open_tracked();
	size_t len = 16 * PAGE;
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct drm_kllm_get_stats st0 = kd_stats(fd), st;
	struct drm_kllm_bo_info info;
	uint8_t back[PAGE];
	uint32_t h, hr;

	ck_assert(mem != MAP_FAILED);
	for (size_t i = 0; i < len; i++)
		mem[i] = kd_pattern(i, 13);
	ck_assert_int_eq(kd_userptr(fd, mem, len, KLLM_USERPTR_WRITABLE, &h), 0);
	ck_assert_int_eq(kd_userptr(fd, mem + 4 * PAGE, 2 * PAGE, 0, &hr), 0);
	ck_assert_int_eq(kd_vmpin_kb(), (long)(18 * PAGE / 1024));
	st = kd_stats(fd);
	ck_assert_uint_eq(st.userptr_bytes, st0.userptr_bytes + 18 * PAGE);
	ck_assert_uint_eq(st.fd_userptr_bytes, 18 * PAGE);
	ck_assert_uint_eq(st.file_pinned_bytes, st0.file_pinned_bytes);
	ck_assert_int_eq(kd_info(fd, h, &info), 0);
	ck_assert_uint_eq(info.type, KLLM_BO_TYPE_USERPTR);
	ck_assert_uint_eq(info.size, len);
	ck_assert_uint_eq(info.pinned_bytes, len);
	/* The kernel mapping is the same memory. */
	ck_assert_int_eq(kd_read(fd, h, 3 * PAGE, PAGE, back), 0);
	ck_assert_int_eq(memcmp(back, mem + 3 * PAGE, PAGE), 0);
	mem[4 * PAGE + 7] ^= 0xff;
	ck_assert_int_eq(kd_read(fd, hr, 7, 1, back), 0);
	ck_assert_uint_eq(back[0], mem[4 * PAGE + 7]);
	ck_assert_int_eq(kd_close(fd, h), 0);
	ck_assert_int_eq(kd_vmpin_kb(), (long)(2 * PAGE / 1024));
	/* Unmapping the memory leaves the pinned pages to the pin. */
	munmap(mem, len);
	ck_assert_int_eq(kd_read(fd, hr, 0, PAGE, back), 0);
	ck_assert_uint_eq(back[0], kd_pattern(4 * PAGE, 13));
	ck_assert_int_eq(kd_close(fd, hr), 0);
	ck_assert_int_eq(kd_vmpin_kb(), 0);
}
END_TEST

START_TEST(test_userptr_memlock)
{
	int fd = kd_open_tracked();
	struct rlimit rl = { 16 * PAGE, 16 * PAGE };
	uint8_t *mem = mmap(NULL, 32 * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	struct drm_kllm_get_stats before;
	uint32_t h1, h2 = KD_SENTINEL;

	ck_assert(mem != MAP_FAILED);
	ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	before = kd_stats(fd);
	ck_assert_int_eq(kd_userptr(fd, mem, 17 * PAGE, 0, &h2), -ENOMEM);
	ck_assert_uint_eq(h2, KD_SENTINEL);
	kd_assert_stats_eq(before, kd_stats(fd));
	ck_assert_int_eq(kd_vmpin_kb(), 0);
	ck_assert_int_eq(kd_userptr(fd, mem, 16 * PAGE, 0, &h1), 0);
	ck_assert_int_eq(kd_userptr(fd, mem + 16 * PAGE, PAGE, 0, &h2), -ENOMEM);
	ck_assert_uint_eq(h2, KD_SENTINEL);
	ck_assert_int_eq(kd_vmpin_kb(), (long)(16 * PAGE / 1024));
	ck_assert_int_eq(kd_close(fd, h1), 0);
	ck_assert_int_eq(kd_userptr(fd, mem + 16 * PAGE, PAGE, 0, &h2), 0);
	ck_assert_int_eq(kd_close(fd, h2), 0);
	munmap(mem, 32 * PAGE);
}
END_TEST

START_TEST(test_userptr_bad)
{
	int fd = kd_open_tracked();
	uint8_t *mem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct drm_kllm_get_stats before;
	uintptr_t m;
	struct {
		uint64_t addr, size;
		uint32_t flags;
		int reserved;
		int err;
	} cases[12];
	int n = 0;

	ck_assert(mem != MAP_FAILED && ro != MAP_FAILED);
	m = (uintptr_t)mem;
	ck_assert_int_eq(munmap(mem + 2 * PAGE, 2 * PAGE), 0);	/* a hole after 2 pages */
#define CASE(a, s, f, r, e) cases[n++] = (typeof(cases[0])){ a, s, f, r, e }
	CASE(m, 0, 0, -1, -EINVAL);
	CASE(m + 1, PAGE, 0, -1, -EINVAL);
	CASE(m, PAGE + 1, 0, -1, -EINVAL);
	CASE(m, PAGE, 2, -1, -EINVAL);
	CASE(m, PAGE, 0x80000000u, -1, -EINVAL);
	CASE(m, PAGE, 0, 0, -EINVAL);
	CASE(m, PAGE, 0, 1, -EINVAL);
	CASE(~0ull - PAGE + 1, 2 * PAGE, 0, -1, -EINVAL);		/* overflow */
	CASE(0, PAGE, 0, -1, -EFAULT);					/* NULL */
	CASE(m, 4 * PAGE, 0, -1, -EFAULT);				/* partly unmapped */
	CASE(0xffff888000000000ull, PAGE, 0, -1, -EFAULT);		/* kernel */
	CASE((uintptr_t)ro, PAGE, KLLM_USERPTR_WRITABLE, -1, -EFAULT);	/* read-only */
#undef CASE
	before = kd_stats(fd);
	for (int i = 0; i < n; i++) {
		struct drm_kllm_bo_userptr a = {
			.addr = cases[i].addr, .size = cases[i].size,
			.flags = cases[i].flags, .handle = KD_SENTINEL,
		};
		int ret;

		if (cases[i].reserved >= 0)
			a.reserved[cases[i].reserved] = 1;
		ret = kd_ioctl(fd, DRM_IOCTL_KLLM_BO_USERPTR, &a);
		ck_assert_msg(ret == cases[i].err, "case %d: %d, expected %d", i, ret,
			      cases[i].err);
		ck_assert_uint_eq(a.handle, KD_SENTINEL);
		kd_assert_stats_eq(before, kd_stats(fd));
		ck_assert_int_eq(kd_vmpin_kb(), 0);
	}
	/* Huge but inside the address space: more than RAM. */
	{
		uint32_t h = KD_SENTINEL;

		ck_assert_int_eq(kd_userptr(fd, (void *)0x100000000ull, 1ull << 45, 0, &h),
				 -ENOMEM);
		ck_assert_uint_eq(h, KD_SENTINEL);
	}
	kd_assert_stats_eq(before, kd_stats(fd));
	munmap(mem, 2 * PAGE);
	munmap(ro, PAGE);
}
END_TEST

/* ------------------------------------------------------------ kill -9 */

START_TEST(test_kill_with_pins)
{
	int fd = kd_open_tracked();
	int ready[2];
	pid_t pid;
	char c;
	struct drm_kllm_get_stats st;

	kd_make_file(MODEL, 64 * PAGE, 17);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int cfd = kd_open(), mf = open(MODEL, O_RDONLY);
		uint8_t *mem = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		uint32_t h;
		struct drm_kllm_bo_info info;
		uint8_t *p;

		if (cfd < 0 || mf < 0 || mem == MAP_FAILED ||
		    kd_import(cfd, mf, 0, 64 * PAGE, &h) || kd_userptr(cfd, mem, 8 * PAGE, 1, &h) ||
		    kd_bo_create(cfd, 4 * PAGE, &h) || kd_info(cfd, h, &info))
			_exit(1);
		p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, info.mmap_offset);
		if (p == MAP_FAILED)
			_exit(1);
		p[0] = 1;
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	st = kd_stats(fd);
	ck_assert_uint_eq(st.file_pinned_bytes, g_base.file_pinned_bytes + 64 * PAGE);
	ck_assert_uint_eq(st.userptr_bytes, g_base.userptr_bytes + 8 * PAGE);
	ck_assert_uint_eq(st.shmem_bytes, g_base.shmem_bytes + 4 * PAGE);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_int_eq(kd_wait_global(&g_base, 5000), 0);
	close(ready[0]);
}
END_TEST

static Suite *user_suite(void)
{
	Suite *s = suite_create("guest_drm_user");
	TCase *tc = tcase_create("user");

	tcase_set_timeout(tc, 60);	/* about a second each under TCG */
	tcase_add_checked_fixture(tc, baseline_setup, baseline_teardown);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_info_stats_bad);
	tcase_add_test(tc, test_bad_pointers);
	tcase_add_test(tc, test_bo_create_mmap);
	tcase_add_test(tc, test_bo_mmap_outlives_close);
	tcase_add_test(tc, test_bo_create_bad);
	tcase_add_test(tc, test_bo_info_bad);
	tcase_add_test(tc, test_isolation);
	tcase_add_test(tc, test_file_pin);
	tcase_add_test(tc, test_file_pin_rootfs);
	tcase_add_test(tc, test_file_pin_bad);
	tcase_add_test(tc, test_file_truncate_while_pinned);
	tcase_add_test(tc, test_bo_read_bad);
	tcase_add_test(tc, test_userptr);
	tcase_add_test(tc, test_userptr_memlock);
	tcase_add_test(tc, test_userptr_bad);
	tcase_add_test(tc, test_kill_with_pins);
	suite_add_tcase(s, tc);
	return s;
}

#include "guest_drm_root.h"

/* The node, as udev with kmod/70-kllm.rules would leave it. */
static int apply_udev_rule(void)
{
	char path[64];
	int ret = kd_find_node(path, sizeof(path));

	if (ret)
		return ret;
	if (chown(path, 0, KD_GROUP_GID) || chmod(path, KD_NODE_MODE))
		return -errno;
	printf("vm: kllm node %s: root:%d %o\n", path, KD_GROUP_GID, KD_NODE_MODE);
	return 0;
}

/* Run the user suite as uid 65534 whose only group is kllm. */
static int run_user_suite(void)
{
	gid_t g = KD_GROUP_GID;
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		if (setgroups(1, &g) || setresgid(VM_NOBODY, VM_NOBODY, VM_NOBODY) ||
		    setresuid(VM_NOBODY, VM_NOBODY, VM_NOBODY))
			_exit(2);
		_exit(kt_run(user_suite()));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	return WEXITSTATUS(status) != 0;
}

int main(void)
{
	int failed;

	if (getuid() != 0)
		return kt_run(user_suite());
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	if (vm_load_kllm("") || apply_udev_rule()) {
		printf("vm: guest_drm: kllm.ko did not load or has no node\n");
		return 1;
	}
	failed = run_user_suite();
	failed |= kt_run(root_suite());
	if (vm_module_loaded(KLLM))
		vm_unload(KLLM);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
