/*
 * memcheck-init: the init program (PID 1) of the Linux test guest, a real kernel booted with an initramfs that holds
 * nothing but this. It maps an anonymous region and, sweep after sweep, checks every page against what the previous
 * sweep left there and rewrites it, reporting each sweep and every corrupted page on the console (the serial port):
 * a page lost, stale or torn by a migration shows up in the guest's own words.
 *
 * The pages of the region, by index i, are of three kinds, so that the guest's dirty memory looks like a real one's:
 *   i % 5 == 4              never touched: must always read as zero
 *   i % 7 == 3 (otherwise)  zero after even sweeps, data after odd ones: pages that turn zero and back
 *   every other page        new data every sweep
 * A data word holds its sweep, page and word index, so a wrong value says where it came from.
 *
 * Settings come from the kernel command line (the kernel hands unknown name=value words to init as environment):
 *   memcheck_mib=N    the region's size in MiB (default 256)
 *   memcheck_order=random   rewrite the pages in a shuffled order, a new one each sweep (default: ascending)
 *
 * Console lines (the tests and benchmarks read them):
 *   memcheck: ready: N MiB, P pages (U never touched, Z turning zero)
 *   memcheck: sweep S clean (P pages checked) in T ms
 *   memcheck: CORRUPT page I word W in sweep S: expected X, found Y
 *   memcheck: sweep S found C corrupted page(s)
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096u
#define WORDS (PAGE_SIZE / sizeof(uint64_t))
#define MAX_REPORTED_PER_SWEEP 16

enum page_kind { DATA, TURNS_ZERO, UNTOUCHED };

static enum page_kind kind_of(uint64_t page)
{
    if (page % 5 == 4) {
        return UNTOUCHED;
    }
    return page % 7 == 3 ? TURNS_ZERO : DATA;
}

/* What word w of the page holds after the sweep (0: before the first sweep). */
static uint64_t expected_word(uint64_t page, uint64_t sweep, unsigned w)
{
    enum page_kind kind = kind_of(page);

    if (sweep == 0 || kind == UNTOUCHED || (kind == TURNS_ZERO && sweep % 2 == 0)) {
        return 0;
    }
    /* Never zero: the top bit is set. */
    return (1ull << 63) | (sweep << 40) | (page << 9) | w;
}

static void say(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *format, ...)
{
    char line[256];
    va_list args;
    int length;

    va_start(args, format);
    length = vsnprintf(line, sizeof(line), format, args);
    va_end(args);
    if (length > 0) {
        /* The console may be slow; a short write is finished, never dropped. */
        for (int done = 0; done < length;) {
            ssize_t n = write(STDOUT_FILENO, line + done, (size_t)length - (size_t)done);
            if (n <= 0) {
                return;
            }
            done += (int)n;
        }
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t setting(const char *name, uint64_t fallback)
{
    const char *value = getenv(name);

    return value && *value ? strtoull(value, NULL, 10) : fallback;
}

/* Checks one page against the previous sweep; returns 1 when it was wrong (and says where). */
static int check_page(const uint64_t *words, uint64_t page, uint64_t sweep, uint64_t *reported)
{
    for (unsigned w = 0; w < WORDS; w++) {
        uint64_t expected = expected_word(page, sweep - 1, w);

        if (words[w] != expected) {
            if ((*reported)++ < MAX_REPORTED_PER_SWEEP) {
                say("memcheck: CORRUPT page %llu word %u in sweep %llu: expected %016llx, found %016llx\n",
                    (unsigned long long)page, w, (unsigned long long)sweep,
                    (unsigned long long)expected, (unsigned long long)words[w]);
            }
            return 1;
        }
    }
    return 0;
}

static void write_page(uint64_t *words, uint64_t page, uint64_t sweep)
{
    enum page_kind kind = kind_of(page);

    if (kind == UNTOUCHED) {
        return;
    }
    if (kind == TURNS_ZERO && sweep % 2 == 0) {
        memset(words, 0, PAGE_SIZE);
        return;
    }
    for (unsigned w = 0; w < WORDS; w++) {
        words[w] = expected_word(page, sweep, w);
    }
}

/* A new order for the sweep: Fisher-Yates with a fixed-seed xorshift, so that runs can be compared. */
static void shuffle(uint64_t *order, uint64_t pages, uint64_t *state)
{
    for (uint64_t i = pages - 1; i > 0; i--) {
        uint64_t j;

        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        j = *state % (i + 1);
        uint64_t swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
}

int main(void)
{
    uint64_t mib = setting("memcheck_mib", 256);
    const char *order_name = getenv("memcheck_order");
    int random_order = order_name && strcmp(order_name, "random") == 0;
    uint64_t pages = mib * (1024 * 1024 / PAGE_SIZE);
    uint64_t untouched = 0, turns_zero = 0, state = 0x9e3779b97f4a7c15ull;
    uint64_t *order = NULL;
    uint8_t *region;

    region = mmap(NULL, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) {
        say("memcheck: cannot map %llu MiB\n", (unsigned long long)mib);
        for (;;) {
            pause(); /* init must not exit: the kernel would panic and the tests would learn nothing */
        }
    }
    if (random_order) {
        order = mmap(NULL, pages * sizeof(*order), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (order == MAP_FAILED) {
            say("memcheck: cannot map the page order\n");
            for (;;) {
                pause();
            }
        }
        for (uint64_t i = 0; i < pages; i++) {
            order[i] = i;
        }
    }
    for (uint64_t i = 0; i < pages; i++) {
        untouched += kind_of(i) == UNTOUCHED;
        turns_zero += kind_of(i) == TURNS_ZERO;
    }
    say("memcheck: ready: %llu MiB, %llu pages (%llu never touched, %llu turning zero), %s order\n",
        (unsigned long long)mib, (unsigned long long)pages, (unsigned long long)untouched,
        (unsigned long long)turns_zero, random_order ? "random" : "ascending");

    for (uint64_t sweep = 1;; sweep++) {
        uint64_t started = now_ms(), corrupted = 0, reported = 0;

        if (random_order) {
            shuffle(order, pages, &state);
        }
        for (uint64_t i = 0; i < pages; i++) {
            uint64_t page = random_order ? order[i] : i;
            uint64_t *words = (uint64_t *)(region + page * PAGE_SIZE);

            corrupted += check_page(words, page, sweep, &reported);
            write_page(words, page, sweep);
        }
        if (corrupted == 0) {
            say("memcheck: sweep %llu clean (%llu pages checked) in %llu ms\n", (unsigned long long)sweep,
                (unsigned long long)pages, (unsigned long long)(now_ms() - started));
        } else {
            say("memcheck: sweep %llu found %llu corrupted page(s)\n", (unsigned long long)sweep,
                (unsigned long long)corrupted);
        }
    }
}
