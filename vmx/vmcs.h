/*
 * The VMCS: every field eptvisor uses, in one X-macro list (name, encoding). The list
 * expands into the enum below, the diagnostic dump (vmcs_dump) and the VM-instruction error
 * names, so a field is added in one place.
 */
#ifndef EPTVISOR_VMX_VMCS_H
#define EPTVISOR_VMX_VMCS_H

#include "types.h"

/* The X() list is laid out by hand. */
/* clang-format off */
#define VMCS_FIELDS(X)                                                           \
	/* 16-bit */                                                             \
	X(VPID, 0x0000) X(POSTED_INTR_NV, 0x0002) X(EPTP_INDEX, 0x0004)          \
	X(GUEST_ES_SEL, 0x0800) X(GUEST_CS_SEL, 0x0802) X(GUEST_SS_SEL, 0x0804) \
	X(GUEST_DS_SEL, 0x0806) X(GUEST_FS_SEL, 0x0808) X(GUEST_GS_SEL, 0x080a) \
	X(GUEST_LDTR_SEL, 0x080c) X(GUEST_TR_SEL, 0x080e)                        \
	X(GUEST_INTR_STATUS, 0x0810) X(GUEST_PML_INDEX, 0x0812)                  \
	X(HOST_ES_SEL, 0x0c00) X(HOST_CS_SEL, 0x0c02) X(HOST_SS_SEL, 0x0c04)     \
	X(HOST_DS_SEL, 0x0c06) X(HOST_FS_SEL, 0x0c08) X(HOST_GS_SEL, 0x0c0a)     \
	X(HOST_TR_SEL, 0x0c0c)                                                   \
	/* 64-bit */                                                             \
	X(IO_BITMAP_A, 0x2000) X(IO_BITMAP_B, 0x2002) X(MSR_BITMAP, 0x2004)      \
	X(EXIT_MSR_STORE_ADDR, 0x2006) X(EXIT_MSR_LOAD_ADDR, 0x2008)             \
	X(ENTRY_MSR_LOAD_ADDR, 0x200a) X(PML_ADDRESS, 0x200e)                    \
	X(TSC_OFFSET, 0x2010) X(VIRTUAL_APIC_ADDR, 0x2012)                       \
	X(APIC_ACCESS_ADDR, 0x2014) X(EPT_POINTER, 0x201a)                       \
	X(GUEST_PHYSICAL_ADDRESS, 0x2400)                                        \
	X(VMCS_LINK_POINTER, 0x2800) X(GUEST_IA32_DEBUGCTL, 0x2802)              \
	X(GUEST_IA32_PAT, 0x2804) X(GUEST_IA32_EFER, 0x2806)                     \
	X(GUEST_PDPTE0, 0x280a) X(GUEST_PDPTE1, 0x280c)                          \
	X(GUEST_PDPTE2, 0x280e) X(GUEST_PDPTE3, 0x2810)                          \
	X(HOST_IA32_PAT, 0x2c00) X(HOST_IA32_EFER, 0x2c02)                       \
	/* 32-bit */                                                             \
	X(PIN_BASED_CTLS, 0x4000) X(PROC_BASED_CTLS, 0x4002)                     \
	X(EXCEPTION_BITMAP, 0x4004) X(PF_ERROR_MASK, 0x4006)                     \
	X(PF_ERROR_MATCH, 0x4008) X(CR3_TARGET_COUNT, 0x400a)                    \
	X(EXIT_CTLS, 0x400c) X(EXIT_MSR_STORE_COUNT, 0x400e)                     \
	X(EXIT_MSR_LOAD_COUNT, 0x4010) X(ENTRY_CTLS, 0x4012)                     \
	X(ENTRY_MSR_LOAD_COUNT, 0x4014) X(ENTRY_INTR_INFO, 0x4016)               \
	X(ENTRY_EXCEPTION_ERROR, 0x4018) X(ENTRY_INSTR_LEN, 0x401a)              \
	X(TPR_THRESHOLD, 0x401c) X(PROC_BASED_CTLS2, 0x401e)                     \
	X(VM_INSTRUCTION_ERROR, 0x4400) X(EXIT_REASON, 0x4402)                   \
	X(EXIT_INTR_INFO, 0x4404) X(EXIT_INTR_ERROR, 0x4406)                     \
	X(IDT_VECTORING_INFO, 0x4408) X(IDT_VECTORING_ERROR, 0x440a)             \
	X(EXIT_INSTR_LEN, 0x440c) X(EXIT_INSTR_INFO, 0x440e)                     \
	X(GUEST_ES_LIMIT, 0x4800) X(GUEST_CS_LIMIT, 0x4802)                      \
	X(GUEST_SS_LIMIT, 0x4804) X(GUEST_DS_LIMIT, 0x4806)                      \
	X(GUEST_FS_LIMIT, 0x4808) X(GUEST_GS_LIMIT, 0x480a)                      \
	X(GUEST_LDTR_LIMIT, 0x480c) X(GUEST_TR_LIMIT, 0x480e)                    \
	X(GUEST_GDTR_LIMIT, 0x4810) X(GUEST_IDTR_LIMIT, 0x4812)                  \
	X(GUEST_ES_AR, 0x4814) X(GUEST_CS_AR, 0x4816) X(GUEST_SS_AR, 0x4818)     \
	X(GUEST_DS_AR, 0x481a) X(GUEST_FS_AR, 0x481c) X(GUEST_GS_AR, 0x481e)     \
	X(GUEST_LDTR_AR, 0x4820) X(GUEST_TR_AR, 0x4822)                          \
	X(GUEST_INTERRUPTIBILITY, 0x4824) X(GUEST_ACTIVITY_STATE, 0x4826)        \
	X(GUEST_SYSENTER_CS, 0x482a) X(PREEMPTION_TIMER_VALUE, 0x482e)           \
	X(HOST_SYSENTER_CS, 0x4c00)                                              \
	/* natural width */                                                      \
	X(CR0_GUEST_HOST_MASK, 0x6000) X(CR4_GUEST_HOST_MASK, 0x6002)            \
	X(CR0_READ_SHADOW, 0x6004) X(CR4_READ_SHADOW, 0x6006)                    \
	X(EXIT_QUALIFICATION, 0x6400) X(GUEST_LINEAR_ADDRESS, 0x640a)            \
	X(GUEST_CR0, 0x6800) X(GUEST_CR3, 0x6802) X(GUEST_CR4, 0x6804)           \
	X(GUEST_ES_BASE, 0x6806) X(GUEST_CS_BASE, 0x6808)                        \
	X(GUEST_SS_BASE, 0x680a) X(GUEST_DS_BASE, 0x680c)                        \
	X(GUEST_FS_BASE, 0x680e) X(GUEST_GS_BASE, 0x6810)                        \
	X(GUEST_LDTR_BASE, 0x6812) X(GUEST_TR_BASE, 0x6814)                      \
	X(GUEST_GDTR_BASE, 0x6816) X(GUEST_IDTR_BASE, 0x6818)                    \
	X(GUEST_DR7, 0x681a) X(GUEST_RSP, 0x681c) X(GUEST_RIP, 0x681e)           \
	X(GUEST_RFLAGS, 0x6820) X(GUEST_PENDING_DBG, 0x6822)                     \
	X(GUEST_SYSENTER_ESP, 0x6824) X(GUEST_SYSENTER_EIP, 0x6826)              \
	X(HOST_CR0, 0x6c00) X(HOST_CR3, 0x6c02) X(HOST_CR4, 0x6c04)              \
	X(HOST_FS_BASE, 0x6c06) X(HOST_GS_BASE, 0x6c08) X(HOST_TR_BASE, 0x6c0a)  \
	X(HOST_GDTR_BASE, 0x6c0c) X(HOST_IDTR_BASE, 0x6c0e)                      \
	X(HOST_SYSENTER_ESP, 0x6c10) X(HOST_SYSENTER_EIP, 0x6c12)                \
	X(HOST_RSP, 0x6c14) X(HOST_RIP, 0x6c16)
