/*
 * Frames a VMCS names (see vmcs_pages.h): the APIC-access page in its private memslot, the
 * virtual-APIC pages, the requests that make each vCPU reload them, and the check that no
 * such frame is freed while a VMCS that may still be entered names it.
 *
 * The request protocol is the flush's (vmx/kick.c), and rides on it: the mover sets a bit in
 * v->requests and bumps vm->flush_gen (SEQ_CST both), then reads v->in_guest (SEQ_CST); the
 * vCPU stores in_guest (SEQ_CST), then reads the generation and, when it moved, its requests
 * (SEQ_CST) before entering. So either the vCPU sees the bit before it
 * enters, or the mover sees it in guest mode and kicks it out; a vCPU clears a bit (RELEASE)
 * only after its VMCS names the new frame, which is the acknowledgement movers wait for.
 */
#include "arch/cpu.h"
#include "arch/percpu.h"
#include "drivers/console.h"
#include "ept/migrate.h"
#include "errno.h"
#include "kassert.h"
#include "lib.h"
#include "mm/mm.h"
#include "spinlock.h"
#include "vmx/vmcs.h"
#include "vmx/vmcs_pages.h"

/* One move at a time, VM-wide: a request bit is set again only after its last acknowledgement
 * (a vCPU clears exactly the bits it acted on). Taken only by host tasks. */
static spinlock_t move_lock = SPINLOCK_INIT;

static struct memslot *apic_slot(const struct vm *vm)
{
	for (int i = 0; i < vm->nslots; i++)
		if (vm->slots[i].vmcs_named)
			return (struct memslot *)&vm->slots[i];
	return NULL;
}

int vm_apic_access_init(struct vm *vm, gpa_t gpa)
{
	struct memslot *s;
	hpa_t pa;
	int err;

	if (vm->nslots == MAX_MEMSLOTS)
		return -ENOSPC;
	if (vm_find_slot(vm, gpa_to_gfn(gpa)))
		return -EEXIST;
	s = &vm->slots[vm->nslots];
	*s = (struct memslot){ .base_gfn = gpa_to_gfn(gpa), .npages = 1, .level = 1 };
	s->backing = kzalloc(sizeof(hfn_t));
	pa = alloc_zeroed_frame();
	if (!s->backing || pa == INVALID_HPA) {
		if (pa != INVALID_HPA)
			frame_free(&frames, hpa_to_hfn(pa));
		kfree(s->backing, sizeof(hfn_t));
		s->backing = NULL;
		return -ENOMEM;
	}
	s->backing[0] = hpa_to_hfn(pa);
	s->vmcs_named = true;
	vm->nslots++; /* counted now: vm_destroy frees the frame after the vCPUs */
	err = ept_map(&vm->ept, s->base_gfn, s->backing[0], 1, 1, APIC_ACCESS_PROT);
	return err;
}

hpa_t vm_apic_access_hpa(const struct vm *vm)
{
	const struct memslot *s = apic_slot(vm);

	/* ACQUIRE: pairs with the mover's release; the new frame is copied before it is named. */
	return s ? hfn_to_hpa(__atomic_load_n(&s->backing[0], __ATOMIC_ACQUIRE)) : INVALID_HPA;
}

bool vm_is_apic_access_gfn(const struct vm *vm, gfn_t gfn)
{
	const struct memslot *s = apic_slot(vm);

	return s && s->base_gfn == gfn;
}

bool vm_vmcs_names(const struct vm *vm, hpa_t pa)
{
	if (vm_apic_access_hpa(vm) == pa)
		return true;
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = vm->vcpus[i];

		/* ACQUIRE: pairs with the vCPU's release of state; a stopped vCPU's VMCS was
		 * cleared and is never entered again (vcpu_run). */
		if (__atomic_load_n(&v->state, __ATOMIC_ACQUIRE) != VCPU_RUNNING)
			continue;
		/* ACQUIRE: pairs with vcpu_set_*'s release: a field the vCPU wrote is seen. */
		if (__atomic_load_n(&v->vmcs_apic_access, __ATOMIC_ACQUIRE) == pa ||
		    __atomic_load_n(&v->vmcs_virtual_apic, __ATOMIC_ACQUIRE) == pa)
			return true;
	}
	return false;
}

