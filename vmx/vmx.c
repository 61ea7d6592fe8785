/*
 * VMX bring-up (see vmx.h). The BSP reads and checks the capabilities and prints the summary;
 * then every CPU compares its own MSRs with the BSP's, fixes CR0/CR4 to the VMX-required
 * values, handles IA32_FEATURE_CONTROL and executes VMXON on its own VMXON region.
 */
#include "arch/cpu.h"
#include "arch/percpu.h"
#include "arch/smp.h"
#include "drivers/console.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/vmx.h"
#include "vmx/vmx_asm.h"

#define FC_LOCK            BIT(0)
#define FC_VMX_OUTSIDE_SMX BIT(2)

struct vmx_caps vmx_caps;
struct vmx_controls vmx_ctls;

static const char *missing; /* first missing requirement, for the one clear line */
static int cpu_errors;

static void require(bool ok, const char *what)
{
	if (!ok && !missing)
		missing = what;
}

static bool allowed1(u64 msr_val, u32 bits)
{
	return ((msr_val >> 32) & bits) == bits;
}

/* want | allowed-0 bits, limited to allowed-1 bits; `need` bits must survive. */
static u32 adjust(u64 msr_val, u32 want, u32 need, const char *what)
{
	u32 ctl = (want | (u32)msr_val) & (u32)(msr_val >> 32);

	require((ctl & need) == need, what);
	return ctl;
}

static void read_caps(struct vmx_caps *c)
{
	bool true_ctls;

	c->basic = rdmsr(MSR_IA32_VMX_BASIC);
	true_ctls = c->basic & BIT(55);
	c->revision = c->basic & 0x7fffffff;
	c->misc = rdmsr(MSR_IA32_VMX_MISC);
	c->pin = rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS);
	c->proc = rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS);
	c->exit = rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS : MSR_IA32_VMX_EXIT_CTLS);
	c->entry = rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS : MSR_IA32_VMX_ENTRY_CTLS);
	c->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
	c->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
	c->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
	c->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);
	/* The secondary controls and EPT/VPID MSRs exist only when the primary controls may
	 * activate secondary controls (reading them otherwise raises #GP). */
	c->proc2 = allowed1(c->proc, PROC_SECONDARY_CTLS) ? rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2) : 0;
	c->ept_vpid = allowed1(c->proc2, PROC2_ENABLE_EPT | PROC2_ENABLE_VPID)
	                      ? rdmsr(MSR_IA32_VMX_EPT_VPID_CAP)
	                      : 0;
	c->preempt_shift = c->misc & 0x1f;
	c->ept_1g = c->ept_vpid & EPT_CAP_1G;
	c->ept_ad = c->ept_vpid & EPT_CAP_AD;
	c->pml = c->ept_ad && allowed1(c->proc2, PROC2_ENABLE_PML);
	c->unrestricted = allowed1(c->proc2, PROC2_UNRESTRICTED_GUEST);
	c->unrestricted_apic =
		c->unrestricted &&
		allowed1(c->proc2, PROC2_VIRT_APIC_ACCESSES | PROC2_APIC_REG_VIRT) &&
		allowed1(c->proc, PROC_USE_TPR_SHADOW | PROC_USE_MSR_BITMAPS |
	                                  PROC_USE_TSC_OFFSETTING | PROC_INTR_WINDOW_EXITING |
	                                  PROC_NMI_WINDOW_EXITING);
}

#define PROC_GUEST_EXITS                                                                           \
	(PROC_HLT_EXITING | PROC_UNCOND_IO_EXITING | PROC_SECONDARY_CTLS | PROC_CR8_LOAD_EXITING | \
	 PROC_CR8_STORE_EXITING | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING | PROC_RDPMC_EXITING)

