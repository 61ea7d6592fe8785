/* Starting the APs for a kernel that has its own ap_main (ap.S calls it), as smp.c does. */
#include "guests/pc/pc.h"

#define ICR_INIT         0x500
#define ICR_STARTUP      0x600
#define ICR_ASSERT       0x4000
#define ICR_LEVEL        0x8000
#define ICR_ALL_BUT_SELF 0xc0000
#define DELAY_10MS       10000000 /* LAPIC ticks at divide 1 (1 GHz) */
#define DELAY_200US      200000

void ap_start_all(void)
{
	/* Linker symbols around one section: compare them as addresses. */
	memcpy((void *)AP_TRAMP_BASE, ap_tramp_start,
	       (size_t)((u64)ap_tramp_end - (u64)ap_tramp_start));
	lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	lapic_delay(DELAY_10MS);
	for (int i = 0; i < 2; i++) {
		lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_STARTUP | (AP_TRAMP_BASE >> 12));
		lapic_delay(DELAY_200US);
	}
}
