/* SPDX-License-Identifier: MIT
 *
 * librdmacs-qemu.so: the plugin QEMU loads. It exports only rdma_cs_plugin_query(); everything else is the
 * engine (librdmacs-engine.so, C# compiled with NativeAOT), which this shim loads from beside itself (or from
 * $RDMA_CS_ENGINE) and whose exports it puts straight into the ops table: no trampoline on the hot path.
 *
 * Why RTLD_NODELETE: a NativeAOT runtime cannot be unloaded (its threads and signal handlers outlive
 * dlclose), so the engine stays mapped for the life of the process, whatever the host does with the shim.
 *
 * Signals: the runtime installs its SIGSEGV/SIGFPE/SIGRTMIN handlers on the first call into it, chaining to
 * the handlers already installed. That first call is made here, in rdma_cs_plugin_query(), which QEMU calls
 * when a migration starts, long after it set up its own handlers; so both keep working. A host that
 * installs a SIGSEGV handler *after* that call must chain to the previous one. libfabric is then loaded in the
 * background (fabric-preload.c), which keeps every handler as it was.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric-preload.h"
#include "rdma-cs-plugin.h"

#define ENGINE_FILE "librdmacs-engine.so"
#define ENGINE_ENV "RDMA_CS_ENGINE"

static rdma_cs_plugin_ops plugin_ops = {
    .abi_version = RDMA_CS_ABI_VERSION,
    .struct_size = sizeof(rdma_cs_plugin_ops),
    .name = "rdma-cs (budgeted RDMA, NativeAOT engine)",
};
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int engine_loaded;

/*
 * Runs at exit (or when this shim is unloaded), before the libraries' destructors: libfabric's background loading
 * must be done by then. A host that exits while it is inside dlopen and malloc while glibc runs libnuma's destructor
 * deadlocks (seen with abi_misuse, which exits at once).
 */
static void wait_for_preload_at_exit(void)
{
    fabric_preload_wait(10);
}

/* What the engine calls before it loads libfabric itself, so that its loading never interleaves with ours. */
static void wait_for_preload(void)
{
    fabric_preload_wait(30);
}

/* Each engine export and the ops slot it fills. */
static const struct {
    const char *symbol;
    void **slot;
} engine_exports[] = {
    {"rdmacs_create", (void **)&plugin_ops.create},
    {"rdmacs_cancel", (void **)&plugin_ops.cancel},
    {"rdmacs_destroy", (void **)&plugin_ops.destroy},
    {"rdmacs_src_setup", (void **)&plugin_ops.src_setup},
    {"rdmacs_src_wait_ready", (void **)&plugin_ops.src_wait_ready},
    {"rdmacs_src_iter_begin", (void **)&plugin_ops.src_iter_begin},
    {"rdmacs_src_save_page", (void **)&plugin_ops.src_save_page},
    {"rdmacs_src_iter_end", (void **)&plugin_ops.src_iter_end},
    {"rdmacs_dst_setup", (void **)&plugin_ops.dst_setup},
    {"rdmacs_dst_sync", (void **)&plugin_ops.dst_sync},
    {"rdmacs_dst_get_fd", (void **)&plugin_ops.dst_get_fd},
    {"rdmacs_get_stats", (void **)&plugin_ops.get_stats},
};

/* The engine's path: $RDMA_CS_ENGINE, else librdmacs-engine.so in this shim's own directory. */
static int engine_path(char *path, size_t size)
{
    const char *configured = getenv(ENGINE_ENV);
    if (configured != NULL && configured[0] != '\0') {
        return snprintf(path, size, "%s", configured) < (int)size ? 0 : -ENAMETOOLONG;
    }
    Dl_info self;
    if (dladdr((void *)&rdma_cs_plugin_query, &self) == 0 || self.dli_fname == NULL) {
        return -ENOENT;
    }
    const char *slash = strrchr(self.dli_fname, '/');
    int directory = slash == NULL ? 0 : (int)(slash - self.dli_fname + 1);
    return snprintf(path, size, "%.*s%s", directory, self.dli_fname, ENGINE_FILE) < (int)size ? 0 : -ENAMETOOLONG;
}

static void load_engine(void)
{
    char path[PATH_MAX];
    if (engine_path(path, sizeof(path)) != 0) {
        fprintf(stderr, "rdma-cs: cannot tell where the engine is; set %s\n", ENGINE_ENV);
        return;
    }
    void *engine = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (engine == NULL) {
        fprintf(stderr, "rdma-cs: cannot load the engine %s: %s\n", path, dlerror());
        return;
    }
    uint32_t (*engine_abi_version)(void) = (uint32_t (*)(void))dlsym(engine, "rdmacs_engine_abi_version");
    if (engine_abi_version == NULL) {
        fprintf(stderr, "rdma-cs: %s is not an rdma-cs engine (no rdmacs_engine_abi_version)\n", path);
        return;
    }
    /* The first call into the runtime: it starts here, after the host's signal handlers exist. */
    uint32_t version = engine_abi_version();
    if (RDMA_CS_ABI_MAJOR_OF(version) != RDMA_CS_ABI_MAJOR) {
        fprintf(stderr, "rdma-cs: the engine %s implements ABI %u.%u, this shim %u.%u\n", path,
                RDMA_CS_ABI_MAJOR_OF(version), version & 0xffffu, RDMA_CS_ABI_MAJOR, RDMA_CS_ABI_MINOR);
        return;
    }
    void (*engine_fabric_preloaded_by)(void (*)(void)) =
        (void (*)(void (*)(void)))dlsym(engine, "rdmacs_engine_fabric_preloaded_by");
    if (engine_fabric_preloaded_by == NULL) {
        fprintf(stderr, "rdma-cs: the engine %s lacks rdmacs_engine_fabric_preloaded_by\n", path);
        return;
    }
    /* After the runtime's start, so that its handlers are among those the loading keeps; the exit handler goes in
     * after the runtime's own, so it runs first. */
    engine_fabric_preloaded_by(wait_for_preload);
    fabric_preload_start();
    atexit(wait_for_preload_at_exit);
    for (size_t i = 0; i < sizeof(engine_exports) / sizeof(engine_exports[0]); i++) {
        *engine_exports[i].slot = dlsym(engine, engine_exports[i].symbol);
        if (*engine_exports[i].slot == NULL) {
            fprintf(stderr, "rdma-cs: the engine %s lacks %s\n", path, engine_exports[i].symbol);
            return;
        }
    }
    engine_loaded = 1;
}

__attribute__((visibility("default"))) const rdma_cs_plugin_ops *rdma_cs_plugin_query(uint32_t qemu_abi_version)
{
    if (RDMA_CS_ABI_MAJOR_OF(qemu_abi_version) != RDMA_CS_ABI_MAJOR) {
        fprintf(stderr, "rdma-cs: the host speaks plugin ABI %u.%u, this plugin %u.%u\n",
                RDMA_CS_ABI_MAJOR_OF(qemu_abi_version), qemu_abi_version & 0xffffu, RDMA_CS_ABI_MAJOR, RDMA_CS_ABI_MINOR);
        return NULL;
    }
    pthread_once(&load_once, load_engine);
    return engine_loaded ? &plugin_ops : NULL;
}