static void check_caps(const struct vmx_caps *c)
{
	u64 ev = c->ept_vpid;

	require(allowed1(c->proc, PROC_SECONDARY_CTLS), "secondary processor-based controls");
	require(allowed1(c->proc2, PROC2_ENABLE_EPT), "EPT");
	require(allowed1(c->proc2, PROC2_ENABLE_VPID), "VPID");
	require(ev & EPT_CAP_WALK_4, "4-level EPT page walk");
	require(ev & EPT_CAP_WB, "write-back EPT memory type");
	require(ev & EPT_CAP_2M, "2 MiB EPT pages");
	require((ev & EPT_CAP_INVEPT) && (ev & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL)),
	        "INVEPT");
	require(ev & VPID_CAP_INVVPID, "INVVPID");
	/* NMI exiting: an NMI is how a CPU in guest mode is kicked (vcpu_kick). Virtual NMIs:
	 * the guest's own NMI blocking is then virtual and follows its IRET, so it never holds
	 * back a physical NMI (a kick), and NMI-window exiting becomes available. */
	vmx_ctls.pin = adjust(
		c->pin,
		PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS | PIN_PREEMPTION_TIMER,
		PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS | PIN_PREEMPTION_TIMER,
		"interrupt/NMI exiting, virtual NMIs and the preemption timer");
	/* Everything a guest could use to reach host state or sleep past every kick exits:
	 * CR8 would set the physical TPR (and mask our IPIs), MWAIT/MONITOR could park the CPU,
	 * RDPMC would read the host's performance counters (the PMU is not virtualised). */
	vmx_ctls.proc = adjust(c->proc, PROC_GUEST_EXITS, PROC_GUEST_EXITS,
	                       "HLT, I/O, CR8, MWAIT, MONITOR and RDPMC exiting");
	/* No MSR bitmaps: every RDMSR/WRMSR exits, so a guest never reaches a host MSR. */
	vmx_ctls.proc &= ~PROC_USE_MSR_BITMAPS;
	require(!(vmx_ctls.proc & PROC_USE_MSR_BITMAPS), "MSR exiting without bitmaps");
	vmx_ctls.proc2 = adjust(c->proc2, PROC2_ENABLE_EPT | PROC2_ENABLE_VPID,
	                        PROC2_ENABLE_EPT | PROC2_ENABLE_VPID, "EPT+VPID controls");
	vmx_ctls.exit = adjust(
		c->exit,
		EXIT_HOST_ADDR_SPACE_SIZE | EXIT_ACK_INTR_ON_EXIT | EXIT_SAVE_IA32_EFER |
			EXIT_LOAD_IA32_EFER | EXIT_SAVE_PREEMPTION_TIMER | EXIT_SAVE_DEBUG_CONTROLS,
		EXIT_HOST_ADDR_SPACE_SIZE | EXIT_ACK_INTR_ON_EXIT | EXIT_LOAD_IA32_EFER,
		"64-bit host and EFER exit controls");
	/* Debug controls saved and loaded: else every exit would reset the guest's DR7 to
	 * 0x400 (the exit loads that into DR7) and silently disarm its breakpoints. */
	vmx_ctls.entry = adjust(
		c->entry, ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_DEBUG_CONTROLS,
		ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_IA32_EFER,
		"64-bit guest and EFER entry controls");
}

static void print_summary(const struct vmx_caps *c)
{
	u64 ev = c->ept_vpid;

	printk("vmx: capabilities (VMCS revision 0x%x, %s controls):\n", c->revision,
	       (c->basic & BIT(55)) ? "TRUE_" : "default");
	printk("vmx:   EPT %s, 4-level walk %s, WB %s, 2M pages %s, 1G pages %s\n",
	       allowed1(c->proc2, PROC2_ENABLE_EPT) ? "yes" : "NO",
	       ev & EPT_CAP_WALK_4 ? "yes" : "NO", ev & EPT_CAP_WB ? "yes" : "NO",
	       ev & EPT_CAP_2M ? "yes" : "NO", c->ept_1g ? "yes" : "no");
	printk("vmx:   EPT A/D %s, PML %s, INVEPT single %s all %s, VPID %s, INVVPID %s\n",
	       c->ept_ad ? "yes" : "no", c->pml ? "yes" : "no",
	       ev & EPT_CAP_INVEPT_SINGLE ? "yes" : "no", ev & EPT_CAP_INVEPT_ALL ? "yes" : "no",
	       allowed1(c->proc2, PROC2_ENABLE_VPID) ? "yes" : "NO",
	       ev & VPID_CAP_INVVPID ? "yes" : "NO");
	printk("vmx:   unrestricted guest %s, APIC virtualization %s, preemption timer %s "
	       "(TSC/%u)\n",
	       c->unrestricted ? "yes" : "no", c->unrestricted_apic ? "yes" : "no",
	       allowed1(c->pin, PIN_PREEMPTION_TIMER) ? "yes" : "NO", 1u << c->preempt_shift);
	if (c->ept_ad)
		printk("vmx:   EPT A/D flags on for every VM (EPTP bit 6): idle tracking, D-bit "
		       "and "
		       "PML dirty logging available\n");
	else
		printk("vmx:   EPT A/D flags unavailable: idle tracking, D-bit and PML dirty "
		       "logging "
		       "are off (write-protect dirty logging still works)\n");
	printk("vmx:   allowed-1 pin %08x proc %08x proc2 %08x exit %08x entry %08x\n",
	       (u32)(c->pin >> 32), (u32)(c->proc >> 32), (u32)(c->proc2 >> 32),
	       (u32)(c->exit >> 32), (u32)(c->entry >> 32));
	printk("vmx:   controls pin %08x proc %08x proc2 %08x exit %08x entry %08x\n", vmx_ctls.pin,
	       vmx_ctls.proc, vmx_ctls.proc2, vmx_ctls.exit, vmx_ctls.entry);
}

