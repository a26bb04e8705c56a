/* Loading: the engine from beside the shim or from $RDMA_CS_ENGINE; a missing or foreign engine is a clear refusal
 * (NULL from the query), never a crash; the host's own SIGSEGV handler still runs after the runtime started; and
 * calls made at once after loading never crash, whatever libfabric's background loading is doing; libfabric's
 * registration caches are off in the host's process unless the operator set them.
 * Each case runs in a child process: the shim loads its engine once per process. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"

static int in_child(int (*body)(void), const char *engine)
{
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        if (engine != NULL) {
            setenv("RDMA_CS_ENGINE", engine, 1);
        }
        _exit(body());
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child, "waitpid");
    CHECK(WIFEXITED(status), "the child died of signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return WEXITSTATUS(status);
}

static int query_succeeds(void)
{
    return load_plugin(RDMA_CS_ABI_VERSION) != NULL ? 0 : 1;
}

static void host_segv_handler(int signal)
{
    (void)signal;
    _exit(42); /* the host's handler ran: what QEMU relies on */
}

static void host_term_handler(int signal)
{
    (void)signal;
}

/* Loads the plugin and creates and destroys a source context, as a host's first calls: 0, or which step failed. */
static int create_and_destroy(const char *role)
{
    const rdma_cs_plugin_ops *ops = load_plugin(RDMA_CS_ABI_VERSION);
    if (ops == NULL) {
        return 1;
    }
    test_host host;
    host_init(&host, role);
    rdma_cs_config config = make_config(RDMA_CS_ROLE_SOURCE, "4444", "fabric=memory");
    void *ctx = NULL;
    if (ops->create(&host.api, &config, &ctx) != 0) {
        return 2;
    }
    ops->destroy(ctx);
    return 0;
}

/* The host's first calls, made at once after the query, while libfabric loads in the background. */
static int create_at_once(void)
{
    return create_and_destroy("at-once");
}

/*
 * Like QEMU: the host's SIGSEGV and SIGTERM handlers exist first, then the engine's runtime starts and loads
 * libfabric in the background (whose libpsm2 installs handlers of its own), then a fault in host code.
 */
static int host_handler_survives_the_runtime(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = host_segv_handler;
    sigaction(SIGSEGV, &action, NULL);
    action.sa_handler = host_term_handler;
    sigaction(SIGTERM, &action, NULL);
    int failed = create_and_destroy("signals");
    if (failed != 0) {
        return failed;
    }
    sleep(2); /* libfabric has loaded by now (about 0.3 s) */
    struct sigaction term;
    sigaction(SIGTERM, NULL, &term);
    if (term.sa_handler != host_term_handler) {
        return 4; /* loading libfabric took the host's SIGTERM */
    }
    volatile int *nowhere = NULL;
    __asm__ volatile("" : "+r"(nowhere)); /* hidden from the compiler, so the fault is a real one */
    *nowhere = 1;                         /* a fault outside managed code */
    return 3;
}

/* libfabric's registration caches are off in the host's process once the plugin is loaded (before libfabric reads its
 * parameters): a deregistered region never stays pinned behind the budget's back. */
static int registration_caches_are_off(void)
{
    if (load_plugin(RDMA_CS_ABI_VERSION) == NULL) {
        return 1;
    }
    const char *count = getenv("FI_MR_CACHE_MAX_COUNT");
    const char *efa = getenv("FI_EFA_MR_CACHE_ENABLE");
    return count != NULL && strcmp(count, "0") == 0 && efa != NULL && strcmp(efa, "0") == 0 ? 0 : 2;
}

/* An operator's own setting is kept (the plugin's log then says what it costs the budget). */
static int an_operators_cache_setting_is_kept(void)
{
    setenv("FI_MR_CACHE_MAX_COUNT", "512", 1);
    if (load_plugin(RDMA_CS_ABI_VERSION) == NULL) {
        return 1;
    }
    const char *count = getenv("FI_MR_CACHE_MAX_COUNT");
    const char *efa = getenv("FI_EFA_MR_CACHE_ENABLE");
    return count != NULL && strcmp(count, "512") == 0 && efa != NULL && strcmp(efa, "0") == 0 ? 0 : 2;
}

/* A background loader that ran managed code raced these calls through the runtime's first-time initialisation and
 * crashed about one process in seventy; 150 processes catch that nine times in ten. */
#define AT_ONCE_PROCESSES 150

int main(void)
{
    CHECK(in_child(query_succeeds, NULL) == 0, "the engine beside the shim was not loaded");
    CHECK(in_child(query_succeeds, "/nonexistent/librdmacs-engine.so") == 1, "a missing engine must be refused");
    CHECK(in_child(query_succeeds, "libz.so.1") == 1, "a library that is not an engine must be refused");
    CHECK(in_child(host_handler_survives_the_runtime, NULL) == 42, "the host's SIGSEGV handler did not run");
    CHECK(in_child(registration_caches_are_off, NULL) == 0, "libfabric's registration caches are not off in the host's process");
    CHECK(in_child(an_operators_cache_setting_is_kept, NULL) == 0, "the operator's FI_MR_CACHE_MAX_COUNT was not kept");
    for (int i = 0; i < AT_ONCE_PROCESSES; i++) {
        CHECK(in_child(create_at_once, NULL) == 0, "process %d: create right after loading failed", i);
    }
    printf("abi_loading: all checks passed\n");
    return 0;
}
