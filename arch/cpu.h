/*
 * Every x86 instruction eptvisor's C code uses, as a tiny inline wrapper (xv6's x86.h); port
 * I/O and MSRs come from include/x86io.h, which the guest programs share. No other C file
 * contains inline assembly except the VMX instruction wrappers in vmx/vmx_asm.h.
 */
#ifndef EPTVISOR_ARCH_CPU_H
#define EPTVISOR_ARCH_CPU_H

#include "types.h"
#include "x86io.h"

#define MSR_IA32_APIC_BASE       0x1b
#define MSR_IA32_FEATURE_CONTROL 0x3a
#define MSR_IA32_PAT             0x277
#define MSR_IA32_EFER            0xc0000080
#define MSR_IA32_FS_BASE         0xc0000100
#define MSR_IA32_GS_BASE         0xc0000101
#define MSR_IA32_KERNEL_GS_BASE  0xc0000102

#define CR0_PE         BIT(0)
#define CR0_ET         BIT(4)
#define CR0_NE         BIT(5)
#define CR0_WP         BIT(16)
#define CR0_NW         BIT(29)
#define CR0_CD         BIT(30)
#define CR0_PG         BIT(31)
#define CR4_PAE        BIT(5)
#define CR4_PGE        BIT(7)
#define CR4_OSFXSR     BIT(9)
#define CR4_OSXMMEXCPT BIT(10)
#define CR4_VMXE       BIT(13)
#define CR4_PCIDE      BIT(17)
#define CR4_OSXSAVE    BIT(18)
#define CR4_PKE        BIT(22)
#define EFER_LME       BIT(8)
#define EFER_LMA       BIT(10)
#define EFER_NXE       BIT(11)
#define RFLAGS_TF      BIT(8)
#define RFLAGS_IF      BIT(9)
#define RFLAGS_RF      BIT(16)

struct cpuid_regs {
	u32 eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(u32 leaf, u32 subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid"
	                 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
	                 : "a"(leaf), "c"(subleaf));
	return r;
}

#define DEFINE_CR(n)                                                                               \
	static inline u64 read_cr##n(void)                                                         \
	{                                                                                          \
		u64 v;                                                                             \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));                                  \
		return v;                                                                          \
	}                                                                                          \
	static inline void write_cr##n(u64 v)                                                      \
	{                                                                                          \
		__asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory");                           \
	}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

#define DEFINE_DR(n)                                                                               \
	static inline void write_dr##n(u64 v)                                                      \
	{                                                                                          \
		__asm__ volatile("mov %0, %%db" #n ::"r"(v));                                      \
	}
DEFINE_DR(0)
DEFINE_DR(1)
DEFINE_DR(2)
DEFINE_DR(3)
DEFINE_DR(6)
#undef DEFINE_DR

/* Load the x87, MMX and SSE registers and MXCSR from a 512-byte, 16-aligned FXSAVE image.
 * The kernel itself never uses them (-mno-sse); this is for guest state only. */
static inline void fxrstor64(const void *image)
{
	__asm__ volatile("fxrstor64 %0" ::"m"(*(const u8(*)[512])image));
}

/* WRPKRU (needs CR4.PKE): the protection-key rights of user-mode pages. */
static inline void wrpkru(u32 pkru)
{
	__asm__ volatile("wrpkru" : : "a"(pkru), "c"(0), "d"(0) : "memory");
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline void int3(void)
{
	__asm__ volatile("int3");
}
/* After a VM exit caused by an NMI the CPU keeps blocking NMIs until the next IRET: execute
 * one (to the next instruction) so the following kick can get through. */
static inline void nmi_unblock(void)
{
	__asm__ volatile("movq %%rsp, %%rax\n\t"
	                 "pushq $0x10\n\t"
	                 "pushq %%rax\n\t"
	                 "pushfq\n\t"
	                 "pushq $0x08\n\t"
	                 "leaq 1f(%%rip), %%rax\n\t"
	                 "pushq %%rax\n\t"
	                 "iretq\n"
	                 "1:" ::
	                         : "rax", "memory", "cc");
}

static inline void invlpg(hva_t va)
{
	__asm__ volatile("invlpg (%0)" ::"r"(va) : "memory");
}

static inline u64 read_rflags(void)
{
	u64 f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

/* String instructions: emulators execute rep movs/stos in bulk, byte loops one by one. */
static inline void rep_stosb(void *dst, u8 v, size_t n)
{
	__asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(v) : "memory");
}

static inline void rep_stosq(void *dst, u64 v, size_t n)
{
	__asm__ volatile("rep stosq" : "+D"(dst), "+c"(n) : "a"(v) : "memory");
}

static inline void rep_movsb(void *dst, const void *src, size_t n)
{
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n)::"memory");
}

struct PACKED desc_ptr {
	u16 limit;
	u64 base;
};

static inline void lgdt(const struct desc_ptr *p)
{
	__asm__ volatile("lgdt %0" ::"m"(*p));
}
static inline void lidt(const struct desc_ptr *p)
{
	__asm__ volatile("lidt %0" ::"m"(*p));
}
static inline void ltr(u16 sel)
{
	__asm__ volatile("ltr %0" ::"r"(sel));
}
static inline void sgdt(struct desc_ptr *p)
{
	__asm__ volatile("sgdt %0" : "=m"(*p));
}
static inline void sidt(struct desc_ptr *p)
{
	__asm__ volatile("sidt %0" : "=m"(*p));
}

static inline u16 read_tr(void)
{
	u16 s;
	__asm__ volatile("str %0" : "=r"(s));
	return s;
}

NORETURN static inline void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

#endif
