/*
 * CPUID filter (see cpuid.h). The rule: pass the host through, except what a guest would
 * use and this hypervisor cannot back — VMX itself, the x2APIC and TSC-deadline modes of an
 * xAPIC-only virtual APIC, XSAVE and everything whose state needs it (XSETBV is not emulated,
 * so AVX, AVX-512, AMX, CET cannot be enabled), MONITOR/MWAIT, and MSR-based features
 * whose MSRs the guest does not get (thermal, debug store, PMU, RDT, PT, SGX).
 * RDTSCP and RDPID are shown where the VMX control "enable RDTSCP" lets them run (TSC_AUX is
 * then per vCPU: pc/exit.c). PKU is hidden by default although RDPKRU/WRPKRU and CR4.PKE
 * need no XSAVE: PKRU is XSAVE state component 9, no CPU has PKU without it, and Linux
 * assumes it (cpuid-deps.c makes PKU depend on XSAVE; with PKU and OSPKE but no PKRU
 * component, kernels with the 2024 signal-frame PKRU change WARN in get_xsave_addr_user and
 * hang at boot, fixed by "x86/pkeys: Add quirk to disable PKU when XFEATURE_PKRU is
 * missing", 2025). guest_pku=on (a row's .pku) offers it, with OSPKE as the guest's CR4.PKE
 * and PKRU the vCPU's own (pc/exit.c, pc_msr_reset_hw).
 */
#include "devices/cpuid.h"
#include "lib.h"

#define CPUID_1_ECX_HYPERVISOR BIT(31)
#define CPUID_1_EDX_HTT        BIT(28)
#define TOPO_LEVEL_SMT         1
#define TOPO_LEVEL_CORE        2

static const struct cpuid_regs4 zero;

