/*
 * The 16550 UART on COM1: eptvisor's console. Every line the hypervisor and its guests print
 * goes out here; the test harness reads nothing else. What arrives on it is the console
 * owner guest's input (pc/console.c).
 */
#ifndef EPTVISOR_DRIVERS_SERIAL_H
#define EPTVISOR_DRIVERS_SERIAL_H

#include "types.h"

#define COM1_PORT 0x3f8

void serial_init(void);
void serial_write(const char *s, size_t n);
/* Wait until the transmitter is empty (LSR bit 6), so nothing is lost at shutdown. */
void serial_drain(void);
/* One received byte (LSR bit 0, then RBR), or -1 when none is waiting. One caller at a time:
 * the console owner's vCPU 0 (pc/console.c). */
int serial_getc(void);

#endif
