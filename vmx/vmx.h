/*
 * VMX on this machine: the capabilities eptvisor needs, read once from CPUID and the VMX
 * capability MSRs (checked equal on every CPU), the control values derived from them
 * (allowed-0/allowed-1 from the TRUE_ MSRs), and VMXON on every CPU.
 */
#ifndef EPTVISOR_VMX_VMX_H
#define EPTVISOR_VMX_VMX_H

#include "types.h"

#define MSR_IA32_VMX_BASIC               0x480
#define MSR_IA32_VMX_PINBASED_CTLS       0x481
#define MSR_IA32_VMX_PROCBASED_CTLS      0x482
#define MSR_IA32_VMX_EXIT_CTLS           0x483
#define MSR_IA32_VMX_ENTRY_CTLS          0x484
#define MSR_IA32_VMX_MISC                0x485
#define MSR_IA32_VMX_CR0_FIXED0          0x486
#define MSR_IA32_VMX_CR0_FIXED1          0x487
#define MSR_IA32_VMX_CR4_FIXED0          0x488
#define MSR_IA32_VMX_CR4_FIXED1          0x489
#define MSR_IA32_VMX_PROCBASED_CTLS2     0x48b
#define MSR_IA32_VMX_EPT_VPID_CAP        0x48c
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS  0x48d
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48e
#define MSR_IA32_VMX_TRUE_EXIT_CTLS      0x48f
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS     0x490

/* Pin-based controls */
#define PIN_EXTINT_EXITING   BIT(0)
#define PIN_NMI_EXITING      BIT(3)
#define PIN_VIRTUAL_NMIS     BIT(5)
#define PIN_PREEMPTION_TIMER BIT(6)
/* Primary processor-based controls */
#define PROC_INTR_WINDOW_EXITING BIT(2)
#define PROC_USE_TSC_OFFSETTING  BIT(3)
#define PROC_HLT_EXITING         BIT(7)
#define PROC_CR3_LOAD_EXITING    BIT(15)
#define PROC_CR3_STORE_EXITING   BIT(16)
#define PROC_USE_TPR_SHADOW      BIT(21)
#define PROC_NMI_WINDOW_EXITING  BIT(22)
#define PROC_MWAIT_EXITING       BIT(10)
#define PROC_RDPMC_EXITING       BIT(11)
#define PROC_CR8_LOAD_EXITING    BIT(19)
#define PROC_CR8_STORE_EXITING   BIT(20)
#define PROC_MONITOR_EXITING     BIT(29)
#define PROC_UNCOND_IO_EXITING   BIT(24)
#define PROC_USE_MSR_BITMAPS     BIT(28)
#define PROC_SECONDARY_CTLS      BIT(31)
/* Secondary processor-based controls */
#define PROC2_VIRT_APIC_ACCESSES BIT(0)
#define PROC2_ENABLE_EPT         BIT(1)
#define PROC2_APIC_REG_VIRT      BIT(8)
#define PROC2_ENABLE_VPID        BIT(5)
#define PROC2_ENABLE_RDTSCP      BIT(3)
#define PROC2_UNRESTRICTED_GUEST BIT(7)
#define PROC2_ENABLE_PML         BIT(17)
/* VM-exit controls */
#define EXIT_SAVE_DEBUG_CONTROLS   BIT(2)
#define EXIT_HOST_ADDR_SPACE_SIZE  BIT(9)
#define EXIT_ACK_INTR_ON_EXIT      BIT(15)
#define EXIT_SAVE_IA32_PAT         BIT(18)
#define EXIT_LOAD_IA32_PAT         BIT(19)
#define EXIT_SAVE_IA32_EFER        BIT(20)
#define EXIT_LOAD_IA32_EFER        BIT(21)
#define EXIT_SAVE_PREEMPTION_TIMER BIT(22)
/* VM-entry controls */
#define ENTRY_LOAD_DEBUG_CONTROLS BIT(2)
#define ENTRY_IA32E_MODE_GUEST    BIT(9)
#define ENTRY_LOAD_IA32_PAT       BIT(14)
#define ENTRY_LOAD_IA32_EFER      BIT(15)

/* IA32_VMX_EPT_VPID_CAP bits */
#define EPT_CAP_WALK_4        BIT(6)
#define EPT_CAP_WB            BIT(14)
#define EPT_CAP_2M            BIT(16)
#define EPT_CAP_1G            BIT(17)
#define EPT_CAP_INVEPT        BIT(20)
#define EPT_CAP_AD            BIT(21)
#define EPT_CAP_INVEPT_SINGLE BIT(25)
#define EPT_CAP_INVEPT_ALL    BIT(26)
#define VPID_CAP_INVVPID      BIT(32)

struct vmx_caps {
	u32 revision;
	u64 basic, misc, ept_vpid;
	u64 pin, proc, proc2, exit, entry; /* raw allowed-0 (low) / allowed-1 (high) */
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	unsigned preempt_shift; /* timer ticks every 2^shift TSC cycles */
	bool ept_1g, ept_ad, pml, unrestricted;
	/* Unrestricted guest and APIC virtualization (TPR shadow, APIC-access page, register
	 * virtualization, MSR bitmaps, TSC offsetting, interrupt and NMI windows): a guest
	 * that switches modes itself and has a local APIC. */
	bool unrestricted_apic;
};

/* The controls every VMCS starts from (required bits set, optional ones where allowed). */
struct vmx_controls {
	u32 pin, proc, proc2, exit, entry;
};

extern struct vmx_caps vmx_caps;
extern struct vmx_controls vmx_ctls;

/* Check VMX on every CPU and turn it on; print the summary. 0, or -ENODEV after one clear
 * line saying what is missing (then nothing may use VMX). */
int vmx_init_all(void);
/* INVEPT single-context on this CPU (all-context when single is missing). */
void vmx_invept(u64 eptp);

#endif
