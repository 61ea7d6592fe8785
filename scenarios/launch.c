/*
 * VM specs and the one call that launches them (see launch.h):
 *
 *   vm_launch: admit (can the memory be backed?) -> vm_create -> load the guest (the test
 *              guest's image and page tables, or pc_vm_load) -> the scenario's set-up
 *              -> one vCPU each (the platform's vcpu_init gives a PC vCPU its local APIC)
 *
 * Nothing here runs a vCPU or judges anything: that is scenarios/runner.c.
 */
#include "drivers/console.h"
#include "errno.h"
#include "hypercall.h"
#include "hypercall/testguest.h"
#include "lib.h"
#include "mm/mm.h"
#include "pc/pc.h"
#include "scenarios/launch.h"
#include "scenarios/scenario.h"
#include "vmx/vcpu.h"

/* Host memory kept back besides a guest's RAM: the hypervisor's own allocations, vCPU pages;
 * the EPT tables are counted apart (RAM / 256 covers 4K leaves and the levels above). */
#define ADMIT_RESERVE (16 * MIB)

extern const u8 guest_image_start[], guest_image_end[];

void vm_spec_pc_kernel(struct vm_spec *s, const char *kernel, const char *args, const char *mods,
                       module_finder find)
{
	struct pc_spec *k = &s->kernel;
	const struct boot_module *m = find(kernel, strlen(kernel));

	s->guest = VM_PC_KERNEL;
	*k = (struct pc_spec){ .name = kernel, .args = args ? args : "" };
	if (m) {
		k->image = m->data;
		k->image_len = m->size;
	}
	/* The loader refuses the first problem in this order: stop at it. */
	for (const char *w = mods ? mods : ""; *w;) {
		const char *end = strchr(w, ',');
		size_t n = end ? (size_t)(end - w) : strlen(w);
		const struct boot_module *mod = n ? find(w, n) : NULL;

		if (n && !mod) {
			k->missing = w;
			k->missing_len = (int)n;
			return;
		}
		if (mod && k->nmods == PC_MAX_MODS) {
			k->too_many = true;
			return;
		}
		if (mod)
			k->mods[k->nmods++] = mod;
		w += n + (end ? 1 : 0);
	}
}

void vm_spec_pc_initrd(struct vm_spec *s, const char *name, module_finder find)
{
	struct pc_spec *k = &s->kernel;
	size_t n = name ? strlen(name) : 0;

	if (!n || k->missing) /* the first missing name is the one refused */
		return;
	k->initrd = find(name, n);
	if (!k->initrd) {
		k->missing = name;
		k->missing_len = (int)n;
	}
}

void vm_spec_from_row(struct vm_spec *s, const struct scenario *sc, module_finder find)
{
	*s = (struct vm_spec){
		.name = sc->name,
		.guest = VM_TEST_GUEST,
		.test = sc->test,
		.vcpus = sc->vcpus,
		.mem = sc->mem,
		.budget = sc->budget ? sc->budget : DEFAULT_BUDGET,
		.setup = sc->setup,
		.setup_arg = sc->setup_arg,
		.sc = sc,
		.load_only = sc->expect == EXPECT_REFUSED,
	};
	/* Host-task scenarios run for `rounds` rounds: their guests need time in proportion. */
	if (sc->host && sc->rounds > 50)
		s->budget *= (sc->rounds + 49) / 50;
	if (sc->kernel) {
		vm_spec_pc_kernel(s, sc->kernel, sc->kargs, sc->kmods, find);
		vm_spec_pc_initrd(s, sc->kinitrd, find);
		s->kernel.page_level = sc->page_level;
		s->kernel.store_bytes = sc->store;
		s->kernel.kvm_pv = sc->kvm_pv;
		s->kernel.pku = sc->pku;
	}
}

void vm_launch_init(void)
{
	if (pc_platform_init())
		printk("pc: out of memory for the PC platform's shared pages\n");
}

