#define _GNU_SOURCE
#include "host.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void host_log(void *opaque, int level, const char *message)
{
    test_host *host = opaque;
    if (host->quiet && level > RDMA_CS_LOG_WARN) {
        return;
    }
    static const char *names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "[%s] %s: %s\n", host->role, level >= 0 && level <= 3 ? names[level] : "?", message);
}

static int host_should_abort(void *opaque)
{
    return ((test_host *)opaque)->abort;
}

const rdma_cs_plugin_ops *load_plugin(uint32_t abi_version)
{
    const char *path = getenv("RDMA_CS_PLUGIN");
    if (path == NULL || path[0] == '\0') {
        path = RDMA_CS_PLUGIN_PATH;
    }
    void *shim = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK(shim != NULL, "cannot load %s: %s", path, dlerror());
    rdma_cs_plugin_query_func *query = (rdma_cs_plugin_query_func *)dlsym(shim, RDMA_CS_PLUGIN_QUERY_SYMBOL);
    CHECK(query != NULL, "%s does not export %s", path, RDMA_CS_PLUGIN_QUERY_SYMBOL);
    return query(abi_version);
}

void host_init(test_host *host, const char *role)
{
    memset(host, 0, sizeof(*host));
    host->role = role;
    host->api.struct_size = sizeof(host->api);
    host->api.abi_version = RDMA_CS_ABI_VERSION;
    host->api.opaque = host;
    host->api.log = host_log;
    host->api.should_abort = host_should_abort;
}

rdma_cs_config make_config(uint32_t role, const char *port, const char *options)
{
    rdma_cs_config config = {
        .struct_size = sizeof(config),
        .role = role,
        .host = "127.0.0.1",
        .port = port,
        .options = options,
        .target_page_size = 4096,
    };
    return config;
}

rdma_cs_block ram_block(const char *name, void *host, uint64_t length)
{
    rdma_cs_block block = {.idstr = name, .host = host, .used_length = length, .max_length = length, .page_size = 4096, .fd = -1};
    return block;
}

void *open_source(const rdma_cs_plugin_ops *ops, test_host *host, const char *options, const rdma_cs_block *blocks, uint32_t count)
{
    rdma_cs_config config = make_config(RDMA_CS_ROLE_SOURCE, "4444", options);
    void *ctx = NULL;
    CHECK(ops->create(&host->api, &config, &ctx) == 0, "%s: create", host->role);
    uint8_t blob[RDMA_CS_MAX_BLOB];
    uint32_t blob_length = sizeof(blob);
    CHECK(ops->src_setup(ctx, blocks, count, blob, &blob_length) == 0, "%s: src_setup", host->role);
    return ctx;
}

void *open_destination(const rdma_cs_plugin_ops *ops, test_host *host, const char *options, const rdma_cs_block *blocks, uint32_t count)
{
    rdma_cs_config config = make_config(RDMA_CS_ROLE_DEST, "4444", options);
    void *ctx = NULL;
    CHECK(ops->create(&host->api, &config, &ctx) == 0, "%s: create", host->role);
    CHECK(ops->dst_setup(ctx, blocks, count, NULL, 0) == 0, "%s: dst_setup", host->role);
    return ctx;
}

void *ram_alloc(size_t bytes, int shared)
{
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
    CHECK(memory != MAP_FAILED, "mmap of %zu bytes failed", bytes);
    madvise(memory, bytes, MADV_HUGEPAGE);
    memset(memory, 0, bytes);
    return memory;
}

long locked_bytes(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    CHECK(status != NULL, "cannot open /proc/self/status");
    char line[256];
    long kilobytes = -1;
    while (fgets(line, sizeof(line), status) != NULL) {
        if (sscanf(line, "VmLck: %ld kB", &kilobytes) == 1) {
            break;
        }
    }
    fclose(status);
    CHECK(kilobytes >= 0, "no VmLck in /proc/self/status");
    return kilobytes * 1024;
}

int free_port(void)
{
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof(address);
    CHECK(bind(probe, (struct sockaddr *)&address, sizeof(address)) == 0, "bind");
    CHECK(getsockname(probe, (struct sockaddr *)&address, &length) == 0, "getsockname");
    close(probe);
    return ntohs(address.sin_port);
}

double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec * 1e-9;
}