/* Bits needed to number n CPUs: the x2APIC-ID shift of a level holding n of them. */
static u32 order_base_2(u32 n)
{
	u32 bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

static struct cpuid_regs4 leaf_1(struct cpuid_regs4 r, const struct cpuid_guest *g)
{
	r.ecx &= ~(u32)CPUID_1_ECX_HIDDEN;
	r.ecx |= (u32)CPUID_1_ECX_HYPERVISOR;
	r.edx &= ~(u32)CPUID_1_EDX_HIDDEN;
	/* EBX: [31:24] initial APIC ID, [23:16] logical processors per package. */
	r.ebx = (r.ebx & 0xffff) | (g->apic_id << 24) | ((g->ncpus & 0xff) << 16);
	if (g->ncpus > 1)
		r.edx |= (u32)CPUID_1_EDX_HTT;
	else
		r.edx &= ~(u32)CPUID_1_EDX_HTT;
	return r;
}

/* Leaf 7: subleaf 0's feature flags, filtered; EAX (the last subleaf) says there is no
 * other subleaf, since those list AVX-VNNI, AMX and other XSAVE-state features. */
static struct cpuid_regs4 leaf_7(u32 subleaf, struct cpuid_regs4 r, const struct cpuid_guest *g)
{
	if (subleaf != 0)
		return zero;
	r.eax = 0;
	r.ebx &= ~(u32)CPUID_7_EBX_HIDDEN;
	r.ecx &= ~(u32)CPUID_7_ECX_HIDDEN;
	if (!g->rdtscp)
		r.ecx &= ~(u32)CPUID_7_ECX_RDPID;
	/* OSPKE is the guest's CR4.PKE, not the host's. */
	r.ecx &= ~(u32)CPUID_7_ECX_OSPKE;
	if (!g->pku)
		r.ecx &= ~(u32)CPUID_7_ECX_PKU;
	if ((r.ecx & CPUID_7_ECX_PKU) && g->pke)
		r.ecx |= (u32)CPUID_7_ECX_OSPKE;
	r.edx &= ~(u32)CPUID_7_EDX_HIDDEN;
	return r;
}

/* Leaves 0xb and 0x1f: one package of ncpus cores with one thread each. Subleaf 0 is the
 * SMT level (older Linux insists the first level is SMT), subleaf 1 the core level, then
 * the invalid level that ends the list. EDX is the x2APIC ID at every subleaf. */
static struct cpuid_regs4 leaf_topology(u32 subleaf, const struct cpuid_guest *g)
{
	struct cpuid_regs4 r = { 0, 0, subleaf & 0xff, g->apic_id };

	if (subleaf == 0) {
		r.ebx = 1;
		r.ecx |= TOPO_LEVEL_SMT << 8;
	} else if (subleaf == 1) {
		r.eax = order_base_2(g->ncpus);
		r.ebx = g->ncpus;
		r.ecx |= TOPO_LEVEL_CORE << 8;
	}
	return r;
}

/* eptvisor's own: the highest leaf of its block and the signature "eptvisor"; the next
 * leaf: no paravirtual features of its own. */
static struct cpuid_regs4 leaf_eptvisor(u32 leaf, u32 base)
{
	struct cpuid_regs4 r = zero;

	if (leaf == base) {
		r.eax = base + 1;
		memcpy(&r.ebx, "eptv", 4);
		memcpy(&r.ecx, "isor", 4);
	}
	return r;
}

/* 0x40000000-0x400001ff: eptvisor's leaves at 0x40000000; or, with KVM's interface, KVM's
 * there (signature, then KVM_FEATURE_ASYNC_PF and _ASYNC_PF_INT: cpuid.rst) and eptvisor's
 * at 0x40000100. The rest of the range is empty. */
static struct cpuid_regs4 leaf_hypervisor(u32 leaf, const struct cpuid_guest *g)
{
	struct cpuid_regs4 r = zero;

	if (!g->kvm_pv)
		return leaf < CPUID_HV_KVM_OWN ? leaf_eptvisor(leaf, CPUID_HV_BASE) : r;
	if (leaf >= CPUID_HV_KVM_OWN)
		return leaf_eptvisor(leaf, CPUID_HV_KVM_OWN);
	if (leaf == CPUID_HV_BASE) {
		r.eax = CPUID_HV_BASE + 1;
		r.ebx = CPUID_KVM_SIG_EBX;
		r.ecx = CPUID_KVM_SIG_ECX;
		r.edx = CPUID_KVM_SIG_EDX;
	} else if (leaf == CPUID_HV_BASE + 1) {
		r.eax = BIT(4) | BIT(14); /* KVM_FEATURE_ASYNC_PF, KVM_FEATURE_ASYNC_PF_INT */
	}
	return r;
}

/* The best approximation p/q of num/den with p <= max_p and q <= max_q (continued
 * fractions: the last convergent that fits, or a better semiconvergent after it). */
static void best_ratio(u64 num, u64 den, u64 max_p, u64 max_q, u64 *p, u64 *q)
{
	u64 p0 = 0, q0 = 1, p1 = 1, q1 = 0; /* convergents k-2 and k-1 */

	while (den) {
		u64 a = num / den, t, r = num % den;

		if (a * p1 + p0 > max_p || a * q1 + q0 > max_q) {
			/* The largest semiconvergent that fits, when it beats p1/q1. */
			t = MIN(p1 ? (max_p - p0) / p1 : a, q1 ? (max_q - q0) / q1 : a);
			if (2 * t >= a && t) {
				p1 = t * p1 + p0;
				q1 = t * q1 + q0;
			}
			break;
		}
		t = a * p1 + p0, p0 = p1, p1 = t;
		t = a * q1 + q0, q0 = q1, q1 = t;
		num = den, den = r;
	}
	*p = p1, *q = q1;
}

/* 0x15 (TSC / crystal ratio and the crystal's rate) and 0x16 (base and maximum MHz): the
 * TSC rate the guest really gets, which is the host's as measured at boot (the guest's TSC
 * is the host's plus an offset). An emulator's CPU model can claim GHz while its TSC runs at
 * a few MHz of emulated time; a kernel that believed the model would scale every delay by
 * the difference. The crystal is the local APIC timer's clock (SDM 10.5.4: with leaf 0x15
 * enumerated, the timer counts the core crystal clock; Linux sets its APIC timer period from
 * it and skips calibration), so ECX is that clock and EBX/EAX the TSC's ratio to it, exact
 * where the bounds allow. Linux multiplies ECX / 1000 by EBX in 32 bits, so EBX stays below
 * 2^32 / (ECX / 1000). Unknown rates: the host's answer. */
static struct cpuid_regs4 leaf_tsc(u32 leaf, struct cpuid_regs4 host, const struct cpuid_guest *g)
{
	struct cpuid_regs4 r = zero;
	u64 tsc_khz = g->tsc_hz / 1000, crystal_khz = g->crystal_hz / 1000, num, den;
	u32 mhz = (u32)((g->tsc_hz + 500000) / 1000000);

	if (!tsc_khz || !crystal_khz || g->crystal_hz > 0xffffffffULL || mhz > 0xffff)
		return host;
	if (leaf == 0x15) {
		best_ratio(tsc_khz, crystal_khz, 0xffffffffULL / crystal_khz, 0xffffffffULL, &num,
		           &den);
		if (!num || !den || den > 0xffffffffULL)
			return host;
		r.eax = (u32)den; /* TSC = crystal * EBX / EAX, crystal = ECX Hz */
		r.ebx = (u32)num;
		r.ecx = (u32)g->crystal_hz;
	} else {
		r.eax = mhz; /* base */
		r.ebx = mhz; /* maximum */
	}
	return r;
}

struct cpuid_regs4 cpuid_guest_view(u32 leaf, u32 subleaf, struct cpuid_regs4 host,
                                    const struct cpuid_guest *g)
{
	if (leaf >= CPUID_HV_BASE && leaf <= CPUID_HV_LAST)
		return leaf_hypervisor(leaf, g);
	switch (leaf) {
	case 0x1:
		return leaf_1(host, g);
	case 0x7:
		return leaf_7(subleaf, host, g);
	case 0xb:
	case 0x1f:
		return leaf_topology(subleaf, g);
	case 0x15:
	case 0x16:
		return leaf_tsc(leaf, host, g);
	case 0x6:  /* thermal and power management: its MSRs are not offered */
	case 0xa:  /* architectural PMU: not virtualised */
	case 0xd:  /* XSAVE state components: XSAVE is hidden */
	case 0xf:  /* RDT monitoring */
	case 0x10: /* RDT allocation */
	case 0x12: /* SGX */
	case 0x14: /* processor trace */
	case 0x19: /* key locker */
	case 0x1d: /* AMX tiles */
	case 0x1e: /* AMX TMUL */
		return zero;
	case 0x80000001:
		host.ecx &= ~(u32)CPUID_80000001_ECX_HIDDEN;
		host.edx &= ~(u32)CPUID_80000001_EDX_HIDDEN;
		if (!g->rdtscp)
			host.edx &= ~(u32)CPUID_80000001_EDX_RDTSCP;
		return host;
	default:
		return host;
	}
}
