/* Plays QEMU on both sides, in two processes: the parent is the source (several RAM blocks, a thread that keeps
 * rewriting pages, src_save_page for every dirty page, src_iter_end per round, FINISH); the child is the
 * destination (dst_setup, dst_sync polling). Then the two memories are compared byte for byte, the source's
 * VmLck must never have exceeded the budget, and nothing may stay locked. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"

#define PAGE 4096u
#define BLOCKS 3
#define ROUNDS 5
#define BUDGET (8u << 20)
#define EXIT_COMMAND 0xffu

static const char *names[BLOCKS] = {"pc.ram", "vga.vram", "pc.bios"};
static const size_t sizes[BLOCKS] = {48u << 20, 8u << 20, 256u << 10};

typedef struct command {
    uint32_t phase;
    uint64_t sequence;
} command;

static uint8_t *source[BLOCKS];
static uint8_t *destination[BLOCKS];
static _Atomic uint8_t *dirty[BLOCKS];  /* the "dirty log": one flag per page */
static atomic_int writer_running = 1;
static atomic_long peak_locked;
static atomic_int sampler_running = 1;

static void fill_page(uint8_t *page, int block, size_t index, uint32_t generation)
{
    uint64_t stamp = ((uint64_t)generation << 40) ^ ((uint64_t)block << 32) ^ index;
    for (size_t i = 0; i < PAGE / 8; i++) {
        ((uint64_t *)page)[i] = stamp + i;
    }
}

/* The guest: rewrites whole pages, mostly in a hot region, then marks them dirty (as KVM's log would). */
static void *writer(void *unused)
{
    (void)unused;
    unsigned seed = 7;
    uint32_t generation = 1;
    while (atomic_load(&writer_running)) {
        int block = rand_r(&seed) % 8 == 0 ? 1 : 0;
        size_t pages = sizes[block] / PAGE;
        size_t index = rand_r(&seed) % 4 == 0 ? (size_t)rand_r(&seed) % pages : (size_t)rand_r(&seed) % (pages / 8);
        fill_page(source[block] + index * PAGE, block, index, ++generation);
        atomic_store(&dirty[block][index], 1);
        if (generation % 64 == 0) {
            usleep(100);
        }
    }
    return NULL;
}

static void *sampler(void *unused)
{
    (void)unused;
    while (atomic_load(&sampler_running)) {
        long locked = locked_bytes();
        if (locked > atomic_load(&peak_locked)) {
            atomic_store(&peak_locked, locked);
        }
        usleep(2000);
    }
    return NULL;
}

static int run_destination(int commands, int replies, const char *options)
{
    test_host host;
    host_init(&host, "destination");
    host.quiet = 1;
    const rdma_cs_plugin_ops *ops = load_plugin(RDMA_CS_ABI_VERSION);
    CHECK(ops != NULL, "destination: query failed");
    rdma_cs_block blocks[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = ram_block(names[i], destination[i], sizes[i]);
    }
    void *ctx = open_destination(ops, &host, options, blocks, BLOCKS);
    int listening = 0; /* as migrate-incoming has returned before the source's QEMU connects */
    CHECK(write(replies, &listening, sizeof(listening)) == sizeof(listening), "destination: ready");
    command next;
    while (read(commands, &next, sizeof(next)) == sizeof(next) && next.phase != EXIT_COMMAND) {
        int result;
        double deadline = now_seconds() + 60;
        while ((result = ops->dst_sync(ctx, next.phase, next.sequence)) == RDMA_CS_AGAIN && now_seconds() < deadline) {
            usleep(1000); /* what QEMU does without dst_get_fd */
        }
        CHECK(write(replies, &result, sizeof(result)) == sizeof(result), "destination: reply");
    }
    ops->destroy(ctx);
    CHECK(locked_bytes() == 0, "destination: %ld bytes locked after destroy", locked_bytes());
    return 0;
}

static void sync_destination(int commands, int replies, uint32_t phase, uint64_t sequence)
{
    command next = {phase, sequence};
    CHECK(write(commands, &next, sizeof(next)) == sizeof(next), "source: command");
    int result;
    CHECK(read(replies, &result, sizeof(result)) == sizeof(result), "source: no reply from the destination");
    CHECK(result == 0, "destination: dst_sync(phase %u, seq %llu) = %d", phase, (unsigned long long)sequence, result);
}

/* One pass of QEMU's RAM loop: every dirty page, its flag cleared before it is handed over. */
static uint64_t save_dirty_pages(const rdma_cs_plugin_ops *ops, void *ctx)
{
    uint64_t saved = 0;
    for (int block = 0; block < BLOCKS; block++) {
        for (size_t index = 0; index < sizes[block] / PAGE; index++) {
            if (atomic_exchange(&dirty[block][index], 0)) {
                int result = ops->src_save_page(ctx, (uint32_t)block, index * PAGE, PAGE, source[block] + index * PAGE);
                CHECK(result == 0, "src_save_page(%d, %zu) = %d", block, index, result);
                saved++;
            }
        }
    }
    return saved;
}

