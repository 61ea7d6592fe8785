/*
 * Nothing a VMCS names is pinned: while a PC guest on two vCPUs runs its LAPIC timer and
 * IPI round trips (pcmb1 apicloop=N), the host task on CPU 0 moves the VM's APIC-access page
 * (through vm_migrate_page on its gfn, the call that once freed a frame every VMCS still
 * named) and each vCPU's virtual-APIC page, APIC_MOVES times each. After every move it
 * checks that no VMCS that may still be entered names a freed frame. The guest's output must
 * stay QEMU's (tests/harness/test_pcguests.py); the moves survived go out as @json.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "pc/pc.h"
#include "scenarios/experiments.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs_pages.h"

#define APIC_MOVES 100

/* Every vCPU has entered its guest once (the AP only after its SIPI): both take interrupts. */
static bool all_launched(struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++)
		/* RELAXED: a hint to start; the moves synchronise with the vCPUs themselves. */
		if (!__atomic_load_n(&vm->vcpus[i]->launched, __ATOMIC_RELAXED))
			return false;
	return true;
}

static bool freed(hpa_t pa)
{
	return pa && pa != INVALID_HPA && frame_is_free(&frames, hpa_to_hfn(pa));
}

/* Frames named by a VMCS that may still be entered (or due to the next one) yet free in the
 * allocator: a use-after-free by the CPU. Between moves, so every vCPU has acknowledged. */
static int named_but_free(struct vm *vm)
{
	int n = freed(vm_apic_access_hpa(vm));

	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = vm->vcpus[i];

		/* ACQUIRE: pairs with vcpu_set_*'s release. */
		if (__atomic_load_n(&v->state, __ATOMIC_ACQUIRE) != VCPU_RUNNING)
			continue;
		n += freed(__atomic_load_n(&v->vmcs_apic_access, __ATOMIC_ACQUIRE));
		n += freed(__atomic_load_n(&v->vmcs_virtual_apic, __ATOMIC_ACQUIRE));
	}
	return n;
}

void pc_apic_moves_host(struct vm *vm, const struct scenario *sc)
{
	u64 moves = 0, vmoves = 0, bad = 0, vcpus_busy = 0;
	u64 t0, cycles = 0;
	bool running;
	int err = 0;

	(void)sc;
	while (!vm->stopping && !all_launched(vm))
		cpu_relax();
	t0 = rdtsc();
	while (!vm->stopping && !err &&
	       (moves < APIC_MOVES || vmoves < APIC_MOVES * (u64)vm->nvcpus)) {
		err = vm_migrate_page(vm, gpa_to_gfn(PC_APIC_GPA));
		moves += !err;
		bad += named_but_free(vm);
		for (int i = 0; !err && i < vm->nvcpus; i++) {
			int r = vm_move_virtual_apic_page(vm->vcpus[i]);

			vmoves += !r;
			vcpus_busy += r == -EBUSY; /* that vCPU stopped first: not an error */
			if (r && r != -EBUSY)
				err = r;
		}
		bad += named_but_free(vm);
	}
	cycles = rdtsc() - t0;
	/* The moves must overlap the guest's timer and IPI rounds, not follow its end. */
	running = !vm->stopping && !pc_vm_of(vm)->ended;
	wait_vcpus_done(vm);
	printk("@json {\"apic_moves\":\"%s\",\"platform\":\"%s\",\"apic_access_moves\":%lu,"
	       "\"virtual_apic_moves\":%lu,\"vmcs_named_but_free\":%lu,\"vcpus_stopped_first\":%lu,"
	       "\"error\":%d,\"cycles_per_round\":%lu,\"guest_ran_throughout\":%s}\n",
	       vm->name, vmx_settings.platform, moves, vmoves, bad, vcpus_busy, err,
	       moves ? cycles / moves : 0, running ? "true" : "false");
	vm_check(vm, VM_CHECK_HOST,
	         running && moves >= APIC_MOVES && vmoves >= APIC_MOVES * (u64)vm->nvcpus,
	         "APIC-access page moved %lu times, virtual-APIC pages %lu times, the guest %s "
	         "(error %d)",
	         moves, vmoves, running ? "still running" : "already ended", err);
	vm_check(vm, VM_CHECK_HOST, bad == 0,
	         "no VMCS named a freed frame after any move (%lu did)", bad);
}
