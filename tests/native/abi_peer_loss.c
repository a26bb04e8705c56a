/* The destination process dies in the middle of a migration: the source's next src_iter_end fails with a
 * negative errno within the timeout (no hang, no crash), the host goes on, and destroy leaves nothing locked.
 * Also: a host that asks to abort (should_abort) gets -ECANCELED from a source still waiting for its peer. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"

#define PAGE 4096u
#define SIZE (32u << 20)

static void run_destination(uint8_t *ram, const char *options, int ready)
{
    test_host host;
    host_init(&host, "destination");
    host.quiet = 1;
    const rdma_cs_plugin_ops *ops = load_plugin(RDMA_CS_ABI_VERSION);
    CHECK(ops != NULL, "destination: query");
    rdma_cs_block block = ram_block("pc.ram", ram, SIZE);
    open_destination(ops, &host, options, &block, 1);
    CHECK(write(ready, "r", 1) == 1, "destination: ready"); /* as migrate-incoming has returned */
    for (;;) {
        pause(); /* until killed */
    }
}

static void save_all(const rdma_cs_plugin_ops *ops, void *ctx, uint8_t *ram)
{
    for (uint64_t offset = 0; offset < SIZE; offset += PAGE) {
        ram[offset]++;
        CHECK(ops->src_save_page(ctx, 0, offset, PAGE, ram + offset) == 0, "src_save_page");
    }
}

static void *abort_later(void *opaque)
{
    usleep(300 * 1000);
    ((test_host *)opaque)->abort = 1;
    return NULL;
}

int main(void)
{
    char options[256];
    snprintf(options, sizeof(options), "token=t,control-port=%d,provider=tcp,budget=4M,timeout-ms=20000", free_port());
    uint8_t *source = ram_alloc(SIZE, 0);
    uint8_t *destination = ram_alloc(SIZE, 1);
    int ready[2];
    CHECK(pipe(ready) == 0, "pipe");
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing parent must not leave it waiting */
        run_destination(destination, options, ready[1]);
    }
    char listening;
    CHECK(read(ready[0], &listening, 1) == 1, "the destination never listened");

    test_host host;
    host_init(&host, "source");
    host.quiet = 1;
    const rdma_cs_plugin_ops *ops = load_plugin(RDMA_CS_ABI_VERSION);
    CHECK(ops != NULL, "source: query");
    rdma_cs_block block = ram_block("pc.ram", source, SIZE);
    void *ctx = open_source(ops, &host, options, &block, 1);
    CHECK(ops->src_wait_ready(ctx) == 0, "source: src_wait_ready");
    save_all(ops, ctx, source);
    CHECK(ops->src_iter_end(ctx, RDMA_CS_PHASE_ROUND, 1) == 0, "round 1");

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    save_all(ops, ctx, source);
    double start = now_seconds();
    int result = ops->src_iter_end(ctx, RDMA_CS_PHASE_ROUND, 2);
    double took = now_seconds() - start;
    CHECK(result < 0, "src_iter_end after the destination died returned %d", result);
    CHECK(took < 20.0, "src_iter_end took %.1f s to notice", took);
    CHECK(ops->src_save_page(ctx, 0, 0, PAGE, source) <= 0, "save_page after the failure must not crash");
    ops->destroy(ctx);
    CHECK(locked_bytes() == 0, "%ld bytes still locked after destroy", locked_bytes());
    printf("abi_peer_loss: destination killed; src_iter_end = %d (%s) after %.0f ms; nothing locked\n", result, strerror(-result), took * 1e3);

    /* Nobody listens on the control port (destinations listen from migrate-incoming on): an error at once. */
    char nobody[256];
    snprintf(nobody, sizeof(nobody), "token=t,control-port=%d,provider=tcp,timeout-ms=20000", free_port());
    ctx = open_source(ops, &host, nobody, &block, 1);
    start = now_seconds();
    result = ops->src_wait_ready(ctx);
    took = now_seconds() - start;
    CHECK(result < 0 && result != -ECANCELED, "src_wait_ready with nobody listening returned %d", result);
    CHECK(took < 2.0, "src_wait_ready took %.1f s to find nobody listening", took);
    ops->destroy(ctx);

    /* A destination that takes the connection and never answers: the host aborts, the wait ends with -ECANCELED. */
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof(address);
    CHECK(bind(silent, (struct sockaddr *)&address, sizeof(address)) == 0 && listen(silent, 4) == 0, "silent listener");
    CHECK(getsockname(silent, (struct sockaddr *)&address, &length) == 0, "getsockname");
    char lonely[256];
    snprintf(lonely, sizeof(lonely), "token=t,control-port=%d,provider=tcp,timeout-ms=20000", ntohs(address.sin_port));
    ctx = open_source(ops, &host, lonely, &block, 1);
    pthread_t aborter;
    pthread_create(&aborter, NULL, abort_later, &host);
    start = now_seconds();
    result = ops->src_wait_ready(ctx);
    took = now_seconds() - start;
    pthread_join(aborter, NULL);
    CHECK(result == -ECANCELED, "src_wait_ready with an aborting host returned %d", result);
    CHECK(took < 5.0, "the abort took %.1f s to be noticed", took);
    ops->destroy(ctx);
    close(silent);
    CHECK(locked_bytes() == 0, "%ld bytes still locked", locked_bytes());
    printf("abi_peer_loss: host abort noticed after %.0f ms\n", took * 1e3);
    return 0;
}
