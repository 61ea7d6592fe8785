/* The local APIC (xAPIC, MMIO through the direct map): identity, EOI and IPIs. */
#ifndef EPTVISOR_ARCH_LAPIC_H
#define EPTVISOR_ARCH_LAPIC_H

#include "types.h"

void lapic_init(void);
u32 lapic_id(void);
void lapic_eoi(void);
void lapic_send_ipi(u32 apic_id, u8 vector);
/* An NMI: the kick that makes a CPU in guest mode exit whatever the guest's RFLAGS.IF
 * (Bochs 2.7 holds back fixed-vector interrupts from a guest running with IF = 0). */
void lapic_send_nmi(u32 apic_id);
/* INIT and STARTUP to every CPU but this one (SMP bring-up). */
void lapic_broadcast_init(void);
void lapic_broadcast_sipi(u8 page);
/* The timer in TSC-deadline mode, firing VEC_WAKE on this CPU at TSC value tsc (0: disarm).
 * Only when the CPU has the mode (lapic_has_deadline). */
bool lapic_has_deadline(void);
void lapic_arm_deadline(u64 tsc);

#endif
