/*
 * PC guests, part 3: the exits only PC guests take. The guest switches modes itself
 * (unrestricted guest): the hypervisor watches CR0.PG and CR4.PAE to keep EFER.LMA and the
 * IA-32e-mode-guest entry control in step (SDM Vol. 3C 25.3, 26.3.1.1), handles the MSRs
 * the MSR bitmap intercepts, emulates the port devices (devices/), and completes the APIC
 * accesses the CPU hands back (APIC-write exits after a register write, APIC-access exits
 * for registers it cannot virtualize, which need the guest's instruction decoded).
 */
#include "arch/cpu.h"
#include "devices/cpuid.h"
#include "devices/gwalk.h"
#include "devices/insn.h"
#include "devices/memsplit.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "pc/pc.h"
#include "vmx/exit.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"
#include "vmx/vmx_asm.h"

#define EXC_UD      6
#define EXC_GP      13
#define CR4_PSE     BIT(4)
#define MSR_TSC_AUX 0xc0000103
#define EFER_SCE    BIT(0)

/* ---- guest registers by x86 number ---------------------------------------------------- */

static u64 *gpr(struct vcpu *v, int n)
{
	struct guest_regs *r = &v->regs;
	/* cppcheck-suppress constVariable ; the caller writes the register through it */
	u64 *const map[16] = { &r->rax, &r->rcx, &r->rdx, &r->rbx, NULL,    &r->rbp,
		               &r->rsi, &r->rdi, &r->r8,  &r->r9,  &r->r10, &r->r11,
		               &r->r12, &r->r13, &r->r14, &r->r15 };

	return map[n & 15];
}

static u64 gpr_get(struct vcpu *v, int n)
{
	return n == 4 ? vmcs_read(GUEST_RSP) : *gpr(v, n);
}

/* Write `size` bytes of a register as the CPU does: 32-bit writes zero the upper half,
 * 8- and 16-bit writes merge. (8-bit AH..BH without REX are not distinguished.) */
static void gpr_set(struct vcpu *v, int n, int size, u64 val)
{
	u64 old = gpr_get(v, n), mask = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	u64 now = size >= 4 ? val & mask : (old & ~mask) | (val & mask);

	if (n == 4)
		vmcs_write(GUEST_RSP, now);
	else
		*gpr(v, n) = now;
}

static bool stop(struct vcpu *v, u32 reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool stop(struct vcpu *v, u32 reason, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	vm_stop(v->vm, reason, "vcpu %d: %s", v->id, why);
	printk("pc: VM '%s' stopped: vcpu %d: %s\n", v->vm->name, v->id, why);
	vcpu_dump(v, why);
	return false;
}

/* ---- control registers ---------------------------------------------------------------- */

static u64 guest_cr0(void)
{
	u64 mask = vmcs_read(CR0_GUEST_HOST_MASK);

	return (vmcs_read(GUEST_CR0) & ~mask) | (vmcs_read(CR0_READ_SHADOW) & mask);
}

static u64 guest_cr4(void)
{
	u64 mask = vmcs_read(CR4_GUEST_HOST_MASK);

	return (vmcs_read(GUEST_CR4) & ~mask) | (vmcs_read(CR4_READ_SHADOW) & mask);
}

/* PAE paging outside long mode: the CPU takes the PDPTEs from the VMCS at entry, so a CR0
 * or CR4 write we emulate must load them as the CPU would (SDM 4.4.1). */
static int load_pdptes(struct vcpu *v, u64 cr0, u64 cr4, u64 efer)
{
	u64 pdpte[4];

	if (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE) || (efer & EFER_LMA))
		return 0;
	if (vm_copy_from_guest(v->vm, pdpte, vmcs_read(GUEST_CR3) & ~0x1fULL, sizeof(pdpte)))
		return -EFAULT;
	vmcs_write(GUEST_PDPTE0, pdpte[0]);
	vmcs_write(GUEST_PDPTE1, pdpte[1]);
	vmcs_write(GUEST_PDPTE2, pdpte[2]);
	vmcs_write(GUEST_PDPTE3, pdpte[3]);
	return 0;
}

static void set_long_mode(bool on)
{
	u64 efer = vmcs_read(GUEST_IA32_EFER), entry = vmcs_read(ENTRY_CTLS);

	vmcs_write(GUEST_IA32_EFER, on ? efer | EFER_LMA : efer & ~EFER_LMA);
	vmcs_write(ENTRY_CTLS,
	           on ? entry | ENTRY_IA32E_MODE_GUEST : entry & ~ENTRY_IA32E_MODE_GUEST);
}

/* An emulated MOV to CR0/CR4 passed its checks and is in the VMCS: do the TLB flush the
 * instruction implies on bare metal (the CPU did not run it), and move past it. */
static bool cr_write_done(struct vcpu *v, bool flush)
{
	/* The guest's linear translations are tagged with its VPID: drop them as the MOV would. */
	if (flush)
		invvpid(INVVPID_SINGLE, v->vpid);
	pc_skip_instruction(v);
	return true;
}

/* A faulting MOV to CR0/CR4: #GP(0), and the register keeps its old value. */
static bool cr_write_gp(struct vcpu *v)
{
	pc_inject_exception(v, EXC_GP, true, 0);
	return true;
}

/* Would this MOV to CR0 (old -> val) #GP? The SDM's MOV CR conditions and 64-bit mode
 * consistency checks (Vol. 3A 9.8.5): reserved bits 63:32, PG without PE, NW without CD;
 * turning IA-32e mode on without PAE, from a code segment with L set or with a 16-bit TSS in
 * TR; clearing PG in 64-bit mode (leaving long mode goes through compatibility mode) or while
 * CR4.PCIDE is set. (CR4.CET, whose WP and PG checks remain, is never allowed to a guest.) */
static bool cr0_write_faults(u64 old, u64 val, u64 efer, u64 cr4)
{
	bool cs_l = vmcs_read(GUEST_CS_AR) & BIT(13);
	u32 tr_type = vmcs_read(GUEST_TR_AR) & 0xf;
	bool activate = !(old & CR0_PG) && (val & CR0_PG) && (efer & EFER_LME);

	if ((val >> 32) || ((val & CR0_PG) && !(val & CR0_PE)) ||
	    ((val & CR0_NW) && !(val & CR0_CD)))
		return true;
	if (activate && (!(cr4 & CR4_PAE) || cs_l || tr_type == 1 || tr_type == 3))
		return true;
	return !(val & CR0_PG) && (((efer & EFER_LMA) && cs_l) || (cr4 & CR4_PCIDE));
}

