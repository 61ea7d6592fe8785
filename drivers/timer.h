/*
 * Time: the TSC, calibrated once against the PIT. Under Bochs with `clock: sync=none` the
 * TSC follows executed instructions, so these are emulated, repeatable durations.
 */
#ifndef EPTVISOR_DRIVERS_TIMER_H
#define EPTVISOR_DRIVERS_TIMER_H

#include "types.h"

extern u64 tsc_hz;

void timer_calibrate(void);
void udelay(u64 us);
/* TSC cycles as microseconds (0 before calibration, or below 1 MHz). */
u64 tsc_to_us(u64 cycles);

#endif