int main(void)
{
    char options[256];
    snprintf(options, sizeof(options), "token=ctest-token,control-port=%d,provider=tcp,budget=%u,timeout-ms=60000", free_port(), BUDGET);
    for (int i = 0; i < BLOCKS; i++) {
        source[i] = ram_alloc(sizes[i], 0);
        destination[i] = ram_alloc(sizes[i], 1); /* shared with the child, so the parent can compare */
        memset(destination[i], 0xee, sizes[i]); /* stale data the transfer must overwrite */
        dirty[i] = calloc(sizes[i] / PAGE, 1);
        for (size_t index = 0; index < sizes[i] / PAGE; index++) {
            fill_page(source[i] + index * PAGE, i, index, 0);
            atomic_store(&dirty[i][index], 1); /* round 1 sends everything */
        }
    }

    int to_child[2], from_child[2];
    CHECK(pipe(to_child) == 0 && pipe(from_child) == 0, "pipe");
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing parent must not leave it waiting */
        /* The runtime is loaded after the fork, in each process on its own. */
        exit(run_destination(to_child[0], from_child[1], options));
    }

    test_host host;
    host_init(&host, "source");
    host.quiet = 1;
    const rdma_cs_plugin_ops *ops = load_plugin(RDMA_CS_ABI_VERSION);
    CHECK(ops != NULL, "source: query failed");
    rdma_cs_block blocks[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = ram_block(names[i], source[i], sizes[i]);
    }
    int listening;
    CHECK(read(from_child[0], &listening, sizeof(listening)) == sizeof(listening), "destination: never listened");
    void *ctx = open_source(ops, &host, options, blocks, BLOCKS);
    command setup = {RDMA_CS_PHASE_SETUP, 0};
    CHECK(write(to_child[1], &setup, sizeof(setup)) == sizeof(setup), "source: command");
    CHECK(ops->src_wait_ready(ctx) == 0, "source: src_wait_ready");
    int setup_result;
    CHECK(read(from_child[0], &setup_result, sizeof(setup_result)) == sizeof(setup_result) && setup_result == 0,
          "destination: dst_sync(SETUP) = %d", setup_result);

    pthread_t writer_thread, sampler_thread;
    pthread_create(&sampler_thread, NULL, sampler, NULL);
    pthread_create(&writer_thread, NULL, writer, NULL);
    uint64_t sequence = 0, saved = 0;
    double started = now_seconds();
    for (int round = 1; round <= ROUNDS; round++) {
        CHECK(ops->src_iter_begin(ctx, RDMA_CS_PHASE_ROUND, sequence + 1) == 0, "src_iter_begin");
        uint64_t pages = save_dirty_pages(ops, ctx);
        saved += pages;
        CHECK(ops->src_iter_end(ctx, RDMA_CS_PHASE_ROUND, ++sequence) == 0, "src_iter_end(ROUND %llu)", (unsigned long long)sequence);
        sync_destination(to_child[1], from_child[0], RDMA_CS_PHASE_ROUND, sequence);
        printf("round %d: %llu pages\n", round, (unsigned long long)pages);
    }
    atomic_store(&writer_running, 0);
    pthread_join(writer_thread, NULL);
    double paused = now_seconds();
    uint64_t last = save_dirty_pages(ops, ctx);
    saved += last;
    CHECK(ops->src_iter_end(ctx, RDMA_CS_PHASE_FINISH, ++sequence) == 0, "src_iter_end(FINISH)");
    sync_destination(to_child[1], from_child[0], RDMA_CS_PHASE_FINISH, sequence);
    double finished = now_seconds();
    atomic_store(&sampler_running, 0);
    pthread_join(sampler_thread, NULL);

    rdma_cs_stats stats = {.struct_size = sizeof(stats)};
    CHECK(ops->get_stats(ctx, &stats) == 0, "get_stats");
    CHECK(stats.pages_received == saved, "the plugin counted %llu pages, the host gave %llu",
          (unsigned long long)stats.pages_received, (unsigned long long)saved);
    CHECK(stats.peak_pinned_bytes <= BUDGET, "engine peak %llu above the budget", (unsigned long long)stats.peak_pinned_bytes);
    CHECK(atomic_load(&peak_locked) <= (long)BUDGET, "VmLck peaked at %ld, above the budget %u", atomic_load(&peak_locked), BUDGET);

    for (int i = 0; i < BLOCKS; i++) {
        for (size_t index = 0; index < sizes[i] / PAGE; index++) {
            CHECK(memcmp(source[i] + index * PAGE, destination[i] + index * PAGE, PAGE) == 0,
                  "block %s page %zu differs after the migration", names[i], index);
        }
    }
    ops->destroy(ctx);
    command stop = {EXIT_COMMAND, 0};
    CHECK(write(to_child[1], &stop, sizeof(stop)) == sizeof(stop), "stop");
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the destination failed");
    CHECK(locked_bytes() == 0, "source: %ld bytes locked after destroy", locked_bytes());
    printf("abi_transfer: %llu pages through the plugin, %llu bytes written, peak VmLck %ld (budget %u), "
           "total %.0f ms, final pass %.1f ms; memories equal\n",
           (unsigned long long)saved, (unsigned long long)stats.bytes_written, atomic_load(&peak_locked), BUDGET,
           (finished - started) * 1e3, (finished - paused) * 1e3);
    return 0;
}
