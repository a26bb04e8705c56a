/* SPDX-License-Identifier: MIT
 *
 * Loading libfabric ahead of the first migration, keeping the host's signal handlers (see fabric-preload.c).
 */
#ifndef RDMACS_FABRIC_PRELOAD_H
#define RDMACS_FABRIC_PRELOAD_H

/* Starts loading libfabric on a thread of its own, once per process. Call it after the engine's runtime started. */
void fabric_preload_start(void);

/* Waits until that loading is done, at most `seconds`; 1 when done (or never started), 0 when the time ran out. */
int fabric_preload_wait(int seconds);

#endif
