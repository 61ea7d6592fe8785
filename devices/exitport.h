/*
 * The ports through which a guest asks to end its VM, as QEMU's PC machine offers them:
 *   0xf4-0xf7  isa-debug-exit (iobase=0xf4,iosize=4): writing v makes QEMU exit with status
 *              (v << 1) | 1, so test kernels report pass/fail through it.
 *   0x8900     the Bochs BIOS shutdown port: the bytes "Shutdown" written one by one.
 * Each helper only recognises the request and describes it; struct pcio records the exit.
 */
#ifndef EPTVISOR_DEVICES_EXITPORT_H
#define EPTVISOR_DEVICES_EXITPORT_H

#include "types.h"

#define DEBUG_EXIT_PORT 0xf4
#define DEBUG_EXIT_SIZE 4
#define SHUTDOWN_PORT   0x8900

struct shutdown_port {
	u8 matched; /* how many bytes of "Shutdown" have been written in sequence */
};

/* The status QEMU's process would exit with after the guest wrote v to isa-debug-exit
 * (the shell sees it modulo 256). */
static inline u32 debug_exit_status(u32 v)
{
	return (v << 1) | 1;
}

/* Describe a debug-exit write of v into how[n], e.g.
 * "isa-debug-exit value 0x1 (QEMU exits with status 3)". */
void debug_exit_describe(u32 v, char *how, size_t n);

/* Feed one byte written to port 0x8900. true when it completes "Shutdown"; a byte that does
 * not continue the match restarts it (and may itself begin a new "Shutdown"). */
bool shutdown_port_write(struct shutdown_port *s, u8 byte);

#endif
