// SPDX-License-Identifier: MIT
/*
 * kllm-serve - the device's OpenAI-compatible LLM service: options (in
 * llama-server's spelling), start-up, signals, the descriptor limit and
 * the graceful shutdown.
 *
 *	kllm-serve -m MODEL [--alias NAME] [--port 8080] [--unix PATH] ...
 *	kllm-serve --config /etc/kllm/serve.json
 *
 * Exit status: 0 after a shutdown by SIGINT/SIGTERM, 1 when it cannot
 * start (one message), 2 on a usage error (one line on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <pthread.h>

#include "http_int.h"
#include "../tool_opt.h"

#ifndef KLLM_VERSION
#define KLLM_VERSION "unknown"
#endif

const struct sv_config *sv_cfg;

static const char usage[] =
"usage: kllm-serve -m MODEL [--alias NAME] [options]\n"
"       kllm-serve --config FILE [options]\n"
"\n"
"  -m, --model FILE          a GGUF model to serve (repeatable); its API name is\n"
"                            the file's name without .gguf unless --alias follows\n"
"      --alias NAME          the preceding -m's name (again: further names)\n"
"      --config FILE         JSON configuration (kllm-serve(1)); options given\n"
"                            beside it override it\n"
"      --host ADDR           address to listen on (default 127.0.0.1)\n"
"      --port N              TCP port (default 8080; 0: no TCP)\n"
"      --unix PATH           also listen on a Unix socket (mode 0666; apps are\n"
"                            told apart by their uid)\n"
"  -t, --threads N           compute threads (default 0: every CPU)\n"
"  -c, --ctx-size N          context per sequence (default 4096)\n"
"  -np, --parallel N         concurrent sequences per model (default 4)\n"
"  -b, --batch-size N        tokens per engine step: running decodes and prefill\n"
"                            chunks of new prompts (default 64)\n"
"      --max-queue N         queued requests per model (default 64; then 429)\n"
"      --api-key KEY         accept this API key (repeatable)\n"
"      --api-key-file FILE   accept the keys in FILE, one a line\n"
"      --upstream URL        OpenAI-compatible upstream for the cloud hand-off\n"
"                            (base URL, e.g. https://api.example.com/v1)\n"
"      --upstream-key-file FILE\n"
"                            the upstream's API key\n"
"      --route-default local|auto|cloud\n"
"                            route of anonymous requests (default local)\n"
"      --timeout S           idle connection timeout in seconds (default 600)\n"
"      --max-conns N         open connections at most (default 1024)\n"
"      --max-body BYTES      request body limit (default 1M; k/M/G suffixes)\n"
"      --idle-unload S       unload a model idle S seconds (default 0: never)\n"
"      --mem-budget BYTES    weights + KV loaded at once (k/M/G; 0: no limit)\n"
"      --log-format text|json\n"
"                            structured log lines on stderr (default text)\n"
"  -v, --verbose             log every request\n"
"  -h, --help                this text\n"
"      --version             print the version\n";

enum {
	O_ALIAS = 256, O_CONFIG, O_HOST, O_PORT, O_UNIX, O_NP, O_MAX_QUEUE, O_API_KEY,
	O_API_KEY_FILE, O_UPSTREAM, O_UPSTREAM_KEY_FILE, O_ROUTE_DEFAULT, O_TIMEOUT,
	O_MAX_CONNS, O_MAX_BODY, O_IDLE_UNLOAD, O_MEM_BUDGET, O_LOG_FORMAT, O_VERSION,
};

static const struct option longopts[] = {
	{ "model", required_argument, NULL, 'm' },
	{ "alias", required_argument, NULL, O_ALIAS },
	{ "config", required_argument, NULL, O_CONFIG },
	{ "host", required_argument, NULL, O_HOST },
	{ "port", required_argument, NULL, O_PORT },
	{ "unix", required_argument, NULL, O_UNIX },
	{ "threads", required_argument, NULL, 't' },
	{ "ctx-size", required_argument, NULL, 'c' },
	{ "np", required_argument, NULL, O_NP },
	{ "parallel", required_argument, NULL, O_NP },
	{ "batch-size", required_argument, NULL, 'b' },
	{ "max-queue", required_argument, NULL, O_MAX_QUEUE },
	{ "api-key", required_argument, NULL, O_API_KEY },
	{ "api-key-file", required_argument, NULL, O_API_KEY_FILE },
	{ "upstream", required_argument, NULL, O_UPSTREAM },
	{ "upstream-key-file", required_argument, NULL, O_UPSTREAM_KEY_FILE },
	{ "route-default", required_argument, NULL, O_ROUTE_DEFAULT },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "max-conns", required_argument, NULL, O_MAX_CONNS },
	{ "max-body", required_argument, NULL, O_MAX_BODY },
	{ "idle-unload", required_argument, NULL, O_IDLE_UNLOAD },
	{ "mem-budget", required_argument, NULL, O_MEM_BUDGET },
	{ "log-format", required_argument, NULL, O_LOG_FORMAT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};
static const char shortopts[] = ":m:t:c:b:vh";

enum { PARSE_OK, PARSE_EXIT, PARSE_USAGE, PARSE_FAIL };

/* The option's spelling as given, for messages. */
static const char *opt_name(char **argv)
{
	return optind > 0 ? argv[optind - 2 >= 0 && argv[optind - 1] == optarg ?
				 optind - 2 : optind - 1] : "?";
}

