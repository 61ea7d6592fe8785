/*
 * apf=sim: a stand-in for a hypervisor's async page faults, inside the pcapf kernel, so that
 * its scheduler's block / wake / early-ready paths run under QEMU TCG too (which has no KVM
 * leaf). The buffer's pages start not present in the kernel's own page tables (the 2 MiB
 * pages over it become 4 KiB page tables); a #PF on one of them queues a "fetch" with the
 * next token, due SIM_LATENCY timer ticks later, and is taken as a not-present #PF with that
 * token. On the timer tick a due fetch maps its page, writes its token to the area and sends
 * a self-IPI on the page-ready vector, one at a time: the next only after the guest's ACK.
 * The contents are whatever RAM holds (no store), so prefilled=1 does not apply.
 */
#include "guests/pc/apf.h"

#define SIM_MAX_PT    8 /* 4 KiB page tables: the buffer may span up to 8 2-MiB pages */
#define SIM_MAX_FETCH 64
#define SIM_LATENCY   3       /* timer ticks (SCHED_SLICE each) from a fault to its ready */
#define APIC_ICR_SELF 0x40000 /* destination shorthand: self */
#define PTE_P         0x1ull
#define PTE_W         0x2ull
#define PDE_PS        0x80ull
#define ADDR_MASK     0x000ffffffffff000ull

struct fetch {
	u32 token;
	u64 gpa;
	u64 due; /* tick */
};

bool apf_sim;
static u64 pts[SIM_MAX_PT][512] __attribute__((aligned(4096)));
static struct fetch fetches[SIM_MAX_FETCH];
static int nfetches;
static u64 sim_buf, sim_end, ticks;
static u32 next_token = 1;
static bool ready_pending; /* a ready was sent and not yet ACKed */

static u64 *pde_of(u64 gpa)
{
	u64 cr3, *pml4, *pdpt, *pd;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (u64 *)(cr3 & ADDR_MASK);
	pdpt = (u64 *)(pml4[0] & ADDR_MASK);
	pd = (u64 *)(pdpt[(gpa >> 30) & 511] & ADDR_MASK);
	return &pd[(gpa >> 21) & 511];
}

static u64 *pte_of(u64 gpa)
{
	return &((u64 *)(*pde_of(gpa) & ADDR_MASK))[(gpa >> 12) & 511];
}

static void invlpg(u64 va)
{
	__asm__ volatile("invlpg (%0)" ::"r"(va) : "memory");
}

bool apfsim_init(u64 buf, u64 pages)
{
	u64 first = buf & ~(SZ_2M - 1), end = buf + pages * PAGE_SIZE;
	int n = 0;

	if ((end - first + SZ_2M - 1) / SZ_2M > SIM_MAX_PT)
		return false;
	for (u64 r = first; r < end; r += SZ_2M, n++) {
		u64 *pde = pde_of(r);

		for (u64 i = 0; i < 512; i++) {
			u64 gpa = r + i * PAGE_SIZE;
			bool absent = gpa >= buf && gpa < end;

			pts[n][i] = gpa | PTE_W | (absent ? 0 : PTE_P);
		}
		*pde = (u64)pts[n] | PTE_P | PTE_W; /* a 4 KiB table instead of the 2 MiB page */
	}
	sim_buf = buf;
	sim_end = end;
	/* Reload CR3: the TLB may still hold the 2 MiB translations of the buffer. */
	__asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
	apf_sim = true;
	return true;
}

bool apfsim_fault(u64 cr2, u32 *token)
{
	u64 gpa = cr2 & PAGE_MASK;

	if (cr2 < sim_buf || cr2 >= sim_end || (*pte_of(gpa) & PTE_P))
		return false;
	for (int i = 0; i < nfetches; i++)
		if (fetches[i].gpa == gpa) {
			*token = fetches[i].token; /* in flight: wait for the same ready */
			return true;
		}
	if (nfetches == SIM_MAX_FETCH)
		return false;
	*token = next_token++;
	fetches[nfetches++] = (struct fetch){ *token, gpa, ticks + SIM_LATENCY };
	return true;
}

void apfsim_tick(struct kvm_apf_area *area)
{
	ticks++;
	if (ready_pending)
		return;
	for (int i = 0; i < nfetches; i++) {
		if (fetches[i].due > ticks)
			continue;
		*pte_of(fetches[i].gpa) |= PTE_P;
		invlpg(fetches[i].gpa); /* not needed (not-present entries are not cached) */
		area->token = fetches[i].token;
		fetches[i] = fetches[--nfetches];
		ready_pending = true;
		lapic_send_ipi(0, APIC_ICR_SELF | PCAPF_VECTOR);
		return;
	}
}

void apfsim_ack(void)
{
	ready_pending = false;
}
