/*
 * SMP bring-up the classic way: broadcast INIT, then SIPI twice, to all CPUs but self. Each AP
 * (ap.S → ap_main) records its APIC ID, counts itself in, and sends a fixed IPI (VEC_IPI) to
 * the BSP, in turn: AP number i sends only after the BSP has handled i IPIs, since IPIs of one
 * vector sent at once would merge in the BSP's IRR and could not be counted. The BSP waits in `sti;
 * hlt`, woken by those IPIs and by a periodic LAPIC timer that bounds the wait.
 */
#include "guests/pc/pc.h"

#define ICR_FIXED        0x000
#define ICR_INIT         0x500
#define ICR_STARTUP      0x600
#define ICR_ASSERT       0x4000
#define ICR_LEVEL        0x8000
#define ICR_ALL_BUT_SELF 0xc0000
#define DELAY_10MS       10000000 /* LAPIC ticks at divide 1: 1 ns each under QEMU */
#define DELAY_200US      200000
#define WATCHDOG_COUNT   1000000 /* divide 16: 16 ms per tick under QEMU */
#define WATCHDOG_TICKS   500
#define PING_TIMER_COUNT 20000 /* divide 16: 320 us per tick under QEMU */

bool smp_ap_ponger;
static u32 bsp_id;
static u32 ap_ids[MAX_CPUS];
static u32 aps_up;
static volatile u32 ipis_seen;
static volatile u32 watchdog_ticks;

static void on_ipi(void)
{
	ipis_seen++;
	lapic_eoi();
}

static void on_watchdog(void)
{
	watchdog_ticks++;
	lapic_eoi();
}

/* An AP, in long mode on its own stack: report in, then stop. */
void ap_main(u32 index)
{
	idt_load();
	lapic_enable();
	ap_ids[index] = lapic_id();
	/* Release: the BSP reads ap_ids[] after it sees the count. */
	__atomic_fetch_add(&aps_up, 1, __ATOMIC_RELEASE);
	while (ipis_seen != index)
		cpu_pause();
	lapic_send_ipi(bsp_id, ICR_FIXED | VEC_IPI);
	if (smp_ap_ponger)
		for (;;)
			sti_hlt(); /* answering pings (on_ping) */
	halt_forever();
}

/* On an AP: answer the BSP's ping. */
static void on_ping(void)
{
	lapic_eoi();
	lapic_send_ipi(bsp_id, ICR_FIXED | VEC_PONG);
}

static void send_init_sipi_sipi(void)
{
	lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	lapic_delay(DELAY_10MS);
	for (int i = 0; i < 2; i++) {
		lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_STARTUP | (AP_TRAMP_BASE >> 12));
		lapic_delay(DELAY_200US);
	}
}

static bool all_in(u32 naps)
{
	return __atomic_load_n(&aps_up, __ATOMIC_ACQUIRE) >= naps && ipis_seen >= naps;
}

static void sort_ids(u32 *ids, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
			u32 t = ids[j];

			ids[j] = ids[j - 1];
			ids[j - 1] = t;
		}
}

int smp_start(u32 ncpus, u32 *ids)
{
	u32 naps = ncpus - 1, up;

	bsp_id = lapic_id();
	ids[0] = bsp_id;
	if (naps == 0)
		return 1;
	/* Linker symbols around one section: compare them as addresses. */
	memcpy((void *)AP_TRAMP_BASE, ap_tramp_start,
	       (size_t)((u64)ap_tramp_end - (u64)ap_tramp_start));
	irq_set(VEC_IPI, on_ipi);
	irq_set(VEC_PING, on_ping);
	send_init_sipi_sipi();
	irq_set(VEC_TIMER, on_watchdog);
	lapic_timer_start(WATCHDOG_COUNT, true);
	while (!all_in(naps) && watchdog_ticks < WATCHDOG_TICKS)
		sti_hlt();
	cli();
	lapic_timer_stop();
	up = __atomic_load_n(&aps_up, __ATOMIC_ACQUIRE);
	for (u32 i = 0; i < up && i < MAX_CPUS - 1; i++)
		ids[1 + i] = ap_ids[i];
	sort_ids(ids, (int)(1 + up));
	return all_in(naps) ? (int)(1 + up) : -1;
}

static volatile u32 pongs, pong_ticks;

static void on_pong(void)
{
	pongs++;
	lapic_eoi();
}

static void on_pong_tick(void)
{
	pong_ticks++;
	lapic_eoi();
}

u32 smp_ping_pong(u32 ap, u32 rounds)
{
	u32 r;

	irq_set(VEC_PONG, on_pong);
	irq_set(VEC_TIMER, on_pong_tick);
	pongs = 0;
	lapic_timer_start(PING_TIMER_COUNT, true);
	for (r = 0; r < rounds; r++) {
		u32 t = pong_ticks;

		lapic_send_ipi(ap, ICR_FIXED | VEC_PING);
		while ((pongs <= r || pong_ticks == t) && pong_ticks - t < WATCHDOG_TICKS)
			sti_hlt();
		cli();
		if (pongs <= r)
			break;
	}
	lapic_timer_stop();
	return r;
}
