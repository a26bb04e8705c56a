/*
 * rdma-cs plugin ABI: what QEMU (patched, qemu-patches/) and the rdma-cs
 * plugin (shim/ and the engine) agree on. Deliberately permissive and free
 * of QEMU includes: plugins are separate programs.
 *
 * Versioning: the major version must match exactly; minor versions only
 * append fields and function pointers. Each side reads only what lies inside
 * the other's struct_size. Return values: 0 = OK, positive = a status below,
 * negative = -errno (the reason went to host->log first).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef RDMA_CS_PLUGIN_H
#define RDMA_CS_PLUGIN_H

#include <stdint.h>
#include <stddef.h>

#define RDMA_CS_ABI_MAJOR 1u
#define RDMA_CS_ABI_MINOR 2u
#define RDMA_CS_ABI_VERSION ((RDMA_CS_ABI_MAJOR << 16) | RDMA_CS_ABI_MINOR)
#define RDMA_CS_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define RDMA_CS_PLUGIN_QUERY_SYMBOL "rdma_cs_plugin_query"

/* Source to destination rendezvous data carried in the migration stream */
#define RDMA_CS_MAX_BLOB 4096u

#define RDMA_CS_OK 0
#define RDMA_CS_DECLINE 1   /* src_save_page: QEMU sends the page itself */
#define RDMA_CS_AGAIN 2     /* dst_sync: not yet; QEMU calls again */

enum rdma_cs_role {
    RDMA_CS_ROLE_SOURCE = 1,
    RDMA_CS_ROLE_DEST = 2,
};

enum rdma_cs_phase {
    RDMA_CS_PHASE_SETUP = 0,
    RDMA_CS_PHASE_ROUND = 1,
    RDMA_CS_PHASE_FINISH = 3,
};

enum rdma_cs_log_level {
    RDMA_CS_LOG_ERROR = 0,
    RDMA_CS_LOG_WARN = 1,
    RDMA_CS_LOG_INFO = 2,
    RDMA_CS_LOG_DEBUG = 3,
};

/*
 * What backs a RAM block (rdma_cs_block.flags). A page that this process
 * never touched reads as zero only in private anonymous memory: in shared or
 * file-backed memory another process (a vhost-user backend, virtiofsd) or
 * the file may have put data there without QEMU's page tables knowing.
 * Plugins take that shortcut only with RDMA_CS_BLOCK_F_PRIVATE_ANON, which
 * hosts before ABI 1.1 never set.
 */
#define RDMA_CS_BLOCK_F_SHARED 0x1u       /* MAP_SHARED: others may write it */
#define RDMA_CS_BLOCK_F_FILE 0x2u         /* backed by a file or memfd (1.1) */
#define RDMA_CS_BLOCK_F_HUGETLB 0x4u      /* huge pages, e.g. hugetlbfs (1.1) */
#define RDMA_CS_BLOCK_F_PRIVATE_ANON 0x8u /* private anonymous memory (1.1) */

/* One RAM block; valid from *_setup until destroy(). */
typedef struct rdma_cs_block {
    const char *idstr;      /* RAMBlock id, e.g. "pc.ram" */
    void *host;             /* host virtual address of offset 0 */
    uint64_t used_length;   /* bytes to migrate, whole target pages */
    uint64_t max_length;    /* reserved size (resizeable blocks) */
    uint64_t page_size;     /* backing host page size */
    uint64_t ram_addr;      /* offset in ram_addr_t space, for logs */
    int32_t fd;             /* backing fd or -1 */
    uint32_t flags;         /* RDMA_CS_BLOCK_F_* */
} rdma_cs_block;

/* Provided by the host (QEMU), valid until destroy(). */
typedef struct rdma_cs_host_api {
    uint32_t struct_size;
    uint32_t abi_version;
    void *opaque;
    /* May be called from the plugin's own threads. */
    void (*log)(void *opaque, int level, const char *message);
    /*
     * Nonzero once the migration is being cancelled or has failed: blocking
     * calls poll it at least every 100 ms and return -ECANCELED.
     */
    int (*should_abort)(void *opaque);
} rdma_cs_host_api;

typedef struct rdma_cs_config {
    uint32_t struct_size;
    uint32_t role;              /* enum rdma_cs_role */
    const char *host;           /* HOST of rdma-cs:HOST:PORT */
    const char *port;           /* PORT, as a string */
    /*
     * Options as one string, "key=value,key=value": budget=64M,
     * max-block=2M, provider=auto, token=SECRET, control-port=N (default
     * PORT + 1), timeout-ms=N, verify=on|off. NULL: the defaults.
     */
    const char *options;
    uint64_t target_page_size;  /* 4096 on x86 */
} rdma_cs_config;

