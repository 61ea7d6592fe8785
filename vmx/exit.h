/* Basic VM-exit reasons (SDM Vol. 3D, Appendix C), as one list for the enum and the names. */
#ifndef EPTVISOR_VMX_EXIT_H
#define EPTVISOR_VMX_EXIT_H

#include "types.h"

/* The X() list is laid out by hand. */
/* clang-format off */
#define EXIT_REASON_LIST(X)                                                             \
	X(EXCEPTION_NMI, 0) X(EXTERNAL_INTERRUPT, 1) X(TRIPLE_FAULT, 2) X(INIT, 3)       \
	X(SIPI, 4) X(INTERRUPT_WINDOW, 7) X(NMI_WINDOW, 8) X(TASK_SWITCH, 9) X(CPUID, 10) \
	X(GETSEC, 11) X(HLT, 12) X(INVD, 13) X(INVLPG, 14) X(RDPMC, 15) X(RDTSC, 16)      \
	X(RSM, 17) X(VMCALL, 18) X(VMCLEAR, 19) X(VMLAUNCH, 20) X(VMPTRLD, 21)            \
	X(VMPTRST, 22) X(VMREAD, 23) X(VMRESUME, 24) X(VMWRITE, 25) X(VMXOFF, 26)         \
	X(VMXON, 27) X(CR_ACCESS, 28) X(DR_ACCESS, 29) X(IO, 30) X(RDMSR, 31)             \
	X(WRMSR, 32) X(INVALID_GUEST_STATE, 33) X(MSR_LOADING, 34) X(MWAIT, 36)           \
	X(MONITOR_TRAP_FLAG, 37) X(MONITOR, 39) X(PAUSE, 40) X(MACHINE_CHECK, 41)         \
	X(TPR_BELOW_THRESHOLD, 43) X(APIC_ACCESS, 44) X(VIRTUALIZED_EOI, 45)              \
	X(GDTR_IDTR, 46) X(LDTR_TR, 47) X(EPT_VIOLATION, 48) X(EPT_MISCONFIG, 49)         \
	X(INVEPT, 50) X(RDTSCP, 51) X(PREEMPTION_TIMER, 52) X(INVVPID, 53) X(WBINVD, 54)  \
	X(XSETBV, 55) X(APIC_WRITE, 56) X(RDRAND, 57) X(INVPCID, 58) X(VMFUNC, 59)        \
	X(ENCLS, 60) X(RDSEED, 61) X(PML_FULL, 62) X(XSAVES, 63) X(XRSTORS, 64)
/* clang-format on */

enum exit_reason {
#define EXIT_ENUM(name, num) EXIT_##name = num,
	EXIT_REASON_LIST(EXIT_ENUM)
#undef EXIT_ENUM
};

const char *exit_reason_name(u32 reason);

#endif