static int feature_control(void)
{
	u64 fc = rdmsr(MSR_IA32_FEATURE_CONTROL);

	if (fc & FC_LOCK)
		return (fc & FC_VMX_OUTSIDE_SMX) ? 0 : -EPERM;
	/* Unlocked (no firmware set it): enable VMX outside SMX and lock, as firmware would.
	 * Writing a locked MSR raises #GP, hence the check above. */
	wrmsr(MSR_IA32_FEATURE_CONTROL, fc | FC_VMX_OUTSIDE_SMX | FC_LOCK);
	return 0;
}

static void fix_control_registers(void)
{
	write_cr0((read_cr0() | vmx_caps.cr0_fixed0) & vmx_caps.cr0_fixed1);
	write_cr4(((read_cr4() | CR4_VMXE) | vmx_caps.cr4_fixed0) & vmx_caps.cr4_fixed1);
}

static const char *vmx_cpu_on_reason(struct percpu *pc)
{
	struct vmx_caps mine;
	u32 *region;

	memset(&mine, 0, sizeof(mine)); /* padding too: the structs are compared with memcmp */
	read_caps(&mine);
	if (memcmp(&mine, &vmx_caps, sizeof(mine)))
		return "its VMX capabilities differ from CPU 0's";
	if (feature_control())
		return "IA32_FEATURE_CONTROL is locked with VMX disabled (firmware setting)";
	fix_control_registers();
	pc->vmxon_pa = alloc_zeroed_frame();
	if (pc->vmxon_pa == INVALID_HPA)
		return "out of memory for the VMXON region";
	region = phys_to_virt(pc->vmxon_pa);
	region[0] = vmx_caps.revision;
	if (vmxon(pc->vmxon_pa))
		return "VMXON failed";
	pc->vmx_on = true;
	return NULL;
}

static void vmx_cpu_on(void *arg)
{
	struct percpu *pc = this_cpu();
	const char *why = vmx_cpu_on_reason(pc);

	(void)arg;
	if (why) {
		/* RELAXED: read after smp_call_all's waits, which already order it. */
		__atomic_add_fetch(&cpu_errors, 1, __ATOMIC_RELAXED);
		printk("vmx: cpu %u: VMXON failed: %s\n", pc->id, why);
		return;
	}
	printk("vmx: cpu %u: VMXON ok (region at 0x%lx)\n", pc->id, pc->vmxon_pa);
}

int vmx_init_all(void)
{
	if (!(cpuid(1, 0).ecx & BIT(5))) {
		printk("vmx: unavailable: this CPU has no VMX (CPUID.1:ECX bit 5 is 0), so "
		       "eptvisor "
		       "cannot run guests here; use Bochs (cpu model tigerlake) or KVM with nested "
		       "VMX (QEMU TCG never emulates VMX)\n");
		return -ENODEV;
	}
	read_caps(&vmx_caps);
	check_caps(&vmx_caps);
	print_summary(&vmx_caps);
	if (missing) {
		printk("vmx: unavailable: this CPU's VMX lacks %s, which eptvisor needs to run "
		       "guests\n",
		       missing);
		return -ENODEV;
	}
	smp_call_all(vmx_cpu_on, NULL);
	return cpu_errors ? -EIO : 0;
}

void vmx_invept(u64 eptp)
{
	bool single = vmx_caps.ept_vpid & EPT_CAP_INVEPT_SINGLE;

	if (invept(single ? INVEPT_SINGLE : INVEPT_ALL, eptp))
		printk("vmx: cpu %u: INVEPT failed\n", this_cpu_id());
}
