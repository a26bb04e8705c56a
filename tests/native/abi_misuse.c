/* Misuse of the plugin ABI: each call gets a clear refusal, the host keeps running, nothing stays pinned. */
#include <errno.h>
#include <string.h>

#include "host.h"

int main(void)
{
    CHECK(load_plugin((RDMA_CS_ABI_MAJOR + 1) << 16) == NULL, "a future major ABI version must be refused");
    const rdma_cs_plugin_ops *ops = load_plugin(RDMA_CS_ABI_VERSION);
    CHECK(ops != NULL, "the plugin refused its own ABI version");
    CHECK(RDMA_CS_ABI_MAJOR_OF(ops->abi_version) == RDMA_CS_ABI_MAJOR, "ops ABI %x", ops->abi_version);
    CHECK(ops->struct_size >= sizeof(*ops), "ops struct_size %u", ops->struct_size);

    test_host host;
    host_init(&host, "misuse");
    rdma_cs_config source = make_config(RDMA_CS_ROLE_SOURCE, "4444", "fabric=memory,budget=4M");
    void *ctx = NULL;

    /* NULL and nonsense arguments. */
    CHECK(ops->create(NULL, &source, &ctx) == -EINVAL, "NULL host");
    CHECK(ops->create(&host.api, NULL, &ctx) == -EINVAL, "NULL config");
    CHECK(ops->create(&host.api, &source, NULL) == -EINVAL, "NULL ctx out");
    rdma_cs_config unknown = make_config(RDMA_CS_ROLE_SOURCE, "4444", "colour=blue");
    CHECK(ops->create(&host.api, &unknown, &ctx) == -EINVAL, "unknown option");
    rdma_cs_config badrole = make_config(7, "4444", NULL);
    CHECK(ops->create(&host.api, &badrole, &ctx) == -EINVAL, "unknown role");
    CHECK(ops->src_save_page(NULL, 0, 0, 4096, NULL) == -EINVAL, "save_page on NULL ctx");
    CHECK(ops->src_iter_end(NULL, RDMA_CS_PHASE_ROUND, 1) == -EINVAL, "iter_end on NULL ctx");
    CHECK(ops->dst_sync(NULL, RDMA_CS_PHASE_ROUND, 1) == -EINVAL, "dst_sync on NULL ctx");
    rdma_cs_stats stats = {.struct_size = sizeof(stats)};
    CHECK(ops->get_stats(NULL, &stats) == -EINVAL, "get_stats on NULL ctx");
    ops->cancel(NULL);
    ops->destroy(NULL);

    /* Create and destroy without setup. */
    CHECK(ops->create(&host.api, &source, &ctx) == 0, "create source");
    ops->destroy(ctx);

    /* A budget below one page is refused at setup, with nothing pinned. */
    size_t size = 8u << 20;
    char *ram = ram_alloc(size, 0);
    char *rom = ram_alloc(1u << 20, 0);
    rdma_cs_block blocks[2] = {ram_block("pc.ram", ram, size), ram_block("pc.bios", rom, 1u << 20)};
    uint8_t blob[RDMA_CS_MAX_BLOB];
    uint32_t blob_length = sizeof(blob);
    rdma_cs_config tiny = make_config(RDMA_CS_ROLE_SOURCE, "4444", "fabric=memory,budget=1K");
    CHECK(ops->create(&host.api, &tiny, &ctx) == 0, "create with a tiny budget");
    CHECK(ops->src_setup(ctx, blocks, 2, blob, &blob_length) == -EINVAL, "a budget of 1K must be refused");
    ops->destroy(ctx);

    /* A real source on the in-process fabric, misused call by call. */
    CHECK(ops->create(&host.api, &source, &ctx) == 0, "create source");
    CHECK(ops->src_save_page(ctx, 0, 0, 4096, ram) == -EINVAL, "save_page before setup");
    CHECK(ops->src_setup(ctx, NULL, 0, blob, &blob_length) == -EINVAL, "setup without blocks");
    CHECK(ops->src_setup(ctx, blocks, 2, blob, &blob_length) == 0, "setup");
    CHECK(ops->src_save_page(ctx, 0, 0, 4096, ram) == -EINVAL, "save_page before wait_ready");
    CHECK(ops->src_wait_ready(ctx) == 0, "wait_ready");
    CHECK(ops->src_save_page(ctx, 2, 0, 4096, ram) == -EINVAL, "block out of range");
    CHECK(ops->src_save_page(ctx, 1, 1u << 20, 4096, rom) == -EINVAL, "offset past the block");
    CHECK(ops->src_save_page(ctx, 0, 0, 0, ram) == -EINVAL, "zero length");
    /* offset + length wraps to 0 in 64 bits: still past the block */
    CHECK(ops->src_save_page(ctx, 0, UINT64_MAX - 4095, 4096, ram) == -EINVAL, "offset + length wrapping around");
    CHECK(ops->src_save_page(ctx, 0, 4096, UINT64_MAX, ram) == -EINVAL, "a length wrapping around");
    CHECK(ops->dst_sync(ctx, RDMA_CS_PHASE_ROUND, 1) == -EINVAL, "a destination call on a source");
    memset(ram, 0x5a, 4096);
    memset(rom + 4096, 0xa5, 4096); /* rom + 8192 stays zero: one zero page after data goes with it */
    CHECK(ops->src_iter_begin(ctx, RDMA_CS_PHASE_ROUND, 1) == 0, "iter_begin");
    CHECK(ops->src_save_page(ctx, 0, 0, 4096, ram) == 0, "a good page");
    CHECK(ops->src_save_page(ctx, 1, 4096, 8192, rom + 4096) == 0, "a good two-page range");
    /* FINISH waits for every page (a ROUND of an ABI 1.2 host only paces: it may return with pages in flight). */
    CHECK(ops->src_iter_end(ctx, RDMA_CS_PHASE_FINISH, 1) == 0, "iter_end");
    rdma_cs_stats small = {.struct_size = 8};
    CHECK(ops->get_stats(ctx, &small) == -EINVAL, "a stats struct too small");
    CHECK(ops->get_stats(ctx, &stats) == 0, "get_stats");
    CHECK(stats.pages_received == 2, "pages_received %llu", (unsigned long long)stats.pages_received);
    CHECK(stats.bytes_written == 3 * 4096, "bytes_written %llu", (unsigned long long)stats.bytes_written);
    CHECK(stats.zero_pages == 0, "zero_pages %llu", (unsigned long long)stats.zero_pages);
    CHECK(stats.backlog_bytes == 0, "backlog_bytes %llu after FINISH", (unsigned long long)stats.backlog_bytes);
    CHECK(stats.landed_bytes == 3 * 4096, "landed_bytes %llu", (unsigned long long)stats.landed_bytes);
    CHECK(stats.peak_pinned_bytes <= stats.budget_bytes && stats.budget_bytes == 4u << 20, "peak %llu budget %llu",
          (unsigned long long)stats.peak_pinned_bytes, (unsigned long long)stats.budget_bytes);

    /* After cancel: every call but stats and destroy says -ECANCELED. */
    ops->cancel(ctx);
    ops->cancel(ctx);
    CHECK(ops->src_save_page(ctx, 0, 0, 4096, ram) == -ECANCELED, "save_page after cancel");
    CHECK(ops->src_iter_end(ctx, RDMA_CS_PHASE_ROUND, 2) == -ECANCELED, "iter_end after cancel");
    CHECK(ops->get_stats(ctx, &stats) == 0, "get_stats after cancel");
    ops->destroy(ctx);
    CHECK(locked_bytes() == 0, "%ld bytes still locked after destroy", locked_bytes());

    /* A destination without a token does not even listen: refused at create (migrate-incoming). */
    rdma_cs_config tokenless = make_config(RDMA_CS_ROLE_DEST, "4444", NULL);
    CHECK(ops->create(&host.api, &tokenless, &ctx) == -EINVAL, "a destination without a token");

    /* A destination listens from create on: its control port is taken, and its calls are checked. */
    rdma_cs_config destination = make_config(RDMA_CS_ROLE_DEST, "4444", "token=t");
    CHECK(ops->create(&host.api, &destination, &ctx) == 0, "create destination");
    CHECK(ops->dst_sync(ctx, RDMA_CS_PHASE_SETUP, 0) == -EINVAL, "dst_sync before dst_setup");
    CHECK(ops->src_wait_ready(ctx) == -EINVAL, "a source call on a destination");
    ops->destroy(ctx);

    CHECK(locked_bytes() == 0, "%ld bytes still locked", locked_bytes());
    printf("abi_misuse: all checks passed\n");
    return 0;
}