/* MOV to CR0 (SDM Vol. 3A 2.5, 9.8.5: IA-32e mode is active while paging is on with LME). */
static bool guest_write_cr0(struct vcpu *v, u64 val)
{
	u64 old = guest_cr0(), efer = vmcs_read(GUEST_IA32_EFER), cr4 = guest_cr4();
	bool lma = (val & CR0_PG) && (efer & EFER_LME);

	val |= CR0_ET;
	if (cr0_write_faults(old, val, efer, cr4))
		return cr_write_gp(v);
	/* Every check (the PDPTEs too) comes before any change, so a #GP changes nothing. */
	if (load_pdptes(v, val, cr4, lma ? EFER_LMA : 0))
		return cr_write_gp(v);
	set_long_mode(lma);
	vmcs_write(CR0_READ_SHADOW, val);
	vmcs_write(GUEST_CR0, pc_hw_cr0(val));
	return cr_write_done(v, (old ^ val) & (CR0_PG | CR0_PE | CR0_WP));
}

/* The CR4 bits a guest may set: the architectural basics, and each feature bit only when
 * the guest's CPUID offers the feature (a hidden feature's enable bit must #GP, as on a CPU
 * without it). Every CR4 write exits (the mask is all ones), so this is enforced. */
u64 pc_cr4_allowed(const struct vcpu *v)
{
	struct cpuid_guest g = { .apic_id = (u32)v->id,
		                 .ncpus = (u32)v->vm->nvcpus,
		                 .pku = to_pc_vm(v->vm)->pku };
	struct cpuid_regs h1 = cpuid(1, 0), h7 = cpuid(7, 0);
	struct cpuid_regs4 l1 =
		cpuid_guest_view(1, 0, (struct cpuid_regs4){ h1.eax, h1.ebx, h1.ecx, h1.edx }, &g);
	struct cpuid_regs4 l7 =
		cpuid_guest_view(7, 0, (struct cpuid_regs4){ h7.eax, h7.ebx, h7.ecx, h7.edx }, &g);
	u64 ok = 0x7ff; /* VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT */

	ok |= (l7.ecx & BIT(2)) ? BIT(11) : 0;  /* UMIP */
	ok |= (l7.ecx & BIT(16)) ? BIT(12) : 0; /* LA57 */
	ok |= (l7.ebx & BIT(0)) ? BIT(16) : 0;  /* FSGSBASE */
	ok |= (l1.ecx & BIT(17)) ? BIT(17) : 0; /* PCIDE */
	ok |= (l1.ecx & BIT(26)) ? BIT(18) : 0; /* OSXSAVE */
	ok |= (l7.ebx & BIT(7)) ? BIT(20) : 0;  /* SMEP */
	ok |= (l7.ebx & BIT(20)) ? BIT(21) : 0; /* SMAP */
	ok |= (l7.ecx & BIT(3)) ? BIT(22) : 0;  /* PKE */
	return ok & vmx_caps.cr4_fixed1 & ~(u64)CR4_VMXE;
}

static bool guest_write_cr4(struct vcpu *v, u64 val)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	u64 old = guest_cr4(), efer = vmcs_read(GUEST_IA32_EFER);

	if ((val & ~p->cr4_allowed) || ((efer & EFER_LMA) && !(val & CR4_PAE)) ||
	    load_pdptes(v, guest_cr0(), val, efer))
		return cr_write_gp(v);
	vmcs_write(CR4_READ_SHADOW, val);
	vmcs_write(GUEST_CR4, val | vmx_caps.cr4_fixed0);
	/* PAE, PSE and PGE changes flush the guest's TLB on bare metal (SDM 4.10.4.1). */
	/* PKE too: TLB entries cache the rights a page had without protection keys. */
	return cr_write_done(v, (old ^ val) & (CR4_PAE | CR4_PSE | CR4_PGE | CR4_PKE));
}

bool pc_handle_cr(struct vcpu *v)
{
	u64 q = vmcs_read(EXIT_QUALIFICATION);
	int cr = q & 15, type = (q >> 4) & 3;
	u64 val = gpr_get(v, (q >> 8) & 15);

	if (type == 0 && cr == 0)
		return guest_write_cr0(v, val);
	if (type == 0 && cr == 4)
		return guest_write_cr4(v, val);
	return stop(v, EXIT_CR_ACCESS,
	            "control-register access not emulated (qualification "
	            "0x%lx: CR%d, access type %d)",
	            q, cr, type);
}

/* ---- MSRs ----------------------------------------------------------------------------- */

hpa_t vmx_msr_bitmap_pa = INVALID_HPA;

/* Guest MSRs the hardware keeps while the guest runs (the host never uses them): reads and
 * writes go straight through; they are reset when a vCPU's run starts and ends
 * (pc_msr_reset_hw, pc/platform.c) so nothing leaks from one VM to the next. */
static const u32 passthrough_msrs[] = {
	0x174,      0x175,      0x176, /* SYSENTER_CS/ESP/EIP: saved in the VMCS at every exit */
	0xc0000081, 0xc0000082,        /* STAR, LSTAR */
	0xc0000083, 0xc0000084,        /* CSTAR, SFMASK */
	0xc0000100, 0xc0000101,        /* FS_BASE, GS_BASE: the VMCS segment bases */
	0xc0000102,                    /* KERNEL_GS_BASE */
};

static void bitmap_allow(u8 *bm, u32 msr)
{
	u32 off = msr >= 0xc0000000 ? 1024 : 0, bit = msr & 0x1fff;

	bm[off + bit / 8] &= ~(1 << (bit % 8));        /* reads */
	bm[2048 + off + bit / 8] &= ~(1 << (bit % 8)); /* writes */
}

int pc_msr_bitmap_init(void)
{
	u8 *bm;

	if (vmx_msr_bitmap_pa != INVALID_HPA)
		return 0;
	vmx_msr_bitmap_pa = alloc_zeroed_frame();
	if (vmx_msr_bitmap_pa == INVALID_HPA)
		return -ENOMEM;
	bm = phys_to_virt(vmx_msr_bitmap_pa);
	memset(bm, 0xff, PAGE_SIZE); /* every other MSR exits */
	for (size_t i = 0; i < ARRAY_SIZE(passthrough_msrs); i++)
		bitmap_allow(bm, passthrough_msrs[i]);
	return 0;
}

