/* The exit/fault trace (see trace.h). */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/exit.h"
#include "vmx/settings.h"
#include "vmx/trace.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"

static const char *const fault_names[] = {
	"fixed_fast", "spurious", "fixed_slow", "not_present", "busy", "violation",
};

const char *fault_result_name(int r)
{
	return r >= 0 && r < (int)ARRAY_SIZE(fault_names) ? fault_names[r] : "error";
}

bool trace_active;

void trace_vm_init(struct vm *vm)
{
	/* RELAXED: see trace_on(); every VM stores the same value. */
	__atomic_store_n(&trace_active, vmx_settings.trace != TRACE_MODE_OFF, __ATOMIC_RELAXED);
	if (vmx_settings.trace == TRACE_MODE_RING)
		vm->trace = kzalloc(sizeof(*vm->trace));
}

static void print_event(const char *vm_name, const struct trace_event *e)
{
	if (e->reason == TRACE_FAULT)
		printk("trace: %s/%u tsc %lu fault gpa 0x%lx -> %s\n", vm_name, e->vcpu, e->tsc,
		       e->info, fault_result_name(e->result));
	else
		printk("trace: %s/%u tsc %lu exit %s rip 0x%lx qual 0x%lx\n", vm_name, e->vcpu,
		       e->tsc, exit_reason_name(e->reason), e->rip, e->info);
}

static void record(struct vcpu *v, const struct trace_event *e)
{
	struct trace_ring *ring = v->vm->trace;

	if (ring) {
		/* RELAXED: vCPUs only need distinct slots; the dump runs after they stopped. */
		u64 slot = __atomic_fetch_add(&ring->head, 1, __ATOMIC_RELAXED) % TRACE_RING;

		ring->ev[slot] = *e;
	} else if (vmx_settings.trace == TRACE_MODE_ON) {
		print_event(v->vm->name, e);
	}
}

void trace_exit_record(struct vcpu *v, u32 reason)
{
	struct trace_event e = { 0, 0, 0, (u16)v->id, (u16)reason, 0 };

	if (!v->vm->trace && vmx_settings.trace != TRACE_MODE_ON)
		return;
	e.tsc = rdtsc();
	e.rip = vmcs_read(GUEST_RIP);
	e.info = vmcs_read(EXIT_QUALIFICATION);
	record(v, &e);
}

void trace_fault_record(struct vcpu *v, u64 gpa, int result)
{
	struct trace_event e = { 0, 0, gpa, (u16)v->id, TRACE_FAULT, (s16)result };

	if (!v->vm->trace && vmx_settings.trace != TRACE_MODE_ON)
		return;
	e.tsc = rdtsc();
	record(v, &e);
}

void trace_vm_dump(struct vm *vm)
{
	struct trace_ring *ring = vm->trace;
	u64 first;

	if (!ring)
		return;
	first = ring->head > TRACE_RING ? ring->head - TRACE_RING : 0;
	printk("trace: last %lu of %lu events of VM '%s':\n", ring->head - first, ring->head,
	       vm->name);
	for (u64 i = first; i < ring->head; i++)
		print_event(vm->name, &ring->ev[i % TRACE_RING]);
	kfree(ring, sizeof(*ring));
	vm->trace = NULL;
}
