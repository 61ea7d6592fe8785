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

#endif
