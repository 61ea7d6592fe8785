/*
 * A module the boot loader loaded beside the kernel, as plain data: its string (GRUB: the
 * path and any arguments after it) and its bytes in hypervisor memory. boot/main.c lists
 * the loader's modules this way and hands them down; the PC loader (pc/vm.c) copies a
 * kernel image and its modules into a guest from them, knowing nothing of the loader.
 */
#ifndef EPTVISOR_BOOTMOD_H
#define EPTVISOR_BOOTMOD_H

#include "types.h"

struct boot_module {
	const char *name; /* the module's string: "/boot/guest.elf arg ..." */
	const void *data;
	u64 size;
};

#endif