/* Free a frame a VMCS named once: never while one still does (a use-after-free by the CPU,
 * which reads and writes these frames by host address). */
static void vmcs_frame_free(struct vm *vm, hpa_t pa)
{
	ASSERT(!vm_vmcs_names(vm, pa));
	if (vm_vmcs_names(vm, pa)) {
		printk("vmx: VM '%s': frame 0x%lx is still named by a VMCS: not freed\n", vm->name,
		       pa);
		return;
	}
	frame_free(&frames, hpa_to_hfn(pa));
}

void vcpu_set_apic_access(struct vcpu *v, hpa_t pa)
{
	vmcs_write(APIC_ACCESS_ADDR, pa);
	/* RELEASE: published after the VMCS names pa (vm_vmcs_names' acquire). */
	__atomic_store_n(&v->vmcs_apic_access, pa, __ATOMIC_RELEASE);
}

void vcpu_set_virtual_apic(struct vcpu *v, hpa_t pa)
{
	vmcs_write(VIRTUAL_APIC_ADDR, pa);
	/* RELEASE: as in vcpu_set_apic_access. */
	__atomic_store_n(&v->vmcs_virtual_apic, pa, __ATOMIC_RELEASE);
}

/* Copy the virtual APIC's registers to their new page and name it, on the vCPU's own CPU in
 * root mode: nothing else writes the page meanwhile (only this vCPU, in guest mode or here). */
static void virtual_apic_move_here(struct vcpu *v)
{
	/* ACQUIRE: pairs with the mover's release; the frame is allocated and zeroed. */
	hpa_t to = __atomic_load_n(&v->virtual_apic_next, __ATOMIC_ACQUIRE);

	memcpy(phys_to_virt(to), phys_to_virt(v->vmcs_virtual_apic), PAGE_SIZE);
	if (v->vm->ops->virtual_apic_moved)
		v->vm->ops->virtual_apic_moved(v, to);
	vcpu_set_virtual_apic(v, to);
}

void vcpu_take_requests(struct vcpu *v)
{
	/* SEQ_CST: the load half of the Dekker pair with a mover (file comment). */
	u32 req = __atomic_load_n(&v->requests, __ATOMIC_SEQ_CST);

	if (!req)
		return;
	if (req & VCPU_REQ_APIC_ACCESS)
		vcpu_set_apic_access(v, vm_apic_access_hpa(v->vm));
	if ((req & VCPU_REQ_VIRTUAL_APIC) && v->vmcs_virtual_apic)
		virtual_apic_move_here(v);
	/* RELEASE: the acknowledgement; the VMCS names the new frames before a mover sees it. */
	__atomic_fetch_and(&v->requests, ~req, __ATOMIC_RELEASE);
}

static void request(struct vcpu *v, u32 req)
{
	/* SEQ_CST: the store half of the Dekker pair (file comment). */
	__atomic_fetch_or(&v->requests, req, __ATOMIC_SEQ_CST);
	/* The vCPU looks at its requests only when the flush generation moved (vmx/kick.c):
	 * move it after the bit is set (SEQ_CST, like the bit); one extra INVEPT per move. */
	__atomic_add_fetch(&v->vm->flush_gen, 1, __ATOMIC_SEQ_CST);
	/* SEQ_CST: this load follows the request (file comment). */
	if (v->cpu != this_cpu_id() && __atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST))
		vcpu_kick(v);
}

/* Has v acted on request `req`, or is it gone for good? */
static bool acked(struct vcpu *v, u64 req)
{
	/* ACQUIRE: pairs with vcpu_take_requests' release (and the vCPU's release of state). */
	return !(__atomic_load_n(&v->requests, __ATOMIC_ACQUIRE) & req) ||
	       __atomic_load_n(&v->state, __ATOMIC_ACQUIRE) != VCPU_RUNNING;
}

/* Acted on req, or out of guest mode (then it acts on it before entering): what a kick
 * forces, so vcpu_kick_until never waits for v's own progress. */
static bool acked_or_out(struct vcpu *v, u64 req)
{
	/* SEQ_CST: as in request(). */
	return acked(v, req) || !__atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST);
}