/* clang-format on */

enum vmcs_field {
#define VMCS_ENUM(name, enc) name = enc,
	VMCS_FIELDS(VMCS_ENUM)
#undef VMCS_ENUM
};

/*
 * vmcs_read/vmcs_write on the current VMCS. A failure is a hypervisor bug (a field the CPU
 * lacks, or no current VMCS): it is reported with the field's name, the VM-instruction error
 * and the caller, and the write is dropped.
 */
#define vmcs_read(f)     vmcs_read_at(f, #f, __FILE__, __LINE__)
#define vmcs_write(f, v) vmcs_write_at(f, #f, v, __FILE__, __LINE__)
u64 vmcs_read_at(enum vmcs_field f, const char *name, const char *file, int line);
void vmcs_write_at(enum vmcs_field f, const char *name, u64 v, const char *file, int line);
/*
 * VMREAD without the check, for the hot exit paths: only for a field that every CPU
 * eptvisor runs on has (the exit-information fields; the guest-physical address, which
 * comes with EPT, which eptvisor requires) read by an exit handler, where this vCPU's VMCS is
 * current (vcpu_run loaded it before the entry this exit ended). VMREAD fails only with no
 * current VMCS or an unsupported field, so neither failure can happen there and the
 * checked wrapper's flag tests and its call are pure cost. volatile: the value changes at
 * every VM exit, so two reads must not be merged across an entry.
 */
static inline u64 vmcs_read_unchecked(enum vmcs_field f)
{
	u64 v;

	__asm__ volatile("vmread %1, %0" : "=r"(v) : "r"((u64)f) : "cc");
	return v;
}

/* Count of vmcs_write failures since boot (a VM whose set-up failed does not enter). */
extern u64 vmcs_write_errors;

/* Print every field of the current VMCS (diagnostics when a VM dies). */
void vmcs_dump(void);
/* The SDM's name for a VM-instruction error number (Vol. 3C, 31.4). */
const char *vm_instruction_error_name(u64 err);

#endif
