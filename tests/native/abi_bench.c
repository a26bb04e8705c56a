/* ./rdmacs bench abi: what one src_save_page costs, QEMU -> shim -> engine, over 1 GiB of pages. The engine runs on
 * its in-process fabric (fabric=memory): this measures the call and the designation, not a network. The baseline,
 * in the same run, is an empty C function called through a function pointer the same way. */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "host.h"

#define PAGE 4096u
#define SIZE (1ull << 30)
#define PASSES 9

static int __attribute__((noinline)) empty_save_page(void *ctx, uint32_t block, uint64_t offset, uint64_t length, const void *host)
{
    __asm__ volatile("" ::"r"(ctx), "r"(block), "r"(offset), "r"(length), "r"(host) : "memory");
    return 0;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count)
{
    qsort(values, count, sizeof(double), compare);
    return values[count / 2];
}

static double time_pass(int (*save_page)(void *, uint32_t, uint64_t, uint64_t, const void *), void *ctx, uint8_t *ram)
{
    double start = now_seconds();
    for (uint64_t offset = 0; offset < SIZE; offset += PAGE) {
        save_page(ctx, 0, offset, PAGE, ram + offset);
    }
    return (now_seconds() - start) * 1e9 / (SIZE / PAGE);
}

static void wait_for_empty_backlog(const rdma_cs_plugin_ops *ops, void *ctx)
{
    double deadline = now_seconds() + 60;
    for (;;) {
        rdma_cs_stats stats = {.struct_size = sizeof(stats)};
        CHECK(ops->get_stats(ctx, &stats) == 0, "get_stats");
        if (stats.backlog_bytes == 0) {
            return;
        }
        CHECK(now_seconds() < deadline, "the backlog (%llu bytes) did not drain within 60 s", (unsigned long long)stats.backlog_bytes);
        usleep(1000);
    }
}

int main(void)
{
    const rdma_cs_plugin_ops *ops = load_plugin(RDMA_CS_ABI_VERSION);
    CHECK(ops != NULL, "query failed");
    test_host host;
    host_init(&host, "bench");
    host.quiet = 1;
    rdma_cs_config config = make_config(RDMA_CS_ROLE_SOURCE, "4444", "fabric=memory,budget=64M");
    void *ctx = NULL;
    CHECK(ops->create(&host.api, &config, &ctx) == 0, "create");
    uint8_t *ram = ram_alloc(SIZE, 0);
    rdma_cs_block block = {.idstr = "pc.ram", .host = ram, .used_length = SIZE, .max_length = SIZE, .page_size = PAGE, .fd = -1};
    uint8_t blob[RDMA_CS_MAX_BLOB];
    uint32_t blob_length = sizeof(blob);
    CHECK(ops->src_setup(ctx, &block, 1, blob, &blob_length) == 0, "setup");
    CHECK(ops->src_wait_ready(ctx) == 0, "wait_ready");

    double plugin[PASSES], baseline[PASSES];
    for (int pass = 0; pass < PASSES; pass++) {
        baseline[pass] = time_pass(empty_save_page, ctx, ram);
        plugin[pass] = time_pass(ops->src_save_page, ctx, ram);
        /* Every page designated is written before the next pass, so that a pass measures the call and the designation,
         * not a worker writing beside it on these two cores: a round (ABI 1.2) only paces, so wait for the backlog. */
        CHECK(ops->src_iter_end(ctx, RDMA_CS_PHASE_ROUND, (uint64_t)pass + 1) == 0, "iter_end");
        wait_for_empty_backlog(ops, ctx);
    }
    rdma_cs_stats stats = {.struct_size = sizeof(stats)};
    CHECK(ops->get_stats(ctx, &stats) == 0, "get_stats");
    CHECK(stats.pages_received == (uint64_t)PASSES * (SIZE / PAGE), "pages_received %llu", (unsigned long long)stats.pages_received);
    ops->destroy(ctx);

    double save_page_ns = median(plugin, PASSES), empty_ns = median(baseline, PASSES);
    printf("{\n  \"benchmark\": \"abi\",\n  \"pages_per_pass\": %llu,\n  \"passes\": %d,\n"
           "  \"save_page_ns\": %.3f,\n  \"empty_call_ns\": %.3f,\n  \"save_page_over_empty_ns\": %.3f,\n"
           "  \"bytes_written\": %llu,\n  \"peak_pinned_bytes\": %llu,\n  \"budget_bytes\": %llu,\n"
           "  \"targets\": {\"save_page_ns\": 50}\n}\n",
           (unsigned long long)(SIZE / PAGE), PASSES, save_page_ns, empty_ns, save_page_ns - empty_ns,
           (unsigned long long)stats.bytes_written, (unsigned long long)stats.peak_pinned_bytes, (unsigned long long)stats.budget_bytes);
    return 0;
}
