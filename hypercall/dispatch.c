/*
 * Hypercalls (ABI in include/hypercall.h). Every handler validates its arguments before it
 * touches anything: lengths are bounded first, then guest buffers are copied through
 * vm_copy_*, which refuses any page outside the VM's memslots. A bad call gets -errno.
 */
#include "drivers/console.h"
#include "errno.h"
#include "hypercall.h"
#include "hypercall/bench.h"
#include "hypercall/mm.h"
#include "hypercall/testguest.h"
#include "lib.h"
#include "vmx/exit.h"
#include "vmx/report.h"
#include "vmx/vcpu.h"

typedef s64 (*hc_fn)(struct vcpu *v, u64 a0, u64 a1, u64 a2);

static s64 hc_nop(struct vcpu *v, u64 a0, u64 a1, u64 a2)
{
	(void)v, (void)a0, (void)a1, (void)a2;
	return 0;
}

static s64 hc_exit(struct vcpu *v, u64 code, u64 a1, u64 a2)
{
	(void)a1, (void)a2;
	v->exit_code = (s64)code;
	/* RELEASE: pairs with wait_vcpus_done(); the guest's writes happened before. */
	__atomic_store_n(&v->state, VCPU_EXITED, __ATOMIC_RELEASE);
	return 0;
}

/* Copy a guest string of len <= max into buf (NUL-terminated, unprintables as '.'). */
static s64 copy_guest_string(struct vcpu *v, char *buf, u64 gpa, u64 len, u64 max)
{
	if (len > max)
		return -E2BIG;
	if (vm_copy_from_guest(v->vm, buf, gpa, len))
		return -EFAULT;
	buf[len] = '\0';
	for (u64 i = 0; i < len; i++)
		if (buf[i] < 32 || buf[i] > 126)
			buf[i] = (buf[i] == '\n' && i == len - 1) ? '\0' : '.';
	return (s64)len;
}

static s64 hc_puts(struct vcpu *v, u64 gpa, u64 len, u64 a2)
{
	char buf[HC_PUTS_MAX + 1];
	s64 n = copy_guest_string(v, buf, gpa, len, HC_PUTS_MAX);

	(void)a2;
	if (n >= 0)
		vm_guest_line(v->vm, v->id, buf);
	return n;
}

static s64 hc_check(struct vcpu *v, u64 ok, u64 gpa, u64 len)
{
	char name[HC_NAME_MAX + 1];
	s64 n = copy_guest_string(v, name, gpa, len, HC_NAME_MAX);

	if (n < 0)
		return n;
	vm_check(v->vm, v->id, ok, "%s", name);
	return 0;
}

static s64 hc_gpa_level(struct vcpu *v, u64 gpa, u64 a1, u64 a2)
{
	int level = 0;

	(void)a1, (void)a2;
	if (!vm_find_slot(v->vm, gpa_to_gfn(gpa)))
		return -EFAULT;
	if (!ept_lookup(&v->vm->ept, gpa_to_gfn(gpa), &level))
		return -ENOENT;
	return level;
}

static s64 hc_vcpu_id(struct vcpu *v, u64 a0, u64 a1, u64 a2)
{
	(void)a0, (void)a1, (void)a2;
	return v->id | (v->vm->nvcpus << 16);
}

static s64 hc_stats(struct vcpu *v, u64 gpa, u64 size, u64 a2)
{
	struct hc_stats out = { 0 };
	struct vcpu_stats sum;

	(void)a2;
	if (size != sizeof(out))
		return -EINVAL;
	vm_sum_vcpu_stats(v->vm, &sum);
	for (int i = 0; i < EXIT_REASONS; i++)
		out.exits += sum.exits[i];
	out.ept_violations = sum.exits[EXIT_EPT_VIOLATION];
	out.populates = v->vm->stats.populates;
	out.hypercalls = v->vm->stats.hypercalls;
	return vm_copy_to_guest(v->vm, gpa, &out, sizeof(out)) ? -EFAULT : 0;
}

static const hc_fn hypercalls[HC_COUNT] = {
	[HC_NOP] = hc_nop,     [HC_EXIT] = hc_exit,           [HC_PUTS] = hc_puts,
	[HC_CHECK] = hc_check, [HC_GPA_LEVEL] = hc_gpa_level, [HC_VCPU_ID] = hc_vcpu_id,
	[HC_STATS] = hc_stats, [HC_IDLE_SCAN] = hc_idle_scan, [HC_DIRTY_LOG] = hc_dirty_log,
	[HC_BENCH] = hc_bench,
};

void hypercall_dispatch(struct vcpu *v)
{
	struct guest_regs *r = &v->regs;
	u64 nr = r->rax;
	s64 ret = nr < HC_COUNT ? hypercalls[nr](v, r->rdi, r->rsi, r->rdx) : -ENOSYS;

	STAT_INC(v->vm, hypercalls);
	if (ret < 0)
		STAT_INC(v->vm, hypercall_errors);
	r->rax = (u64)ret;
	vcpu_skip_instruction();
}
