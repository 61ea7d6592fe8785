/*
 * PC guests that are Linux: a bzImage given as guest= is loaded by the 32-bit boot protocol
 * (loader/bzimage.h plans it; this file copies the plan into guest RAM), with the module
 * guest_initrd= names as its initrd and guest_args= as its whole command line (Linux, unlike
 * QEMU's multiboot, is not given its own name first). The memory map in its zero page is the
 * one multiboot guests get (loader/mbinfo.h). vCPU 0 then starts in the multiboot state with
 * ESI = boot_params (pc/vm.c).
 */
#include "bootmod.h"
#include "drivers/console.h"
#include "errno.h"
#include "lib.h"
#include "loader/bzimage.h"
#include "mm/mm.h"
#include "pc/pc.h"
#include "vmx/vm.h"

static int copy_plan(struct vm *vm, const struct bz_plan *p, char *why, size_t n)
{
	for (int i = 0; i < p->ncopies; i++) {
		const struct bz_copy *c = &p->copy[i];
		int r = vm_copy_to_guest(vm, c->gpa, c->src, c->len);

		if (r) {
			snprintf(why, n,
			         "its %s (0x%lx bytes at gpa 0x%lx) could not be copied into guest "
			         "RAM (error %d%s)",
			         c->what, c->len, c->gpa, r,
			         r == -ENOMEM ? ": out of host memory" : "");
			return r;
		}
	}
	return 0;
}

int pc_linux_load(struct vm *vm, const struct pc_spec *spec, gpa_t *entry, gpa_t *params, char *why,
                  size_t n)
{
	struct bz_plan *p; /* 4 KiB of zero page: not on the stack */
	struct mb_mem_range map[MB_MEM_RANGES];
	char err[200];
	int r;

	if (spec->nmods) {
		snprintf(why, n,
		         "Linux kernel '%s': guest_mods= are multiboot modules; give its initrd "
		         "as guest_initrd=",
		         spec->name);
		return -EINVAL;
	}
	p = kzalloc(sizeof(*p));
	if (!p) {
		snprintf(why, n, "no host memory to plan the Linux kernel '%s'", spec->name);
		return -ENOMEM;
	}
	/* The map covers all RAM, a slow store at its top too (as for multiboot guests); what
	 * the loader copies stays in slot 0, below the store. */
	struct bz_guest g = { .map = map,
		              .nmap = mb_memory_map(to_pc_vm(vm)->ram, map),
		              .load_limit = vm->slots[0].npages * PAGE_SIZE,
		              .cmdline = spec->args,
		              .initrd = spec->initrd ? spec->initrd->data : NULL,
		              .initrd_len = spec->initrd ? spec->initrd->size : 0 };
	r = bz_plan_build(spec->image, spec->image_len, &g, p, err, sizeof(err));
	if (r) {
		snprintf(why, n, "kernel '%s' refused: %s", spec->name, err);
	} else {
		printk("pc: VM '%s': kernel '%s': Linux bzImage, boot protocol %u.%02u, 0x%lx "
		       "bytes at 0x%lx (init_size 0x%x), initrd %s%s0x%lx bytes at 0x%lx, "
		       "32-bit entry 0x%lx, boot_params 0x%lx\n",
		       vm->name, spec->name, p->hdr.version >> 8, p->hdr.version & 0xff,
		       p->hdr.kernel_bytes, p->load, p->hdr.init_size,
		       spec->initrd ? spec->initrd->name : "(none)", spec->initrd ? " " : ", ",
		       p->initrd_end - p->initrd, p->initrd, p->entry, p->boot_params);
		r = copy_plan(vm, p, why, n);
	}
	*entry = p->entry;
	*params = p->boot_params;
	kfree(p, sizeof(*p));
	return r;
}