/* What get_stats reports: the source side's engine (zeros elsewhere). */
typedef struct rdma_cs_stats {
    uint32_t struct_size;
    uint32_t reserved;
    uint64_t budget_bytes;      /* pinned-memory budget */
    uint64_t pinned_bytes;      /* registered (pinned) now */
    uint64_t peak_pinned_bytes; /* most ever at once; <= budget_bytes */
    uint64_t registrations;     /* registrations made */
    uint64_t deregistrations;   /* registrations given up */
    uint64_t cache_hits;        /* writes from an existing registration */
    uint64_t evictions;         /* idle registrations given up for room */
    uint64_t blocks_written;    /* RDMA writes completed */
    uint64_t bytes_written;     /* bytes they carried */
    uint64_t designated_pages;  /* pages waiting to be written */
    uint64_t writes_in_flight;  /* posted, not yet completed */
    uint64_t budget_wait_ns;    /* time with work but no budget for it */
    uint64_t pages_received;    /* src_save_page calls accepted */
    uint64_t zero_pages;        /* pages sent as zero ranges, not written */
    /* ---- 1.2 ---- */
    uint64_t backlog_bytes;     /* handed over, not landed yet */
    uint64_t landed_bytes;      /* written or cleared at the destination */
} rdma_cs_stats;

typedef struct rdma_cs_plugin_ops {
    uint32_t abi_version;   /* RDMA_CS_ABI_VERSION the plugin was built with */
    uint32_t struct_size;   /* sizeof(rdma_cs_plugin_ops) in the plugin */
    const char *name;
    uint64_t flags;         /* reserved, 0 */

    /* ---- both roles ---- */
    int (*create)(const rdma_cs_host_api *host, const rdma_cs_config *config,
                  void **ctx);
    /*
     * Any thread, idempotent: blocked calls return -ECANCELED soon, later
     * calls return -ECANCELED.
     */
    void (*cancel)(void *ctx);
    /* Once, after every other call returned: releases (unpins) everything. */
    void (*destroy)(void *ctx);

    /* ---- source (migration thread) ---- */
    /*
     * Prepare; write at most *blob_len bytes of rendezvous data into blob
     * and set *blob_len. Must not wait for the destination.
     */
    int (*src_setup)(void *ctx, const rdma_cs_block *blocks, uint32_t nblocks,
                     uint8_t *blob, uint32_t *blob_len);
    /* Wait (bounded) until the destination is connected. */
    int (*src_wait_ready)(void *ctx);
    /* Optional: iteration seq begins. QEMU's bitmap mutex is held: quick. */
    int (*src_iter_begin)(void *ctx, uint32_t phase, uint64_t seq);
    /* One dirty page: queue it, return at once. Never skip a page. */
    int (*src_save_page)(void *ctx, uint32_t block, uint64_t offset,
                         uint64_t length, const void *host);
    /*
     * Iteration seq ends. FINISH: every page given so far is written and its
     * write completed, and the destination is told; the guest is stopped, so
     * bounded by the timeout. ROUND, with a host of ABI 1.2 or later: returns
     * once the backlog (rdma_cs_stats.backlog_bytes) is down to the plugin's
     * low-water mark, without the destination: the host counts the backlog
     * as pending memory and credits bytes when they land. With an older host,
     * ROUND waits for every page, as FINISH does.
     */
    int (*src_iter_end)(void *ctx, uint32_t phase, uint64_t seq);

    /* ---- destination (main-loop coroutine: must not block long) ---- */
    /* Expose the blocks to the authenticated source; may finish later. */
    int (*dst_setup)(void *ctx, const rdma_cs_block *blocks, uint32_t nblocks,
                     const uint8_t *blob, uint32_t blob_len);
    /*
     * 0 once the phase is reached, RDMA_CS_AGAIN if not yet, < 0 on error.
     * SETUP: the source is connected. ROUND: at once (nothing waits for a
     * round's pages before FINISH; plugins of 1.2 do not fence rounds).
     * FINISH: every page has landed and remote access is revoked: the guest
     * may run.
     */
    int (*dst_sync)(void *ctx, uint32_t phase, uint64_t seq);
    /* Optional: fd readable when dst_sync may progress; -1: poll (1 ms). */
    int (*dst_get_fd)(void *ctx);

    /* ---- 1.0 additions to the original proposal ---- */
    /* Statistics; stats->struct_size says how much the caller can take. */
    int (*get_stats)(void *ctx, rdma_cs_stats *stats);
} rdma_cs_plugin_ops;

/* The only symbol a plugin exports; NULL when the version is unsupported. */
typedef const struct rdma_cs_plugin_ops *
rdma_cs_plugin_query_func(uint32_t version);
const struct rdma_cs_plugin_ops *
rdma_cs_plugin_query(uint32_t qemu_abi_version);

#endif /* RDMA_CS_PLUGIN_H */
