/*
 * Ending a run under an emulator: Bochs stops on the string "Shutdown" written to port 0x8900,
 * QEMU on a write to isa-debug-exit at 0xf4 (exit status (v << 1) | 1). On real hardware
 * neither exists and the CPU halts.
 */
#ifndef EPTVISOR_DRIVERS_EXITPORT_H
#define EPTVISOR_DRIVERS_EXITPORT_H

#include "types.h"

#define BOCHS_SHUTDOWN_PORT  0x8900
#define QEMU_DEBUG_EXIT_PORT 0xf4
#define QEMU_DEBUG_EXIT_CODE 0x31

NORETURN void exitport_shutdown(void);

#endif
