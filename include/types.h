/*
 * Basic types shared by every part of eptvisor: the kernel (freestanding) and the host
 * tests (hosted) include the same header, so only compiler-provided headers are used.
 *
 * Address legend (typed as in KVM):
 *   gpa_t  guest-physical address      gfn_t  guest frame number   (gpa >> 12)
 *   hpa_t  host-physical address       hfn_t  host frame number    (hpa >> 12)
 *   gva_t  guest-virtual address       hva_t  hypervisor-virtual address (a pointer value)
 */
#ifndef EPTVISOR_TYPES_H
#define EPTVISOR_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

typedef u64 gpa_t;
typedef u64 gfn_t;
typedef u64 hpa_t;
typedef u64 hfn_t;
typedef u64 gva_t;
typedef u64 hva_t;

#define PAGE_SHIFT    12
#define PAGE_SIZE     (1ULL << PAGE_SHIFT)
#define PAGE_MASK     (~(PAGE_SIZE - 1))
#define HUGE_2M_SHIFT 21
#define HUGE_1G_SHIFT 30
#define SZ_2M         (1ULL << HUGE_2M_SHIFT)
#define SZ_1G         (1ULL << HUGE_1G_SHIFT)

#define INVALID_GPA (~0ULL)
#define INVALID_HPA (~0ULL)
#define INVALID_GFN (~0ULL)
#define INVALID_HFN (~0ULL)

static inline gfn_t gpa_to_gfn(gpa_t gpa)
{
	return gpa >> PAGE_SHIFT;
}
static inline gpa_t gfn_to_gpa(gfn_t gfn)
{
	return gfn << PAGE_SHIFT;
}
static inline hfn_t hpa_to_hfn(hpa_t hpa)
{
	return hpa >> PAGE_SHIFT;
}
static inline hpa_t hfn_to_hpa(hfn_t hfn)
{
	return hfn << PAGE_SHIFT;
}

#define ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)   (((x) + (a)-1) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)
#define MIN(a, b)        ((a) < (b) ? (a) : (b))
#define MAX(a, b)        ((a) > (b) ? (a) : (b))
#define BIT(n)           (1ULL << (n))
#define UNUSED           __attribute__((unused))
#define PACKED           __attribute__((packed))
#define NORETURN         __attribute__((noreturn))

#endif
