/* SPDX-License-Identifier: MIT
 *
 * Loading libfabric ahead of the first migration, on a native thread of the shim's own.
 *
 * Why ahead: the first fi_getinfo of a process costs about 0.3 s on Debian 12 (its libfabric links libpsm2 and
 * libinfinipath, whose constructors calibrate the CPU clock with usleep), too long to pay inside a migration.
 *
 * Why a native thread: a managed thread started as the runtime comes up races the host's first calls into the engine
 * through the runtime's own first-time initialisation (two threads class-constructing at once); one run in about
 * seventy crashed with a FailFast (reproduced with abi_loading's host). This thread runs no managed code at all.
 *
 * Why the signals: libpsm2's constructor installs a backtrace printer for SIGINT, SIGILL, SIGABRT, SIGBUS, SIGSEGV
 * and SIGTERM. In QEMU that took SIGTERM from QEMU's orderly shutdown and SIGSEGV from the .NET runtime and the host.
 * Every handler the loading replaced is put back; the engine's own loading (FabricLibrary.cs) waits for this one
 * first, so the two never interleave. Only handlers of code that came with libfabric are put back: the host may set
 * its own while this thread loads (QEMU did, when its first aio_poll loaded the plugin before its signal setup), and
 * putting back the snapshot then would silently undo the host's (QEMU then died of SIGTERM instead of shutting down).
 */
#define _GNU_SOURCE
#include "fabric-preload.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdma/fabric.h>

#define FABRIC_LIBRARY "libfabric.so.1" /* the name the engine's bindings load, so both share one handle */

static const int guarded_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGTERM};
#define GUARDED_COUNT (sizeof(guarded_signals) / sizeof(guarded_signals[0]))

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t state_changed = PTHREAD_COND_INITIALIZER;
static int started;
static int finished;

/* Initialises the tcp provider, as the engine's queries name their provider: no other provider's probe runs. */
static void warm_up_providers(void *fabric)
{
    struct fi_info *(*dupinfo)(const struct fi_info *) = (struct fi_info * (*)(const struct fi_info *)) dlsym(fabric, "fi_dupinfo");
    void (*freeinfo)(struct fi_info *) = (void (*)(struct fi_info *))dlsym(fabric, "fi_freeinfo");
    int (*getinfo)(uint32_t, const char *, const char *, uint64_t, const struct fi_info *, struct fi_info **) =
        (int (*)(uint32_t, const char *, const char *, uint64_t, const struct fi_info *, struct fi_info **))dlsym(fabric, "fi_getinfo");
    if (dupinfo == NULL || freeinfo == NULL || getinfo == NULL) {
        return; /* the engine's first use says what is wrong with this libfabric */
    }
    struct fi_info *hints = dupinfo(NULL);
    if (hints == NULL) {
        return;
    }
    hints->fabric_attr->prov_name = strdup("tcp"); /* fi_freeinfo frees it */
    struct fi_info *found = NULL;
    if (getinfo(FI_VERSION(1, 17), NULL, NULL, 0, hints, &found) == 0) {
        freeinfo(found);
    }
    freeinfo(hints);
}

/* Whether a handler is code of an object loaded with libfabric (not there before its dlopen). */
static int came_with_libfabric(const struct sigaction *action, const char *const *loaded_before, size_t count)
{
    Dl_info where;
    if (action->sa_handler == SIG_DFL || action->sa_handler == SIG_IGN || !dladdr((void *)action->sa_handler, &where)) {
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        if (loaded_before[i] != NULL && where.dli_fname != NULL && strcmp(loaded_before[i], where.dli_fname) == 0) {
            return 0;
        }
    }
    return 1;
}

/* dl_iterate_phdr callback: notes the file name of each object loaded now. */
struct object_names {
    const char *names[512];
    size_t count;
};

static int note_name(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct object_names *objects = data;
    if (objects->count < sizeof(objects->names) / sizeof(objects->names[0])) {
        Dl_info where;
        /* the main program's dlpi_name is "": dladdr names it as the handlers' lookups will */
        objects->names[objects->count++] = dladdr((void *)(info->dlpi_addr + info->dlpi_phdr[0].p_vaddr), &where) ? where.dli_fname
                                                                                                              : info->dlpi_name;
    }
    return 0;
}

static void *preload(void *unused)
{
    (void)unused;
    struct sigaction before[GUARDED_COUNT];
    for (size_t i = 0; i < GUARDED_COUNT; i++) {
        sigaction(guarded_signals[i], NULL, &before[i]);
    }
    static struct object_names loaded_before; /* one preload per process */
    dl_iterate_phdr(note_name, &loaded_before);
    /* Never closed: the engine uses it for the life of the process. */
    void *fabric = dlopen(FABRIC_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    for (size_t i = 0; i < GUARDED_COUNT; i++) {
        struct sigaction now;
        if (sigaction(guarded_signals[i], NULL, &now) == 0 && now.sa_handler != before[i].sa_handler &&
            came_with_libfabric(&now, loaded_before.names, loaded_before.count)) {
            sigaction(guarded_signals[i], &before[i], NULL);
        }
    }
    if (fabric != NULL) {
        warm_up_providers(fabric);
    }
    pthread_mutex_lock(&state_lock);
    finished = 1;
    pthread_cond_broadcast(&state_changed);
    pthread_mutex_unlock(&state_lock);
    return NULL;
}

void fabric_preload_start(void)
{
    pthread_mutex_lock(&state_lock);
    if (started) {
        pthread_mutex_unlock(&state_lock);
        return;
    }
    started = 1;
    pthread_mutex_unlock(&state_lock);

    /* The host's signals go to the host's threads, never to this one. */
    sigset_t all, host_mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &host_mask);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int failed = pthread_create(&thread, &attributes, preload, NULL);
    pthread_attr_destroy(&attributes);
    pthread_sigmask(SIG_SETMASK, &host_mask, NULL);
    if (failed == 0) {
        pthread_setname_np(thread, "rdmacs-preload");
    } else {
        /* Nothing to wait for; the engine loads libfabric itself when it first needs it. */
        pthread_mutex_lock(&state_lock);
        finished = 1;
        pthread_mutex_unlock(&state_lock);
    }
}

int fabric_preload_wait(int seconds)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&state_lock);
    while (started && !finished) {
        if (pthread_cond_timedwait(&state_changed, &state_lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    int done = !started || finished;
    pthread_mutex_unlock(&state_lock);
    return done;
}