static int bad_value(char **argv, const char *why)
{
	fprintf(stderr, "kllm-serve: %.*s: %s '%s' (see --help)\n",
		(int)strcspn(opt_name(argv), "="), opt_name(argv), why, optarg);
	return PARSE_USAGE;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *dst)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || v > max || *s == '-')
		return -EINVAL;
	*dst = (uint32_t)v;
	return 0;
}

static int set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = strdup(s);
	return *dst ? PARSE_OK : PARSE_FAIL;
}

static int strv_add(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (!nv)
		return PARSE_FAIL;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return PARSE_FAIL;
	(*n)++;
	return PARSE_OK;
}

/* -m FILE: a model named after the file. */
static int add_model(struct sv_config *cfg, const char *path)
{
	struct sv_model_cfg *m = realloc(cfg->models, (cfg->n_models + 1) * sizeof(*m));
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t len = strlen(base);

	if (!m)
		return PARSE_FAIL;
	cfg->models = m;
	m += cfg->n_models;
	memset(m, 0, sizeof(*m));
	if (len > 5 && !strcasecmp(base + len - 5, ".gguf"))
		len -= 5;
	snprintf(m->name, sizeof(m->name), "%.*s", (int)len, base);
	if (!(m->path = strdup(path)))
		return PARSE_FAIL;
	cfg->n_models++;
	return PARSE_OK;
}

/* --alias NAME: the last -m's name, then further names. */
static int add_alias(struct sv_config *cfg, const char *name, int *named)
{
	struct sv_model_cfg *m = &cfg->models[cfg->n_models - 1];

	if (strlen(name) >= SV_NAME_MAX || !*name)
		return PARSE_USAGE;
	if (!*named) {
		snprintf(m->name, sizeof(m->name), "%s", name);
		*named = 1;
		return PARSE_OK;
	}
	return strv_add(&m->aliases, &m->n_aliases, name);
}

static int parse_opt(struct sv_config *cfg, int opt, char **argv, int *named)
{
	int64_t size;
	uint32_t u;

	switch (opt) {
	case 'm':
		*named = 0;
		return add_model(cfg, optarg);
	case O_ALIAS:
		if (!cfg->n_models)
			return bad_value(argv, "needs a -m before it, got");
		if (add_alias(cfg, optarg, named) == PARSE_USAGE)
			return bad_value(argv, "bad name");
		return PARSE_OK;
	case O_CONFIG:
		return PARSE_OK;	/* the first pass loaded it */
	case O_HOST:
		return set_str(&cfg->host, optarg);
	case O_PORT:
		if (parse_u32(optarg, 65535, &u))
			return bad_value(argv, "bad port");
		cfg->port = (int)u;
		return PARSE_OK;
	case O_UNIX:
		return set_str(&cfg->unix_path, optarg);
	case 't':
		if (!strcmp(optarg, "-1"))
			optarg = "0";
		return parse_u32(optarg, 1024, &cfg->n_threads) ? bad_value(argv, "bad count") : 0;
	case 'c':
		return parse_u32(optarg, 1u << 24, &cfg->n_ctx) ? bad_value(argv, "bad size") : 0;
	case O_NP:
		if (parse_u32(optarg, 4096, &cfg->n_parallel) || !cfg->n_parallel)
			return bad_value(argv, "bad count");
		return PARSE_OK;
	case 'b':
		if (parse_u32(optarg, 4096, &cfg->max_batch) || !cfg->max_batch)
			return bad_value(argv, "bad count");
		return PARSE_OK;
	case O_MAX_QUEUE:
		return parse_u32(optarg, 1u << 20, &cfg->max_queue) ? bad_value(argv, "bad count") : 0;
	case O_TIMEOUT:
		return parse_u32(optarg, 86400, &cfg->conn_timeout_s) ?
		       bad_value(argv, "bad seconds") : 0;
	case O_MAX_CONNS:
		if (parse_u32(optarg, 1u << 20, &cfg->max_conns) || !cfg->max_conns)
			return bad_value(argv, "bad count");
		return PARSE_OK;
	case O_IDLE_UNLOAD:
		return parse_u32(optarg, UINT32_MAX, &cfg->idle_unload_s) ?
		       bad_value(argv, "bad seconds") : 0;
	case O_MAX_BODY:
		size = sv_config_size(optarg);
		if (size <= 0 || size > (1ll << 31))
			return bad_value(argv, "bad size");
		cfg->max_body = (size_t)size;
		return PARSE_OK;
	case O_MEM_BUDGET:
		size = sv_config_size(optarg);
		if (size < 0)
			return bad_value(argv, "bad size");
		cfg->mem_budget = (uint64_t)size;
		return PARSE_OK;
	case O_API_KEY:
		return strv_add(&cfg->api_keys, &cfg->n_api_keys, optarg);
	case O_API_KEY_FILE:
		return sv_config_read_keys(optarg, 1, &cfg->api_keys, &cfg->n_api_keys) ?
		       PARSE_FAIL : PARSE_OK;
	case O_UPSTREAM:
		return set_str(&cfg->upstream.base_url, optarg);
	case O_UPSTREAM_KEY_FILE: {
		char **v = NULL;
		size_t n = 0;

		if (sv_config_read_keys(optarg, 0, &v, &n))
			return PARSE_FAIL;
		free(cfg->upstream.key);
		cfg->upstream.key = v[0];
		free(v);
		return PARSE_OK;
	}
	case O_ROUTE_DEFAULT:
		if (api_parse_route(optarg, &cfg->anon.route))
			return bad_value(argv, "must be local, auto or cloud, not");
		return PARSE_OK;
	case O_LOG_FORMAT:
		if (strcmp(optarg, "text") && strcmp(optarg, "json"))
			return bad_value(argv, "must be text or json, not");
		cfg->log_json = !strcmp(optarg, "json");
		return PARSE_OK;
	case 'v':
		cfg->verbose = 1;
		return PARSE_OK;
	default:
		tool_opt_error("kllm-serve", opt, argv);
		return PARSE_USAGE;
	}
}

