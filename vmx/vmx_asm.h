/*
 * The VMX instructions as inline wrappers. Each returns 0 on success, VMX_FAIL_INVALID when
 * the instruction set CF (no current VMCS / bad pointer) and VMX_FAIL_VALID when it set ZF
 * (the reason is in the VM-instruction error field).
 */
#ifndef EPTVISOR_VMX_VMX_ASM_H
#define EPTVISOR_VMX_VMX_ASM_H

#include "types.h"

#define VMX_FAIL_INVALID 1
#define VMX_FAIL_VALID   2

/* setbe/sete after a VMX instruction: CF=1 -> invalid, ZF=1 -> valid failure. */
#define VMX_RESULT(cf, zf) ((cf) ? VMX_FAIL_INVALID : (zf) ? VMX_FAIL_VALID : 0)

static inline int vmxon(hpa_t pa)
{
	u8 cf, zf;

	__asm__ volatile("vmxon %2; setc %0; setz %1"
	                 : "=r"(cf), "=r"(zf)
	                 : "m"(pa)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

static inline int vmxoff(void)
{
	u8 cf, zf;

	__asm__ volatile("vmxoff; setc %0; setz %1" : "=r"(cf), "=r"(zf)::"cc", "memory");
	return VMX_RESULT(cf, zf);
}

static inline int vmclear(hpa_t pa)
{
	u8 cf, zf;

	__asm__ volatile("vmclear %2; setc %0; setz %1"
	                 : "=r"(cf), "=r"(zf)
	                 : "m"(pa)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

static inline int vmptrld(hpa_t pa)
{
	u8 cf, zf;

	__asm__ volatile("vmptrld %2; setc %0; setz %1"
	                 : "=r"(cf), "=r"(zf)
	                 : "m"(pa)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

/* The current VMCS of this CPU (INVALID: all ones). For assertions. */
static inline hpa_t vmptrst(void)
{
	hpa_t pa;

	__asm__ volatile("vmptrst %0" : "=m"(pa) : : "memory");
	return pa;
}

static inline int vmread_raw(u64 field, u64 *val)
{
	u8 cf, zf;

	__asm__ volatile("vmread %3, %0; setc %1; setz %2"
	                 : "=rm"(*val), "=r"(cf), "=r"(zf)
	                 : "r"(field)
	                 : "cc");
	return VMX_RESULT(cf, zf);
}

static inline int vmwrite_raw(u64 field, u64 val)
{
	u8 cf, zf;

	__asm__ volatile("vmwrite %3, %2; setc %0; setz %1"
	                 : "=r"(cf), "=r"(zf)
	                 : "r"(field), "rm"(val)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

#define INVEPT_SINGLE 1
#define INVEPT_ALL    2

static inline int invept(u64 type, u64 eptp)
{
	struct {
		u64 eptp, zero;
	} desc = { eptp, 0 };
	u8 cf, zf;

	__asm__ volatile("invept %2, %3; setc %0; setz %1"
	                 : "=r"(cf), "=r"(zf)
	                 : "m"(desc), "r"(type)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

#define INVVPID_SINGLE 1
#define INVVPID_ALL    2

static inline int invvpid(u64 type, u16 vpid)
{
	struct {
		u64 vpid, gva;
	} desc = { vpid, 0 };
	u8 cf, zf;

	__asm__ volatile("invvpid %2, %3; setc %0; setz %1"
	                 : "=r"(cf), "=r"(zf)
	                 : "m"(desc), "r"(type)
	                 : "cc", "memory");
	return VMX_RESULT(cf, zf);
}

#endif
