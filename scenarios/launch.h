/*
 * Launching a VM is one call. A struct vm_spec says all there is to say about a VM: what
 * runs in it (eptvisor's own test guest, or an unmodified multiboot kernel given as its
 * bytes, command line and modules), its vCPUs, memory and budget, and the set-up a scenario
 * does before the vCPUs exist. vm_launch() checks that the memory can be backed, creates the
 * VM, loads the guest, runs that set-up and creates the vCPUs, or says by name why not.
 *
 * Specs come from two places: boot/ turns guest= and its options into one (the user's
 * kernel, found among the boot loader's modules), and vm_spec_from_row() turns a row of the
 * scenario table into one. scenarios/runner.c runs, judges and reports either the same way.
 */
#ifndef EPTVISOR_SCENARIOS_LAUNCH_H
#define EPTVISOR_SCENARIOS_LAUNCH_H

#include "bootmod.h"
#include "pc/pc.h"
#include "vmx/vm.h"

struct scenario;

/* The boot loader's module the first len bytes of name pick (its path, or the path's last
 * part), or NULL. Boot's lookup (boot/main.c), handed down with the boot's request. */
typedef const struct boot_module *(*module_finder)(const char *name, size_t len);

enum vm_guest {
	VM_TEST_GUEST, /* eptvisor's own test guest (guests/): every vCPU runs program `test` */
	VM_PC_KERNEL,  /* a multiboot kernel on the PC platform (pc/pc.h): `kernel` */
};

struct vm_spec {
	const char *name; /* the VM's name, in every log and @json line */
	enum vm_guest guest;
	int test;              /* VM_TEST_GUEST: the GT_* program (include/guest_tests.h) */
	struct pc_spec kernel; /* VM_PC_KERNEL (vm_spec_pc_kernel); vm_launch sets its ncpus */
	int vcpus;
	u64 mem;    /* guest RAM, bytes */
	u64 budget; /* preemption-timer ticks each vCPU may run */
	/* A scenario's own set-up, after the load and before the vCPUs exist (memslots, PML,
	 * the test knobs of struct vm): setup(vm), then setup_arg(vm, sc); NULL: none. */
	int (*setup)(struct vm *vm);
	int (*setup_arg)(struct vm *vm, const struct scenario *sc);
	const struct scenario *sc;
	bool load_only; /* a loader test: stop after the load (no set-up, no vCPUs) */
};

/* Make s a PC kernel's spec: the module `kernel` names, its command line `args` (NULL:
 * none) and the modules the comma-separated `mods` name, all found with find. A name no
 * module answers to is kept as such: the loader refuses it by name when the VM launches. */
void vm_spec_pc_kernel(struct vm_spec *s, const char *kernel, const char *args, const char *mods,
                       module_finder find);
/* A Linux kernel's initrd: the module `name` names (NULL or "": none). A name no module
 * answers to is kept as a missing module, as vm_spec_pc_kernel keeps one. */
void vm_spec_pc_initrd(struct vm_spec *s, const char *name, module_finder find);
/* The spec of a scenario row, sc as the run sizes it (vcpus and mem set, rounds= applied;
 * runner.c); a PC kernel's modules are found with find. */
void vm_spec_from_row(struct vm_spec *s, const struct scenario *sc, module_finder find);

/* Once, before the first launch: the pages every PC VM shares. Out of memory is printed
 * here, and every PC VM is then refused by name. */
void vm_launch_init(void);

/*
 * Launch spec: on 0, *vmp is ready to run (its vCPUs created, none running; load_only:
 * loaded, no vCPUs). On a refusal, -errno and why names it:
 *   -E2BIG   before creating anything: the memory is more than the guest's platform has
 *            or than this host can back (memory is populated on first touch, so a VM that
 *            did not fit would die in the middle of its run)
 *   -ENOMEM  with *vmp NULL: no memory for the VM itself
 *   other    *vmp is the VM as far as it got: the load or the set-up refused; why is what
 *            that step said ("" if it said nothing: the error says it). The loader's
 *            errors are in pc/pc.h (pc_vm_load), -ENODEV a VMX feature missing.
 * Whenever *vmp is set, the caller frees it with vm_destroy() (no vCPU may be running).
 */
int vm_launch(const struct vm_spec *spec, struct vm **vmp, char *why, size_t n);

#endif
