/*
 * The 16550 UART on COM1: eptvisor's console. Every line the hypervisor and its guests print
 * goes out here; the test harness reads nothing else.
 */
#ifndef EPTVISOR_DRIVERS_SERIAL_H
#define EPTVISOR_DRIVERS_SERIAL_H

#include "types.h"

#define COM1_PORT 0x3f8

void serial_init(void);
void serial_write(const char *s, size_t n);
/* Wait until the transmitter is empty (LSR bit 6), so nothing is lost at shutdown. */
void serial_drain(void);

#endif
