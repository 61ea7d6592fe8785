/*
 * kmain: what eptvisor does from the moment it runs C (boot/header.S calls it) to shutdown.
 *
 *   serial -> boot info -> CPU tables -> frames + page tables -> LAPIC, TSC -> options
 *   (the core's settings) -> APs -> VMX on every CPU -> scenarios (the request: options,
 *   guest= as a VM spec, the boot loader's modules) -> summary -> shutdown
 */
#include "arch/cpu.h"
#include "arch/lapic.h"
#include "arch/percpu.h"
#include "arch/smp.h"
#include "arch/trap.h"
#include "boot/cmdline.h"
#include "boot/options.h"
#include "bootinfo.h"
#include "bootmod.h"
#include "drivers/console.h"
#include "drivers/serial.h"
#include "drivers/timer.h"
#include "lib.h"
#include "mm/mm.h"
#include "scenarios/scenario.h"
#include "vmx/settings.h"
#include "vmx/vmx.h"

#define MB2_BOOT_MAGIC 0x36d76289
#define MB1_BOOT_MAGIC 0x2badb002

extern char kernel_stack_top[];

static struct boot_info bi;
/* The loader's modules as plain data (include/bootmod.h), what the layers below get. */
static struct boot_module modules[BOOT_MAX_MODS];

void kmain(u32 magic, u32 info_pa);

static void *boot_pa_to_va(u64 pa)
{
	return phys_to_virt(pa);
}

static void parse_boot_info(u32 magic, u32 info_pa)
{
	int err;

	if (magic == MB2_BOOT_MAGIC)
		err = mb2_parse(phys_to_virt(info_pa), info_pa, &bi);
	else if (magic == MB1_BOOT_MAGIC)
		err = mb1_parse(phys_to_virt(info_pa), info_pa, boot_pa_to_va, &bi);
	else
		panic("not started by a multiboot loader (magic 0x%x)", magic);
	if (err)
		panic("malformed multiboot%d information (error %d)",
		      magic == MB2_BOOT_MAGIC ? 2 : 1, err);
}

/* What the loader gave that did not fit, by name. A cut command line counts as a problem:
 * the options after the cut (guest=, platform=, ...) were never seen. */
static void report_truncation(void)
{
	if (bi.truncated & BOOT_TRUNC_CMDLINE) {
		printk("boot: command line truncated: longer than %d bytes, everything after byte "
		       "%d dropped\n",
		       BOOT_CMDLINE_MAX - 1, BOOT_CMDLINE_MAX - 1);
		opts.cmdline_problems++;
	}
	if (bi.truncated & BOOT_TRUNC_MEM)
		printk("boot: memory map truncated: only the first %d entries kept\n",
		       BOOT_MAX_MEM);
	if (bi.truncated & BOOT_TRUNC_MODS)
		printk("boot: modules truncated: only the first %d kept\n", BOOT_MAX_MODS);
	if (bi.truncated & BOOT_TRUNC_NAME)
		printk("boot: a module string or the loader name was truncated to %d bytes\n",
		       (int)sizeof(bi.mods[0].name) - 1);
}

static void print_boot_info(void)
{
	printk("boot: multiboot%d, loader '%s', command line '%s'\n", bi.proto, bi.loader,
	       bi.cmdline);
	for (int i = 0; i < bi.nmem; i++)
		printk("boot: mem %016lx-%016lx %s\n", bi.mem[i].base,
		       bi.mem[i].base + bi.mem[i].len - 1,
		       bi.mem[i].type == 1 ? "usable" : "reserved");
	for (int i = 0; i < bi.nmods; i++)
		printk("boot: module %016lx-%016lx '%s'\n", bi.mods[i].start, bi.mods[i].end,
		       bi.mods[i].name);
}

/* modules[] from the boot info (bi.nmods of them). */
static void list_modules(void)
{
	for (int i = 0; i < bi.nmods; i++)
		modules[i] = (struct boot_module){ .name = bi.mods[i].name,
			                           .data = phys_to_virt(bi.mods[i].start),
			                           .size = bi.mods[i].end - bi.mods[i].start };
}

/* The module the first len bytes of name pick: its path or basename (cmdline_module_match). */
static const struct boot_module *find_module(const char *name, size_t len)
{
	char want[sizeof(bi.mods[0].name)];

	if (len >= sizeof(want)) /* longer than any module's string: it names none */
		return NULL;
	memcpy(want, name, len);
	want[len] = '\0';
	for (int i = 0; i < bi.nmods; i++)
		if (cmdline_module_match(want, modules[i].name))
			return &modules[i];
	return NULL;
}

/* What the scenarios are asked for: the options that concern them, the problems counted
 * (every one reported by now), and guest= as a VM spec whose kernel and modules are found
 * among the loader's modules (req->guest points at the static spec). */
static void make_request(struct scenario_request *req)
{
	static struct vm_spec guest;

	*req = (struct scenario_request){
		.run = opts.run,
		.vcpus = opts.vcpus,
		.mem = opts.mem,
		.rounds = opts.rounds,
		.samples = opts.samples,
		.cmdline_problems = opts.cmdline_problems,
		.guest_mission = opts.guest_mission,
		.find_module = find_module,
	};
	if (!opts.guest[0])
		return;
	/* Named as the scenario it runs as (scenarios/runner.c). */
	guest = (struct vm_spec){ .name = "guest",
		                  .vcpus = (int)opts.guest_vcpus,
		                  .mem = opts.guest_mem,
		                  .budget = opts.guest_budget * 1000000 };
	vm_spec_pc_kernel(&guest, opts.guest, opts.guest_args, opts.guest_mods, find_module);
	guest.kernel.store_bytes = opts.guest_store;
	guest.kernel.kvm_pv = !strcmp(opts.guest_pv, "kvm");
	guest.kernel.pku = opts.guest_pku;
	vm_spec_pc_initrd(&guest, opts.guest_initrd, find_module);
	req->guest = &guest;
}

static void run_scenarios(void)
{
	struct scenario_request req;

	list_modules();
	make_request(&req);
	if (vmx_init_all() == 0)
		scenarios_run(&req);
	else
		scenarios_skip_all(&req, "VMX unavailable");
}

void kmain(u32 magic, u32 info_pa)
{
	serial_init();
	printk("\neptvisor: booting (x86-64, built " __DATE__ " " __TIME__ ")\n");
	parse_boot_info(magic, info_pa);
	print_boot_info();
	idt_init();
	percpu_init(0, cpuid(1, 0).ebx >> 24, (u64)kernel_stack_top);
	mm_init(&bi);
	paging_init(&bi);
	cpu_init_control_regs();
	lapic_init();
	printk("cpu 0: online (apic id %u, bootstrap), %s\n", this_cpu()->apic_id,
	       cpu_cache_state());
	timer_calibrate();
	options_parse(bi.cmdline);
	report_truncation();
	options_to_core(&vmx_settings);
	if (opts.exc_test) {
		printk("exc-test: executing int3\n");
		int3();
		printk("exc-test: back from the #BP handler\n");
	}
	smp_init();
	paging_drop_identity();
	run_scenarios();
	system_shutdown();
}