/* RDTSCP (and RDPID) run in the guest: the CPU has them and VMX lets them run. */
bool pc_rdtscp_offered(void)
{
	return (vmx_caps.proc2 >> 32) & PROC2_ENABLE_RDTSCP &&
	       (cpuid(0x80000001, 0).edx & CPUID_80000001_EDX_RDTSCP);
}

/* PKRU (RDPKRU/WRPKRU) is the guest's where the CPU has protection keys. */
static bool pku_present(void)
{
	return cpuid(7, 0).ecx & CPUID_7_ECX_PKU;
}

/* PKRU to 0, its RESET value: WRPKRU needs CR4.PKE, which the host sets only for this (it
 * has no user-mode pages, so PKRU never restricts it). */
static void pkru_reset(void)
{
	u64 cr4 = read_cr4();

	write_cr4(cr4 | CR4_PKE);
	wrpkru(0);
	write_cr4(cr4);
}

/* Also TSC_AUX and PKRU, guest state that VM entries and exits leave in the CPU: the guest
 * writes PKRU without an exit and RDTSCP reads the CPU's TSC_AUX. A vCPU runs on one CPU from
 * run_start to run_end, and the host never uses either, so the vCPU's value is the CPU's
 * in between (pc/exit.c keeps TSC_AUX's copy for RDMSR) and no VM sees another's. */
void pc_msr_reset_hw(void)
{
	for (size_t i = 3; i < ARRAY_SIZE(passthrough_msrs); i++)
		if (passthrough_msrs[i] != 0xc0000101) /* GS_BASE: the host's percpu pointer */
			wrmsr(passthrough_msrs[i], 0);
	if (pc_rdtscp_offered())
		wrmsr(MSR_TSC_AUX, 0);
	if (pku_present())
		pkru_reset();
}

static const char *msr_name(u32 msr)
{
	switch (msr) {
	case 0x48:
		return "IA32_SPEC_CTRL";
	case 0x49:
		return "IA32_PRED_CMD";
	case 0x10a:
		return "IA32_ARCH_CAPABILITIES";
	case 0xce:
		return "MSR_PLATFORM_INFO";
	case 0x198:
		return "IA32_PERF_STATUS";
	case 0x199:
		return "IA32_PERF_CTL";
	case 0x1a2:
		return "MSR_TEMPERATURE_TARGET";
	case 0x38f:
		return "IA32_PERF_GLOBAL_CTRL";
	case 0x6e0:
		return "IA32_TSC_DEADLINE";
	case 0xc0000103:
		return "IA32_TSC_AUX";
	case 0xc0010015:
		return "AMD HWCR";
	}
	if (msr >= 0x800 && msr <= 0x8ff)
		return "x2APIC register (x2APIC is not offered)";
	if (msr >= 0x480 && msr <= 0x493)
		return "IA32_VMX_* (VMX is not offered)";
	if (msr >= 0x200 && msr <= 0x2ff)
		return "MTRR";
	return "not known to eptvisor";
}

bool pc_log_ok(struct vm *vm, u64 *count, const char *what)
{
	/* RELAXED: a count; vCPUs of one VM may race here and need no order with anything. */
	u64 n = __atomic_fetch_add(count, 1, __ATOMIC_RELAXED);

	if (n == PC_LOG_LIMIT)
		printk("pc: VM '%s': more than %d %s: further ones are only counted\n", vm->name,
		       PC_LOG_LIMIT, what);
	return n < PC_LOG_LIMIT;
}

static bool msr_gp(struct vcpu *v, bool write, u32 msr, u64 val)
{
	struct pc_vm *pc = to_pc_vm(v->vm);

	if (pc_log_ok(v->vm, &pc->msr_unknown, "accesses to unknown MSRs"))
		printk("pc: VM '%s': vcpu %d: %s of MSR 0x%x (%s), value 0x%lx: #GP injected\n",
		       v->vm->name, v->id, write ? "WRMSR" : "RDMSR", msr, msr_name(msr),
		       write ? val : 0);
	pc_inject_exception(v, EXC_GP, true, 0);
	return true;
}