/* getopt's error; "-np" (one dash, a long name) is spelled as given. */
static void opt_error(int opt, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (arg[0] == '-' && arg[1] && arg[1] != '-' && arg[2] && opt == ':')
		fprintf(stderr, "kllm-serve: %s needs a value (see --help)\n", arg);
	else
		tool_opt_error("kllm-serve", opt, argv);
}

static int parse_args(struct sv_config *cfg, int argc, char **argv)
{
	const char *config = NULL;
	int opt, named = 0, r;

	/* first pass: --help, --version, --config (loaded under the options) */
	opterr = 0;
	optind = 0;
	while ((opt = getopt_long_only(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			return PARSE_EXIT;
		}
		if (opt == O_VERSION) {
			printf("kllm-serve " KLLM_VERSION "\n");
			return PARSE_EXIT;
		}
		if (opt == O_CONFIG)
			config = optarg;
		if (opt == O_LOG_FORMAT)
			cfg->log_json = !strcmp(optarg, "json");
		if (opt == '?' || opt == ':') {
			opt_error(opt, argv);
			return PARSE_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kllm-serve: unexpected argument '%s' (see --help)\n", argv[optind]);
		return PARSE_USAGE;
	}
	if (config && sv_config_load(config, cfg))
		return PARSE_FAIL;
	optind = 0;
	while ((opt = getopt_long_only(argc, argv, shortopts, longopts, NULL)) != -1)
		if ((r = parse_opt(cfg, opt, argv, &named)) != PARSE_OK)
			return r;
	return PARSE_OK;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct sv_config cfg;
	sigset_t set;
	int sig = 0, r, status = 1;

	sv_config_defaults(&cfg);
	sv_cfg = &cfg;		/* sv_log's format while the options are read */
	r = parse_args(&cfg, argc, argv);
	if (r != PARSE_OK) {
		if (r == PARSE_FAIL && errno == ENOMEM)
			fprintf(stderr, "kllm-serve: %s\n", strerror(ENOMEM));
		sv_cfg = NULL;
		sv_config_free(&cfg);
		return r == PARSE_EXIT ? 0 : r == PARSE_USAGE ? 2 : 1;
	}
	raise_nofile();
	json_c_set_serialization_double_format("%.7g", JSON_C_OPTION_GLOBAL);
	/* every thread inherits the mask: only sigwait below sees them */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!cfg.n_models)
		sv_log("warn", "config", "models=0 note=\"no local model: only the upstream answers\"");
	if (sv_upstream_init(&cfg.upstream)) {
		fprintf(stderr, "kllm-serve: the upstream could not be set up\n");
		goto out_cfg;
	}
	if (sv_models_init(&cfg)) {
		fprintf(stderr, "kllm-serve: the models could not be set up\n");
		goto out_upstream;
	}
	if (sv_http_start(&cfg)) {
		fprintf(stderr, "kllm-serve: cannot listen (see the log above)\n");
		goto out_models;
	}
	sv_log("info", "ready", "version=%s models=%zu upstream=%d pid=%d", KLLM_VERSION,
	       cfg.n_models, sv_upstream_enabled(), (int)getpid());
	sigwait(&set, &sig);
	sv_log("info", "shutdown", "signal=%s grace_s=%d", sig == SIGINT ? "SIGINT" : "SIGTERM",
	       SV_SHUTDOWN_GRACE);
	sv_http_quiesce();
	status = 0;
out_models:
	sv_models_shutdown(SV_SHUTDOWN_GRACE);
out_upstream:
	sv_upstream_shutdown();
	sv_http_stop();
out_cfg:
	if (!status)
		sv_log("info", "stopped", "status=0");
	sv_cfg = NULL;
	sv_config_free(&cfg);
	return status;
}