/* Wait, offline and holding no lock a vCPU needs, until v acted on req (it does before its
 * next entry or while it waits in the hypervisor) or stopped. */
static void wait_acked(struct vcpu *v, u32 req)
{
	vcpu_kick_until(v, acked_or_out, req);
	while (!acked(v, req))
		cpu_relax();
}

struct apic_move {
	struct vm *vm;
	struct memslot *slot;
	hfn_t to;
};

/* ept_migrate_named's reload step, under the MMU lock held exclusive with the leaf absent
 * and the new frame a copy of the old: every vCPU in guest mode names the new frame when
 * this returns, every other one will before it enters. Waits only for kicked vCPUs to leave
 * guest mode (never for one that may be spinning for the MMU lock in root mode). */
static void reload_apic_access(void *arg)
{
	struct apic_move *m = arg;
	struct vm *vm = m->vm;

	/* Named only now, with the leaf absent: a vCPU that loaded the new frame earlier could
	 * have entered while the EPT still mapped the old one. RELEASE: pairs with
	 * vm_apic_access_hpa (the copy is done). */
	__atomic_store_n(&m->slot->backing[0], m->to, __ATOMIC_RELEASE);
	for (int i = 0; i < vm->nvcpus; i++)
		request(vm->vcpus[i], VCPU_REQ_APIC_ACCESS);
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i]->cpu != this_cpu_id())
			vcpu_kick_until(vm->vcpus[i], acked_or_out, VCPU_REQ_APIC_ACCESS);
}

int vm_move_apic_access_page(struct vm *vm)
{
	struct apic_move m = { .vm = vm, .slot = apic_slot(vm) };
	hfn_t old = INVALID_HFN;
	hpa_t to;
	int err;

	if (!m.slot)
		return -ENODEV;
	to = alloc_zeroed_frame();
	if (to == INVALID_HPA)
		return -ENOMEM;
	m.to = hpa_to_hfn(to);
	ept_spin_lock(&move_lock);
	err = ept_migrate_named(&vm->ept, m.slot->base_gfn, m.to, reload_apic_access, &m, &old);
	if (err) {
		spin_unlock(&move_lock);
		frame_free(&frames, m.to);
		return err;
	}
	/* The old frame goes once every VMCS that may still be entered names the new one. */
	for (int i = 0; i < vm->nvcpus; i++)
		wait_acked(vm->vcpus[i], VCPU_REQ_APIC_ACCESS);
	spin_unlock(&move_lock);
	vmcs_frame_free(vm, hfn_to_hpa(old));
	return 0;
}

int vm_move_virtual_apic_page(struct vcpu *v)
{
	/* ACQUIRE: pairs with vcpu_set_virtual_apic's release. */
	hpa_t old = __atomic_load_n(&v->vmcs_virtual_apic, __ATOMIC_ACQUIRE), to;

	if (!old)
		return -EAGAIN;
	to = alloc_zeroed_frame();
	if (to == INVALID_HPA)
		return -ENOMEM;
	ept_spin_lock(&move_lock);
	/* RELEASE: the zeroed frame is ready before the request names it. */
	__atomic_store_n(&v->virtual_apic_next, to, __ATOMIC_RELEASE);
	request(v, VCPU_REQ_VIRTUAL_APIC);
	wait_acked(v, VCPU_REQ_VIRTUAL_APIC);
	if (__atomic_load_n(&v->vmcs_virtual_apic, __ATOMIC_ACQUIRE) != to) {
		/* v stopped first: its VMCS never named `to`. */
		__atomic_fetch_and(&v->requests, ~VCPU_REQ_VIRTUAL_APIC, __ATOMIC_RELAXED);
		spin_unlock(&move_lock);
		frame_free(&frames, hpa_to_hfn(to));
		return -EBUSY;
	}
	spin_unlock(&move_lock);
	/* A grace period: another vCPU matching an IPI's destination may still be reading the
	 * old page's registers in root mode (devices/vlapic.c reads through lapic.regs). */
	ept_wait_walkers(&v->vm->ept);
	vmcs_frame_free(v->vm, old);
	return 0;
}