static bool pat_valid(u64 pat)
{
	for (int i = 0; i < 8; i++) {
		u8 t = (pat >> (i * 8)) & 0xff;

		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

/* CPUID.(7,0):EDX as the guest sees it: which speculation-control MSRs it was promised. */
#define CPUID7_IBRS_IBPB BIT(26)
#define CPUID7_STIBP     BIT(27)
#define CPUID7_L1D_FLUSH BIT(28)
#define CPUID7_ARCH_CAP  BIT(29)
#define CPUID7_CORE_CAP  BIT(30)
#define CPUID7_SSBD      BIT(31)
/* IA32_ARCH_CAPABILITIES bits passed from the host: each says the CPU is not affected by
 * something (RDCL_NO, SSB_NO, MDS_NO, PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO,
 * PSDP_NO), true of the guest because it is true of the CPU it runs on. Bits that promise
 * a control eptvisor does not give (IBRS_ALL, TSX_CTRL, SKIP_L1DFL_VMENTRY, ...) are left
 * out. */
#define ARCH_CAP_PASSED (BIT(0) | BIT(4) | BIT(5) | BIT(6) | BIT(8) | BIT(13) | BIT(14) | BIT(15))

static u32 guest_cpuid7_edx(const struct vcpu *v)
{
	struct cpuid_guest g = { .apic_id = (u32)v->id, .ncpus = (u32)v->vm->nvcpus };
	struct cpuid_regs h = cpuid(7, 0);

	return cpuid_guest_view(7, 0, (struct cpuid_regs4){ h.eax, h.ebx, h.ecx, h.edx }, &g).edx;
}

/* IA32_SPEC_CTRL bits the guest may set: IBRS, STIBP, SSBD, each only if CPUID offers it. */
static u64 spec_ctrl_allowed(u32 edx7)
{
	return ((edx7 & CPUID7_IBRS_IBPB) ? BIT(0) : 0) | ((edx7 & CPUID7_STIBP) ? BIT(1) : 0) |
	       ((edx7 & CPUID7_SSBD) ? BIT(2) : 0);
}

/* The MSRs CPUID.(7,0):EDX promises (Linux reads ARCH_CAPABILITIES, CORE_CAPABILITIES and
 * SPEC_CTRL with plain RDMSR when CPUID has them): -ENOENT when CPUID does not. */
static int msr_read_spec(struct vcpu *v, u32 msr, u64 *val)
{
	u32 edx7 = guest_cpuid7_edx(v);

	switch (msr) {
	case 0x48: /* SPEC_CTRL: the guest's value, read back */
		if (!(edx7 & (CPUID7_IBRS_IBPB | CPUID7_STIBP | CPUID7_SSBD)))
			return -ENOENT;
		*val = to_pc_vcpu(v)->spec_ctrl;
		return 0;
	case 0x10a: /* ARCH_CAPABILITIES: the host's "not affected" bits (the host has the
	             * MSR: the guest's CPUID bit is the host's) */
		if (!(edx7 & CPUID7_ARCH_CAP))
			return -ENOENT;
		*val = rdmsr(0x10a) & ARCH_CAP_PASSED;
		return 0;
	case 0xcf: /* CORE_CAPABILITIES: none (no split-lock detection), as KVM by default */
		if (!(edx7 & CPUID7_CORE_CAP))
			return -ENOENT;
		*val = 0;
		return 0;
	}
	return -ENOENT;
}

/* Writes to the same family: SPEC_CTRL is kept (not applied: eptvisor does not switch it at
 * entry and exit, docs/platform.md); PRED_CMD's IBPB and FLUSH_CMD's L1D flush are done on
 * the CPU (the guest's CPUID bit is the host's, so the host has the command). Reserved bits,
 * and the read-only capability MSRs: -EINVAL (#GP). */
static int msr_write_spec(struct vcpu *v, u32 msr, u64 val)
{
	u32 edx7 = guest_cpuid7_edx(v);

	switch (msr) {
	case 0x48:
		if (!spec_ctrl_allowed(edx7))
			return -ENOENT;
		if (val & ~spec_ctrl_allowed(edx7))
			return -EINVAL;
		to_pc_vcpu(v)->spec_ctrl = val;
		return 0;
	case 0x49: /* PRED_CMD */
		if (!(edx7 & CPUID7_IBRS_IBPB))
			return -ENOENT;
		if (val & ~1ULL)
			return -EINVAL;
		if (val)
			wrmsr(0x49, 1);
		return 0;
	case 0x10b: /* FLUSH_CMD */
		if (!(edx7 & CPUID7_L1D_FLUSH))
			return -ENOENT;
		if (val & ~1ULL)
			return -EINVAL;
		if (val)
			wrmsr(0x10b, 1);
		return 0;
	case 0x10a:
	case 0xcf:
		return (edx7 & (msr == 0x10a ? CPUID7_ARCH_CAP : CPUID7_CORE_CAP)) ? -EINVAL
		                                                                   : -ENOENT;
	}
	return -ENOENT;
}

/* IA32_TSC_ADJUST exists where CPUID.7:EBX[1] offers it: the host's bit, passed through. */
static bool tsc_adjust_offered(void)
{
	return cpuid(7, 0).ebx & BIT(1);
}

static int msr_read(struct vcpu *v, u32 msr, u64 *val)
{
	struct pc_vcpu *p = to_pc_vcpu(v);

	switch (msr) {
	case 0x10:
		*val = rdtsc() + p->tsc_offset;
		return 0; /* IA32_TSC */
	case 0x3b:        /* IA32_TSC_ADJUST */
		if (!tsc_adjust_offered())
			return -ENOENT;
		*val = p->tsc_adjust;
		return 0;
	case 0x1b:
		*val = p->apic_base;
		return 0; /* IA32_APIC_BASE */
	case 0x3a:
		*val = 1;
		return 0; /* FEATURE_CONTROL: locked, VMX off */
	case 0x8b:
		*val = 0;
		return 0; /* BIOS_SIGN_ID */
	case 0xfe:
		*val = 0;
		return 0; /* MTRRCAP: no variable or fixed ranges */
	case 0xce:
		*val = 0;
		return 0; /* PLATFORM_INFO: no CPUID faulting, no ratios (QEMU TCG's value) */
	case 0x140:
		*val = 0;
		return 0; /* MISC_FEATURES_ENABLES: nothing it enables is offered */
	case 0x1d9:
		*val = vmcs_read(GUEST_IA32_DEBUGCTL);
		return 0; /* DEBUGCTL: a VMCS field, saved at every exit */
	case 0x179:
	case 0x17a:
		*val = 0;
		return 0; /* MCG_CAP, MCG_STATUS */
	case 0x1a0:
		*val = p->misc_enable;
		return 0;
	case 0x277:
		*val = p->pat;
		return 0;
	case 0x2ff:
		*val = p->mtrr_def_type;
		return 0;
	case 0xc0000080:
		*val = vmcs_read(GUEST_IA32_EFER);
		return 0;
	case 0xc0000103: /* TSC_AUX: the vCPU's, where RDTSCP is offered */
		if (!pc_rdtscp_offered())
			return -ENOENT;
		*val = p->tsc_aux;
		return 0;
	}
	if (msr_read_spec(v, msr, val) == 0)
		return 0;
	return pc_apf_rdmsr(v, msr, val); /* KVM's async-PF MSRs with guest_pv=kvm */
}

static int msr_write(struct vcpu *v, u32 msr, u64 val)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	u64 efer = vmcs_read(GUEST_IA32_EFER);
	int r;

	switch (msr) {
	case 0x10: /* IA32_TSC: the guest's TSC is the host's plus an offset */
		/* SDM 17.17.3: a write to the TSC adds the same change to TSC_ADJUST. */
		p->tsc_adjust += val - (rdtsc() + p->tsc_offset);
		p->tsc_offset = val - rdtsc();
		vmcs_write(TSC_OFFSET, p->tsc_offset);
		return 0;
	case 0x3b: /* IA32_TSC_ADJUST: a write moves the TSC by the change in the adjust */
		if (!tsc_adjust_offered())
			return -ENOENT;
		p->tsc_offset += val - p->tsc_adjust;
		p->tsc_adjust = val;
		vmcs_write(TSC_OFFSET, p->tsc_offset);
		return 0;
	case 0x1b: /* the APIC stays at 0xfee00000 in xAPIC mode; BSP and enable as written */
		if ((val & ~(u64)(BIT(8) | BIT(11))) != PC_APIC_GPA)
			return -EINVAL;
		p->apic_base = val;
		return 0;
	case 0x79:
	case 0x8b:
	case 0x17a:
		return 0; /* microcode update, BIOS_SIGN_ID, MCG_STATUS: ignored */
	case 0x140: /* MISC_FEATURES_ENABLES: CPUID faulting and ring-3 MWAIT are not offered */
		return val ? -EINVAL : 0;
	case 0x1d9: /* DEBUGCTL: BTF (single-step on branches) only; the VMCS loads it */
		if (val & ~(u64)BIT(1))
			return -EINVAL;
		vmcs_write(GUEST_IA32_DEBUGCTL, val);
		return 0;
	case 0x1a0: /* MISC_ENABLE: kept as written; nothing it controls is emulated */
		p->misc_enable = val;
		return 0;
	case 0x277:
		if (!pat_valid(val))
			return -EINVAL;
		p->pat = val;
		return 0;
	case 0x2ff:
		if (val & ~0xcffULL)
			return -EINVAL;
		p->mtrr_def_type = val;
		return 0;
	case 0xc0000080: /* EFER: SCE, LME, NXE; LMA follows CR0.PG (write_cr0) */
		if (val & ~(u64)(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
			return -EINVAL;
		if ((guest_cr0() & CR0_PG) && ((val ^ efer) & EFER_LME))
			return -EINVAL;
		vmcs_write(GUEST_IA32_EFER, (val & ~(u64)EFER_LMA) | (efer & EFER_LMA));
		return 0;
	case 0xc0000103: /* TSC_AUX: 32 bits; RDTSCP reads the CPU's, which is this vCPU's */
		if (!pc_rdtscp_offered())
			return -ENOENT;
		if (val >> 32)
			return -EINVAL;
		p->tsc_aux = val;
		wrmsr(MSR_TSC_AUX, val);
		return 0;
	}
	r = msr_write_spec(v, msr, val);
	if (r != -ENOENT)
		return r;
	return pc_apf_wrmsr(v, msr, val); /* KVM's async-PF MSRs with guest_pv=kvm */
}

bool pc_handle_msr(struct vcpu *v, bool write)
{
	u32 msr = (u32)v->regs.rcx;
	u64 val = (v->regs.rdx << 32) | (u32)v->regs.rax;
	int r;

	if (write) {
		r = msr_write(v, msr, val);
	} else {
		r = msr_read(v, msr, &val);
		if (!r) {
			v->regs.rax = (u32)val;
			v->regs.rdx = val >> 32;
		}
	}
	if (r == -ENOENT)
		return msr_gp(v, write, msr, val);
	if (r) {
		if (pc_log_ok(v->vm, &to_pc_vm(v->vm)->msr_refused, "refused WRMSRs"))
			printk("pc: VM '%s': vcpu %d: WRMSR 0x%x value 0x%lx refused: #GP "
			       "injected\n",
			       v->vm->name, v->id, msr, val);
		pc_inject_exception(v, EXC_GP, true, 0);
		return true;
	}
	pc_skip_instruction(v);
	return true;
}

/* ---- CPUID and port I/O --------------------------------------------------------------- */

bool pc_handle_cpuid(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	struct guest_regs *r = &v->regs;
	struct cpuid_regs c = cpuid((u32)r->rax, (u32)r->rcx);
	struct cpuid_guest g = { .apic_id = (u32)v->id,
		                 .ncpus = (u32)v->vm->nvcpus,
		                 .kvm_pv = to_pc_vm(v->vm)->kvm_pv,
		                 .pku = to_pc_vm(v->vm)->pku,
		                 .tsc_hz = tsc_hz,
		                 .crystal_hz = p->lapic.bus_hz,
		                 .rdtscp = pc_rdtscp_offered(),
		                 .pke = !!(guest_cr4() & CR4_PKE) };
	struct cpuid_regs4 out = cpuid_guest_view(
		(u32)r->rax, (u32)r->rcx, (struct cpuid_regs4){ c.eax, c.ebx, c.ecx, c.edx }, &g);

	/* CPUID.1:EDX.APIC follows IA32_APIC_BASE's global enable, as on a real CPU. */
	if ((u32)r->rax == 1 && !(p->apic_base & BIT(11)))
		out.edx &= ~(u32)BIT(9);
	r->rax = out.eax, r->rbx = out.ebx, r->rcx = out.ecx, r->rdx = out.edx;
	pc_skip_instruction(v);
	return true;
}

/* The guest ended itself (exit port, reset): the VM stops, its code is the result. */
static bool guest_ended(struct vcpu *v)
{
	struct pc_vm *pc = to_pc_vm(v->vm);

	pc->ended = true;
	pc->exit_code = pc->io.exit_code;
	snprintf(pc->how, sizeof(pc->how), "%s", pc->io.exit_how);
	vm_stop(v->vm, VM_STOP_GUEST_EXIT, "guest exit: code %d by %s", pc->exit_code, pc->how);
	return false;
}

bool pc_handle_io(struct vcpu *v)
{
	u64 q = vmcs_read(EXIT_QUALIFICATION);
	struct pc_vm *pc = to_pc_vm(v->vm);
	int size = (int)(q & 7) + 1;
	bool in = q & BIT(3);
	u16 port = q >> 16;
	u32 val = (u32)v->regs.rax;
	enum pcio_result r;
	bool pic_irq;

	if (q & BIT(4))
		return stop(v, EXIT_IO, "string I/O (INS/OUTS) on port 0x%x is not emulated", port);
	spin_lock(&pc->io_lock);
	r = pcio_access(&pc->io, port, size, in, &val);
	pic_irq = v->id != 0 && pic_pending_vector(pc->io.pic) >= 0;
	spin_unlock(&pc->io_lock);
	pc_ioapic_service(v); /* a device's line may have changed (COM1's IRQ 4) */
	if (pic_irq)
		pc_wake(v->vm->vcpus[0]); /* the PICs' CPU looks at them before its next entry */
	if (in)
		gpr_set(v, 0, size, val);
	pc_skip_instruction(v);
	if (r == PCIO_EXIT)
		return guest_ended(v);
	return true;
}

/* ---- guest memory through the guest's own page tables --------------------------------- */

static int read_phys(void *ctx, u64 gpa, u64 *val)
{
	return vm_copy_from_guest(ctx, val, gpa, sizeof(*val)) ? -EFAULT : 0;
}

static int cs_mode(void)
{
	u64 ar = vmcs_read(GUEST_CS_AR);

	if ((vmcs_read(GUEST_IA32_EFER) & EFER_LMA) && (ar & BIT(13)))
		return 64;
	return (ar & BIT(14)) ? 32 : 16;
}

/* Translate the guest linear address la through the guest's own paging (any mode). */
static int translate(struct vcpu *v, u64 la, gpa_t *gpa)
{
	/* PAE outside long mode: the CPU walks from the PDPTEs it loaded (VMCS), not memory. */
	const u64 pdptr[4] = { vmcs_read(GUEST_PDPTE0), vmcs_read(GUEST_PDPTE1),
		               vmcs_read(GUEST_PDPTE2), vmcs_read(GUEST_PDPTE3) };
	struct gwalk_cpu cpu = { .cr0 = guest_cr0(),
		                 .cr3 = vmcs_read(GUEST_CR3),
		                 .cr4 = guest_cr4(),
		                 .efer = vmcs_read(GUEST_IA32_EFER),
		                 .pdptr = pdptr };

	return gwalk_translate(&cpu, la, read_phys, v->vm, gpa);
}

/* Fetch the bytes of the instruction at CS:RIP (up to 15; fewer at the end of mapped
 * memory). Returns how many, or -EFAULT when not even the first is reachable. */
static int fetch_insn(struct vcpu *v, u8 *buf)
{
	u64 lin = vmcs_read(GUEST_CS_BASE) + vmcs_read(GUEST_RIP);
	int n = 0;

	if (cs_mode() != 64)
		lin &= 0xffffffffULL;
	while (n < 15) {
		u64 gpa;
		int chunk = (int)MIN((u64)(15 - n), PAGE_SIZE - ((lin + n) & (PAGE_SIZE - 1)));

		if (translate(v, lin + n, &gpa) || vm_copy_from_guest(v->vm, buf + n, gpa, chunk))
			break;
		n += chunk;
	}
	return n ? n : -EFAULT;
}

/* Decode the instruction at RIP; false (and the VM stopped, naming the bytes) when it is not
 * one of the forms devices/insn.h lists. */
static bool decode_mov(struct vcpu *v, u32 reason, const char *what, struct insn_mov *m)
{
	u8 b[15] = { 0 };
	int n = fetch_insn(v, b);

	if (n > 0 && !insn_decode_mov(b, n, cs_mode(), m))
		return true;
	stop(v, reason,
	     "%s by an instruction eptvisor cannot emulate (bytes %02x %02x "
	     "%02x %02x %02x %02x; only MOV, ALU, TEST, XCHG, MOVZX/MOVSX and MOVS/STOS/LODS "
	     "forms are)",
	     what, b[0], b[1], b[2], b[3], b[4], b[5]);
	return false;
}

/* Load val (as the instruction m loads it) into m's register. */
static void load_reg(struct vcpu *v, const struct insn_mov *m, u64 val)
{
	u64 now = insn_mov_dst(m, gpr_get(v, m->reg), val);

	if (m->reg == 4)
		vmcs_write(GUEST_RSP, now);
	else
		*gpr(v, m->reg) = now;
}

static void complete_read(struct vcpu *v, const struct insn_mov *m, u64 val)
{
	load_reg(v, m, val);
	vcpu_complete_instruction(m->len);
}

static u64 write_value(struct vcpu *v, const struct insn_mov *m)
{
	return insn_mov_src(m, m->reg < 0 ? 0 : gpr_get(v, m->reg));
}

/* ---- the APIC page -------------------------------------------------------------------- */

static void apic_log(struct vcpu *v, const char *fmt, u32 off, u64 val)
{
	if (pc_log_ok(v->vm, &to_pc_vm(v->vm)->apic_ignored, "ignored APIC accesses")) {
		printk("pc: VM '%s': vcpu %d: ", v->vm->name, v->id);
		printk(fmt, off, val);
		printk("\n");
	}
}

static void apic_write(struct vcpu *v, u32 off, u32 val)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	struct vlapic_ipi ipi;
	int r = vlapic_write(&p->lapic, off, val, pc_now_ns(), &ipi);

	if (r == 1)
		pc_send_ipi(v, &ipi);
	else if (off == APIC_EOI && p->lapic.eoi_vector >= 0)
		pc_ioapic_eoi(v, (u8)p->lapic.eoi_vector); /* the EOI broadcast */
	else if (r < 0)
		apic_log(v,
		         "APIC write to offset 0x%x (value 0x%lx) ignored: read-only or reserved",
		         off, val);
}

/* Trap-like: the CPU already stored the value in the virtual-APIC page and moved RIP on. */
bool pc_handle_apic_write(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	u32 off = vmcs_read(EXIT_QUALIFICATION) & 0xff0;

	apic_write(v, off, p->apic_page[off / 4]);
	return true;
}

/* ---- one emulated MOV, split at region boundaries (devices/memsplit.h) ---------------- */

static u64 seg_base(int seg)
{
	switch (seg) {
	case INSN_SEG_ES:
		return vmcs_read(GUEST_ES_BASE);
	case INSN_SEG_CS:
		return vmcs_read(GUEST_CS_BASE);
	case INSN_SEG_SS:
		return vmcs_read(GUEST_SS_BASE);
	case INSN_SEG_FS:
		return vmcs_read(GUEST_FS_BASE);
	case INSN_SEG_GS:
		return vmcs_read(GUEST_GS_BASE);
	}
	return vmcs_read(GUEST_DS_BASE);
}

/* The linear address of offset off in segment seg. */
static u64 linear(int seg, u64 off)
{
	if (cs_mode() == 64) /* only FS and GS have a base in 64-bit mode */
		return off + (seg == INSN_SEG_FS || seg == INSN_SEG_GS ? seg_base(seg) : 0);
	return (seg_base(seg) + off) & 0xffffffffULL;
}

/* The linear address where the MOV's memory operand starts. */
static u64 access_start(struct vcpu *v, const struct insn_mov *m)
{
	u64 regs[16];

	for (int i = 0; i < 16; i++)
		regs[i] = gpr_get(v, i);
	return linear(m->mem.seg, insn_mov_offset(m, regs, vmcs_read(GUEST_RIP) + m->len));
}

/* The APIC page's part [off, off + len) of a read `size` bytes wide: the register of the
 * 16-byte slot, shifted by the offset in its dword. The APIC takes at most 32-bit accesses:
 * a wider one reads 0, as under QEMU. */
static u64 apic_read_part(struct vcpu *v, u32 off, int len, int size)
{
	struct pc_vcpu *p = to_pc_vcpu(v);

	if (size > 4) {
		apic_log(v, "APIC read at offset 0x%x (%lu bytes) reads 0: wider than 32 bits", off,
		         (u64)size);
		return 0;
	}
	return mem_part_value(vlapic_read(&p->lapic, off & 0xff0, pc_now_ns()), (int)(off & 3),
	                      len);
}

/* A write's part in the APIC page: only a whole aligned 32-bit access writes a register. */
static void apic_write_part(struct vcpu *v, u32 off, int len, int size, u64 val)
{
	if ((off & 15) || size != 4 || len != 4)
		apic_log(v,
		         "APIC write to offset 0x%x (value 0x%lx) ignored: not a 32-bit aligned "
		         "register access",
		         off, val);
	else
		apic_write(v, off, (u32)val);
}

static void log_unassigned(struct vcpu *v, bool write, gpa_t gpa, int len)
{
	if (pc_log_ok(v->vm, &to_pc_vm(v->vm)->mmio_unassigned, "accesses to unassigned memory"))
		printk("pc: VM '%s': vcpu %d: %d-byte %s of unassigned gpa 0x%lx (%s)\n",
		       v->vm->name, v->id, len, write ? "write" : "read", gpa,
		       write ? "dropped" : "reads as all-ones");
}

/* One part of a read, from its region: RAM, the APIC's registers, or all-ones. */
static u64 read_part(struct vcpu *v, gpa_t gpa, int len, int size)
{
	u64 val = 0;

	switch (mem_region_of(gpa, v->vm->slots[0].npages * PAGE_SIZE, PC_APIC_GPA)) {
	case MEM_RAM:
		if (!vm_copy_from_guest(v->vm, &val, gpa, (u64)len))
			return val;
		break; /* no backing memory left: as unassigned */
	case MEM_APIC:
		return apic_read_part(v, (u32)(gpa & 0xfff), len, size);
	case MEM_IOAPIC:
		return pc_ioapic_read(v, (u32)(gpa & 0xfff), len);
	case MEM_UNASSIGNED:
		break;
	}
	log_unassigned(v, false, gpa, len);
	return ~0ULL;
}

/* One part of a write, to its region: RAM, an APIC register, or dropped. */
static void write_part(struct vcpu *v, gpa_t gpa, int len, int size, u64 val)
{
	switch (mem_region_of(gpa, v->vm->slots[0].npages * PAGE_SIZE, PC_APIC_GPA)) {
	case MEM_RAM:
		if (!vm_copy_to_guest(v->vm, gpa, &val, (u64)len))
			return;
		break;
	case MEM_APIC:
		apic_write_part(v, (u32)(gpa & 0xfff), len, size, val);
		return;
	case MEM_IOAPIC:
		pc_ioapic_write(v, (u32)(gpa & 0xfff), len, val);
		return;
	case MEM_UNASSIGNED:
		break;
	}
	log_unassigned(v, true, gpa, len);
}

/* One memory operand of an emulated instruction: its parts (split at page, hence region,
 * boundaries, as QEMU splits them) and where each is guest-physically. */
struct operand {
	struct mem_part parts[MEM_SPLIT_MAX];
	gpa_t gpa[MEM_SPLIT_MAX];
	int n, size;
};

/* Locate every part of an access of size bytes at linear la through the guest's paging;
 * *hit |= one of them is fault_gpa's page. false: the VM is stopped (a part is unmapped). */
static bool locate_at(struct vcpu *v, u64 la, int size, u32 reason, gpa_t fault_gpa,
                      struct operand *o, bool *hit)
{
	o->size = size;
	o->n = mem_split(la, size, o->parts);
	for (int i = 0; i < o->n; i++) {
		if (translate(v, o->parts[i].la, &o->gpa[i]))
			return stop(v, reason,
			            "emulated access: linear 0x%lx is not mapped by the "
			            "guest's page tables",
			            o->parts[i].la);
		*hit |= gpa_to_gfn(o->gpa[i]) == gpa_to_gfn(fault_gpa);
	}
	return true;
}

/* Locate the instruction's ModRM/moffs operand; the part that faulted (fault_gpa's page)
 * must be one of its parts. */
static bool locate(struct vcpu *v, const struct insn_mov *m, u32 reason, gpa_t fault_gpa,
                   struct operand *o)
{
	u64 la = access_start(v, m);
	bool hit = false;

	if (!locate_at(v, la, m->size, reason, fault_gpa, o, &hit))
		return false;
	if (!hit)
		return stop(v, reason,
		            "emulated access to linear 0x%lx (gpa 0x%lx), not the "
		            "faulting gpa 0x%lx",
		            la, o->gpa[0], fault_gpa);
	return true;
}

/* Read an operand, each part from its own region. */
static u64 operand_read(struct vcpu *v, const struct operand *o)
{
	u64 val = 0;

	for (int i = 0; i < o->n; i++) {
		const struct mem_part *p = &o->parts[i];

		val = mem_merge(val, read_part(v, o->gpa[i], p->len, o->size), p->off, p->len);
	}
	return val;
}

/* Write an operand, each part to its own region. */
static void operand_write(struct vcpu *v, const struct operand *o, u64 val)
{
	for (int i = 0; i < o->n; i++) {
		const struct mem_part *p = &o->parts[i];

		write_part(v, o->gpa[i], p->len, o->size, mem_part_value(val, p->off, p->len));
	}
}

/* Emulate the MOV m whose access touched fault_gpa; RIP moves on. false: the VM is stopped
 * (the access could not be located). */
static bool emulate_mov(struct vcpu *v, const struct insn_mov *m, u32 reason, gpa_t fault_gpa)
{
	struct operand o;

	if (!locate(v, m, reason, fault_gpa, &o))
		return false;
	if (m->write) {
		operand_write(v, &o, write_value(v, m));
		vcpu_complete_instruction(m->len);
	} else {
		complete_read(v, m, operand_read(v, &o));
	}
	return true;
}

/* ALU, TEST and XCHG with a memory operand: read it, compute, write the result where the
 * instruction puts it (memory, the register, or nowhere for CMP and TEST), set CF, PF, AF,
 * ZF, SF and OF as the CPU does (XCHG changes no flag). One exit does it all, so the
 * read-modify-write is atomic for the guest, as LOCK (and XCHG) ask. */
static bool emulate_alu(struct vcpu *v, const struct insn_mov *m, u32 reason, gpa_t fault_gpa)
{
	struct operand o;
	u64 mem, regval, other;

	if (!locate(v, m, reason, fault_gpa, &o))
		return false;
	mem = operand_read(v, &o);
	regval = m->reg < 0 ? 0 : gpr_get(v, m->reg);
	other = insn_mov_src(m, regval); /* the register's part, or the immediate */
	if (m->kind == INSN_XCHG) {
		operand_write(v, &o, other);
		load_reg(v, m, mem);
	} else {
		u64 rflags = vmcs_read(GUEST_RFLAGS);
		u64 res = m->reg_dst ? insn_alu(m->alu, other, mem, m->size, &rflags)
		                     : insn_alu(m->kind == INSN_TEST ? INSN_AND : m->alu, mem,
		                                other, m->size, &rflags);
		vmcs_write(GUEST_RFLAGS, rflags);
		if (m->kind == INSN_ALU && m->alu != INSN_CMP) {
			if (m->reg_dst)
				load_reg(v, m, res);
			else
				operand_write(v, &o, res);
		}
	}
	vcpu_complete_instruction(m->len);
	return true;
}

#define RFLAGS_DF BIT(10)
/* REP string forms: at most this many iterations per exit, then the instruction is run
 * again (RIP stays, rCX says what is left), as the CPU does when an interrupt comes. */
#define STRING_BATCH 1024

/* One iteration of MOVS, STOS or LODS: [rSI] (the instruction's segment) and/or [rDI] (ES),
 * rSI/rDI stepped by the size, backwards with RFLAGS.DF. *hit: an operand touched
 * fault_gpa's page. */
static bool string_step(struct vcpu *v, const struct insn_mov *m, u32 reason, gpa_t fault_gpa,
                        bool *hit)
{
	int as = m->mem.adsize;
	u64 amask = as == 8 ? ~0ULL : (1ULL << (as * 8)) - 1;
	u64 step = (vmcs_read(GUEST_RFLAGS) & RFLAGS_DF) ? -(u64)m->size : (u64)m->size;
	u64 si = gpr_get(v, 6), di = gpr_get(v, 7), val;
	struct operand src, dst;

	if (m->kind != INSN_STOS &&
	    !locate_at(v, linear(m->mem.seg, si & amask), m->size, reason, fault_gpa, &src, hit))
		return false;
	if (m->kind != INSN_LODS &&
	    !locate_at(v, linear(INSN_SEG_ES, di & amask), m->size, reason, fault_gpa, &dst, hit))
		return false;
	if (!*hit)
		return stop(v, reason, "emulated string instruction does not touch gpa 0x%lx",
		            fault_gpa);
	val = m->kind == INSN_STOS ? insn_mov_src(m, gpr_get(v, 0)) : operand_read(v, &src);
	if (m->kind == INSN_LODS)
		load_reg(v, m, val);
	else
		operand_write(v, &dst, val);
	/* Only the address-size part of rSI/rDI moves (a 32-bit one zero-extends). */
	if (m->kind != INSN_STOS)
		gpr_set(v, 6, as, si + step);
	if (m->kind != INSN_LODS)
		gpr_set(v, 7, as, di + step);
	return true;
}

/* MOVS, STOS, LODS, with or without REP. The first iteration must touch fault_gpa's page;
 * the later ones go wherever rSI/rDI lead (RAM, the APIC page, unassigned memory). */
static bool emulate_string(struct vcpu *v, const struct insn_mov *m, u32 reason, gpa_t fault_gpa)
{
	int as = m->mem.adsize;
	u64 amask = as == 8 ? ~0ULL : (1ULL << (as * 8)) - 1;
	u64 count = m->rep ? gpr_get(v, 1) & amask : 1;
	bool hit = false;
	/* With TF the CPU traps after every iteration of a REP string instruction, RIP still
	 * on it until the last (QEMU TCG does the same): one iteration per exit then. */
	bool step = m->rep && (vmcs_read(GUEST_RFLAGS) & RFLAGS_TF);

	for (int done = 0; count && done < (step ? 1 : STRING_BATCH); done++) {
		if (!string_step(v, m, reason, fault_gpa, &hit))
			return false;
		hit = true; /* only the first iteration is the one that exited */
		count--;
		if (m->rep)
			gpr_set(v, 1, as, count);
	}
	if (!count)
		vcpu_complete_instruction(m->len);
	else if (step)
		vcpu_single_step_trap(); /* RIP stays on the instruction */
	return true;
}

static bool emulate(struct vcpu *v, const struct insn_mov *m, u32 reason, gpa_t fault_gpa)
{
	switch (m->kind) {
	case INSN_MOV:
		return emulate_mov(v, m, reason, fault_gpa);
	case INSN_ALU:
	case INSN_TEST:
	case INSN_XCHG:
		return emulate_alu(v, m, reason, fault_gpa);
	}
	return emulate_string(v, m, reason, fault_gpa);
}

/* Fault-like: a read the CPU cannot serve from the page (PPR, TMCCT, ...) or a write to a
 * register it does not virtualize. Emulated by decoding the guest's MOV. */
bool pc_handle_apic_access(struct vcpu *v)
{
	u64 q = vmcs_read(EXIT_QUALIFICATION);
	u32 off = q & 0xfff, type = (q >> 12) & 15;
	struct insn_mov m;

	if (type > 1)
		return stop(v, EXIT_APIC_ACCESS,
		            "APIC page access of type %u (instruction fetch "
		            "or during event delivery) at offset 0x%x",
		            type, off);
	if (!decode_mov(v, EXIT_APIC_ACCESS, "APIC page access", &m))
		return false;
	return emulate(v, &m, EXIT_APIC_ACCESS, PC_APIC_GPA + off);
}

/* An EPT violation at a gpa in no memslot. A data access is emulated as unassigned memory
 * (reads all-ones, writes dropped) for the part of it that lies there; an instruction fetch
 * there stops the VM. */
bool pc_handle_unassigned(struct vcpu *v, gpa_t gpa, u64 qual)
{
	struct insn_mov m;

	if (qual & BIT(2))
		return stop(v, EXIT_EPT_VIOLATION,
		            "jump to unmapped memory: instruction fetch at "
		            "gpa 0x%lx (no RAM or device there; guest RAM ends at 0x%lx)",
		            gpa, (unsigned long)(v->vm->slots[0].npages * PAGE_SIZE));
	if (!decode_mov(v, EXIT_EPT_VIOLATION, "access to unassigned memory", &m))
		return false;
	return emulate(v, &m, EXIT_EPT_VIOLATION, gpa);
}