/* Can the spec's guest RAM be backed? Refused (-E2BIG, why set) if not. */
static int admit(const struct vm_spec *spec, char *why, size_t n)
{
	u64 free = frame_free_count(&frames) * PAGE_SIZE, mem = spec->mem;
	u64 need = mem + mem / 256 + ADMIT_RESERVE;

	if (spec->guest == VM_PC_KERNEL && mem > PC_RAM_MAX) {
		snprintf(why, n,
		         "guest memory %lu MiB refused: a PC guest has at most %llu MiB "
		         "(RAM ends below the PCI hole; the local APIC page at 0xfee00000 and "
		         "the BIOS flash stay outside it)",
		         mem >> 20, PC_RAM_MAX >> 20);
		return -E2BIG;
	}
	if (spec->guest == VM_PC_KERNEL && spec->kernel.store_bytes &&
	    (spec->kernel.store_bytes % PAGE_SIZE || spec->kernel.store_bytes + SZ_2M > mem)) {
		snprintf(why, n,
		         "a slow store of %lu KiB refused: it must be whole pages and leave at "
		         "least 2 MiB of the %lu MiB of guest memory outside it",
		         spec->kernel.store_bytes >> 10, mem >> 20);
		return -EINVAL;
	}
	if (need > free) {
		snprintf(why, n,
		         "guest memory %lu MiB refused: it cannot be backed (%lu MiB of "
		         "host memory free, %lu MiB needed with EPT tables and a %lu MiB reserve)",
		         mem >> 20, free >> 20, need >> 20, (u64)ADMIT_RESERVE >> 20);
		return -E2BIG;
	}
	return 0;
}

/* The test guest: identity page tables for 0..4 GiB (2M pages) at GUEST_PT_GPA, and the
 * image at GUEST_LOAD_GPA. */
static int load_test_guest(struct vm *vm)
{
	u64 *pml4 = vm_gpa_to_hva(vm, GUEST_PT_GPA);
	u64 *pdpt = vm_gpa_to_hva(vm, GUEST_PT_GPA + 0x1000);
	u64 image_len = (u64)guest_image_end - (u64)guest_image_start;

	if (!pml4 || !pdpt)
		return -EFAULT;
	pml4[0] = (GUEST_PT_GPA + 0x1000) | 3;
	for (u64 i = 0; i < 4; i++) {
		gpa_t pd_gpa = GUEST_PT_GPA + 0x2000 + i * 0x1000;
		u64 *pd = vm_gpa_to_hva(vm, pd_gpa);

		if (!pd)
			return -EFAULT;
		pdpt[i] = pd_gpa | 3;
		for (u64 j = 0; j < 512; j++)
			pd[j] = (i * SZ_1G + j * SZ_2M) | 0x83; /* present, writable, 2M */
	}
	return vm_copy_to_guest(vm, GUEST_LOAD_GPA, guest_image_start, image_len);
}

static int load(struct vm *vm, const struct vm_spec *spec)
{
	struct pc_spec k = spec->kernel;

	if (spec->guest == VM_TEST_GUEST)
		return load_test_guest(vm);
	k.ncpus = spec->vcpus;
	return pc_vm_load(vm, &k);
}

static int set_up(struct vm *vm, const struct vm_spec *spec)
{
	int err = spec->setup ? spec->setup(vm) : 0;

	if (!err && spec->setup_arg)
		err = spec->setup_arg(vm, spec->sc);
	return err;
}

/* vCPU i starts at the test guest's entry with its own stack and RDI = the test program
 * (a PC VM's start state replaces this: pc_setup_guest_state). */
static int create_vcpus(struct vm *vm, const struct vm_spec *spec)
{
	for (int i = 0; i < spec->vcpus; i++) {
		vm->vcpus[i] = vcpu_create(vm, i, GUEST_LOAD_GPA,
		                           GUEST_STACK_TOP - (u64)i * GUEST_STACK_SIZE, spec->test);
		if (!vm->vcpus[i])
			return -ENOMEM;
		vm->nvcpus++;
	}
	return 0;
}

int vm_launch(const struct vm_spec *spec, struct vm **vmp, char *why, size_t n)
{
	struct vm *vm;
	int err;

	*vmp = NULL;
	why[0] = '\0';
	err = admit(spec, why, n);
	if (err)
		return err;
	/* A PC VM's store slot is the top of its RAM (pc_vm_load adds it). */
	vm = vm_create(spec->name,
	               spec->mem - (spec->guest == VM_PC_KERNEL ? spec->kernel.store_bytes : 0),
	               spec->guest == VM_PC_KERNEL ? &pc_vm_ops : &testguest_ops);
	if (!vm) {
		snprintf(why, n, "out of memory creating the VM");
		return -ENOMEM;
	}
	*vmp = vm;
	vm->budget = spec->budget;
	err = load(vm, spec);
	if (!err && !spec->load_only)
		err = set_up(vm, spec);
	if (!err && !spec->load_only)
		err = create_vcpus(vm, spec);
	if (err)
		snprintf(why, n, "%s", vm->setup_why);
	return err;
}
