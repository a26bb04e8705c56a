/* What every test program needs to play QEMU: load the plugin, a host API, RAM, checks, VmLck. */
#ifndef RDMA_CS_TEST_HOST_H
#define RDMA_CS_TEST_HOST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rdma-cs-plugin.h"

#define CHECK(condition, ...)                                                        \
    do {                                                                             \
        if (!(condition)) {                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #condition);     \
            fprintf(stderr, __VA_ARGS__);                                            \
            fprintf(stderr, "\n");                                                   \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

typedef struct test_host {
    rdma_cs_host_api api;
    const char *role;       /* printed before every log line */
    volatile int abort;     /* what should_abort returns */
    int quiet;              /* 1: drop info and debug lines */
} test_host;

/* dlopens the shim (RDMA_CS_PLUGIN_PATH, or $RDMA_CS_PLUGIN) and queries it with abi_version. */
const rdma_cs_plugin_ops *load_plugin(uint32_t abi_version);

void host_init(test_host *host, const char *role);

rdma_cs_config make_config(uint32_t role, const char *port, const char *options);

/* A RAM block as QEMU describes it (4 KiB pages, no fd). */
rdma_cs_block ram_block(const char *name, void *host, uint64_t length);

/* create + src_setup, each checked; returns ctx. */
void *open_source(const rdma_cs_plugin_ops *ops, test_host *host, const char *options, const rdma_cs_block *blocks, uint32_t count);

/* create + dst_setup, each checked; returns ctx. */
void *open_destination(const rdma_cs_plugin_ops *ops, test_host *host, const char *options, const rdma_cs_block *blocks, uint32_t count);

/* Page-aligned (2 MiB for large sizes, THP-advised) and zeroed memory, like QEMU's RAM. */
void *ram_alloc(size_t bytes, int shared);

/* VmLck of this process, in bytes. */
long locked_bytes(void);

/* A TCP port that was free a moment ago. */
int free_port(void);

double now_seconds(void);

#endif
