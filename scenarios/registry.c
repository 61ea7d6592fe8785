/*
 * The scenario registry: every named scenario, one row each (see scenario.h for the fields),
 * and the small set-up functions only a row uses. run= picks rows by name or group; the
 * groups are the rows' own, so a new group needs nothing but its rows.
 *
 * This table is the one list of scenarios. tests/harness/registry.py reads it (so keep each
 * row's name, group and kernel string literals) and fails `make test` when a harness boot,
 * tests/harness/scenarios.toml or docs/experiments.md names a scenario or group the table
 * lacks, or when a row is booted by no test or is missing from the docs' tables.
 */
#include "errno.h"
#include "guest_tests.h"
#include "hypercall.h"
#include "lib.h"
#include "scenarios/experiments.h"
#include "scenarios/fault_latency.h"
#include "scenarios/scenario.h"
#include "vmx/exit.h"
#include "vmx/vcpu.h"

static int add_2m_slot(struct vm *vm)
{
	return vm_add_huge_slot(vm, GT_SLOT_2M_GPA, SZ_2M, 2);
}
static int add_1g_slot(struct vm *vm)
{
	return vm_add_huge_slot(vm, GT_SLOT_1G_GPA, SZ_1G, 3);
}

static int prepopulate_dirty_region(struct vm *vm)
{
	return vm_prepopulate(vm, GT_DIRTY_GPA, 64);
}

static int break_guest_state(struct vm *vm)
{
	vm->test_bad_guest_state = true;
	return 0;
}

static int break_host_state(struct vm *vm)
{
	vm->test_bad_host_state = true;
	return 0;
}

/* A host task that only waits: the scenario's vCPU 0 then runs on CPU 1 (run_vcpus). */
static void host_waits(struct vm *vm, const struct scenario *sc)
{
	(void)sc;
	wait_vcpus_done(vm);
}

/* Unset fields take defaults: 1 vCPU, 16 MiB, DEFAULT_BUDGET, expect a clean exit. */
/* clang-format off */
const struct scenario scenarios[] = {
	{ .name = "demo", .group = "demo", .test = GT_DEMO, .mem = 32 * MIB },
	{ .name = "guest_hello", .group = "selftest", .test = GT_HELLO },
	{ .name = "populate_readback", .group = "selftest", .test = GT_POPULATE },
	{ .name = "map_2m", .group = "selftest", .test = GT_MAP_2M, .setup = add_2m_slot },
	{ .name = "map_1g", .group = "selftest", .test = GT_MAP_1G, .setup = add_1g_slot },
	{ .name = "gpa_outside_memslot_stopped", .group = "selftest", .test = GT_OUTSIDE,
	  .expect = EXPECT_STOPPED, .stop_reason = EXIT_EPT_VIOLATION },
	{ .name = "triple_fault_survived", .group = "selftest", .test = GT_TRIPLE_FAULT,
	  .expect = EXPECT_STOPPED, .stop_reason = EXIT_TRIPLE_FAULT },
	{ .name = "runaway_stopped_by_timer", .group = "selftest", .test = GT_RUNAWAY,
	  .budget = 5000000, .expect = EXPECT_STOPPED, .stop_reason = EXIT_PREEMPTION_TIMER },
	{ .name = "bad_hypercalls_rejected", .group = "selftest", .test = GT_BAD_HYPERCALLS },
	{ .name = "bad_guest_state_reported", .group = "selftest", .test = GT_HELLO,
	  .setup = break_guest_state, .expect = EXPECT_STOPPED,
	  .stop_reason = EXIT_INVALID_GUEST_STATE },
	{ .name = "bad_host_state_reported", .group = "selftest", .test = GT_HELLO,
	  .setup = break_host_state, .expect = EXPECT_STOPPED,
	  .stop_reason = VM_STOP_ENTRY_FAILED },
	{ .name = "two_vcpus", .group = "selftest", .test = GT_TWO_VCPUS, .vcpus = 2 },
	{ .name = "dirty_log_wp", .group = "mission", .test = GT_DIRTY_WRITER,
	  .setup_arg = dirty_setup, .host = dirty_host, .arg = EPT_DIRTY_WP },
	{ .name = "dirty_log_dbit", .group = "mission", .test = GT_DIRTY_WRITER,
	  .setup_arg = dirty_setup, .host = dirty_host, .arg = EPT_DIRTY_DBIT },
	{ .name = "dirty_log_pml", .group = "mission", .test = GT_DIRTY_WRITER,
	  .setup_arg = dirty_setup, .host = dirty_host, .arg = EPT_DIRTY_PML },
	{ .name = "idle_hot_cold", .group = "mission", .test = GT_IDLE_HOT_COLD,
	  .setup = add_2m_slot },
	{ .name = "hostile_mm_hypercalls", .group = "mission", .test = GT_HOSTILE_MM,
	  .setup = prepopulate_dirty_region },
	{ .name = "split_collapse_live", .group = "mission", .test = GT_SPLIT_VERIFIER,
	  .setup_arg = split_setup, .host = split_host },
	{ .name = "huge_recovery", .group = "mission", .test = GT_SPLIT_VERIFIER,
	  .setup_arg = huge_setup, .host = huge_host },
	{ .name = "compact_live", .group = "mission", .test = GT_COMPACT_WRITER,
	  .setup_arg = compact_setup, .host = compact_host },
	{ .name = "idle_needs_flush", .group = "mission", .test = GT_IDLE_TOUCHER,
	  .setup_arg = idle_flush_setup, .host = idle_flush_host },
	{ .name = "store_evict", .group = "mission", .test = GT_STORE_WALKER,
	  .setup_arg = store_setup, .host = store_host },
	{ .name = "store_reclaim", .group = "mission", .test = GT_STORE_HOT_COLD,
	  .setup_arg = store_setup, .host = store_reclaim_host },
	{ .name = "store_evict_2vcpu", .group = "smp4", .test = GT_STORE_WALKER, .vcpus = 2,
	  .setup_arg = store_setup, .host = store_host },
	{ .name = "dirty_log_hot_pages", .group = "mission", .test = GT_DIRTY_WRITER,
	  /* cppcheck-suppress badBitmaskCheck ; EPT_DIRTY_WP is mode 0, named for the reader */
	  .setup_arg = dirty_setup, .host = dirty_host, .arg = EPT_DIRTY_WP | DIRTY_HOT_PAGES },
	{ .name = "dirty_log_needs_flush", .group = "mission", .test = GT_DIRTY_WRITER,
	  .setup_arg = dirty_setup, .host = dirty_host,
	  /* cppcheck-suppress badBitmaskCheck ; EPT_DIRTY_WP is mode 0, named for the reader */
	  .arg = EPT_DIRTY_WP | DIRTY_HOT_PAGES | DIRTY_SKIP_FLUSH },
	{ .name = "dirty_log_wp_3vcpus", .group = "smp4", .test = GT_DIRTY_WRITER, .vcpus = 3,
	  .setup_arg = dirty_setup, .host = dirty_host, .arg = EPT_DIRTY_WP },
	/* PC guests: multiboot kernels from guests/pc, given to GRUB as modules (pc/pc.h). */
	{ .name = "pc_mb1", .group = "pc", .kernel = "pcmb1.elf", .kargs = "alpha beta=2",
	  .vcpus = 2, .mem = 128 * MIB },
	{ .name = "pc_mb2", .group = "pc", .kernel = "pcmb2.elf", .kargs = "alpha beta=2",
	  .vcpus = 2, .mem = 128 * MIB },
	{ .name = "pc_bad_header_refused", .group = "pc", .kernel = "bad_header.elf",
	  .mem = 128 * MIB, .expect = EXPECT_REFUSED },
	{ .name = "pc_wild_jump_stopped", .group = "pc", .kernel = "wild_jump.elf",
	  .mem = 128 * MIB, .expect = EXPECT_STOPPED, .stop_reason = EXIT_EPT_VIOLATION },
	{ .name = "pc_apic_garbage", .group = "pc", .kernel = "apic_garbage.elf",
	  .mem = 128 * MIB },
	/* A Linux bzImage of our own (guests/pc/pcbz.S) by the 32-bit boot protocol, and what
	 * the Linux loader must refuse: an initrd for a multiboot kernel, multiboot modules for
	 * a bzImage, RAM smaller than its init_size needs. */
	{ .name = "pc_bzimage", .group = "pc", .kernel = "pcbz.bin", .kargs = "alpha beta=2",
	  .kinitrd = "pcbz-initrd.bin", .mem = 128 * MIB },
	{ .name = "pc_bzimage_initrd_refused", .group = "pc", .kernel = "pcmb1.elf",
	  .kinitrd = "pcbz-initrd.bin", .mem = 128 * MIB, .expect = EXPECT_REFUSED },
	{ .name = "pc_bzimage_mods_refused", .group = "pc", .kernel = "pcbz.bin",
	  .kmods = "pcbz-initrd.bin", .mem = 128 * MIB, .expect = EXPECT_REFUSED },
	{ .name = "pc_bzimage_small_refused", .group = "pc", .kernel = "pcbz.bin", .mem = 2 * MIB,
	  .expect = EXPECT_REFUSED },
	/* The MP table and the I/O APIC: the PIT and COM1 routed through it. */
	{ .name = "pc_ioapic", .group = "pc", .kernel = "ioapic.elf", .vcpus = 2,
	  .mem = 128 * MIB },
	{ .name = "pc_runaway_stopped", .group = "pc", .kernel = "runaway.elf", .mem = 128 * MIB,
	  .budget = 20000000, .expect = EXPECT_STOPPED, .stop_reason = EXIT_PREEMPTION_TIMER },
	{ .name = "pc_halted_forever_stopped", .group = "pc", .kernel = "pcmb1.elf",
	  .kargs = "hang", .vcpus = 2, .mem = 128 * MIB, .expect = EXPECT_STOPPED,
	  .stop_reason = EXIT_HLT },
	/* 4K pages: its idle scan classifies the kernel's pages one by one (a 2M leaf has one
	 * A bit: every block the kernel touches would be all hot). */
	{ .name = "pc_mission", .group = "pc", .kernel = "pcmb1.elf", .kargs = "work=400",
	  .mem = 32 * MIB, .page_level = 1, .setup_arg = pc_mission_setup,
	  .host = pc_mission_host },
	/* Compaction of the host memory holding a running kernel's APIC-access page. */
	{ .name = "pc_compact", .group = "pc", .kernel = "pcmb1.elf", .kargs = "work=3000",
	  .mem = 32 * MIB, .page_level = 1, .setup_arg = pc_mission_setup,
	  .host = pc_compact_host },
	/* Platform fidelity for kernels written for QEMU/KVM (tests/harness/test_fidelity.py):
	 * KVM's hypercall ABI for VMCALL; MMIO by instructions other than MOV; the MSRs Linux
	 * reads at boot; debug exceptions. */
	{ .name = "pc_kvm_hypercall", .group = "fidelity", .kernel = "kvmhc.elf", .mem = 32 * MIB },
	{ .name = "pc_mmio_ops", .group = "fidelity", .kernel = "mmio_ops.elf", .mem = 128 * MIB },
	{ .name = "pc_msrs", .group = "fidelity", .kernel = "msrs.elf", .mem = 32 * MIB },
	/* NMIs (self, in the handler, in shadows, from the other vCPU); a round trip to real
	 * mode; RDTSCP and PKU (offered without XSAVE: .pku) where CPUID offers them. */
	{ .name = "pc_nmi", .group = "fidelity", .kernel = "nmi.elf", .vcpus = 2, .mem = 32 * MIB },
	{ .name = "pc_realmode", .group = "fidelity", .kernel = "realmode.elf", .mem = 32 * MIB },
	{ .name = "pc_features", .group = "fidelity", .kernel = "features.elf", .vcpus = 2,
	  .mem = 32 * MIB, .pku = true },
	/* Again: TSC_AUX and PKRU start at 0, whatever pc_features left on these CPUs. */
	{ .name = "pc_features_again", .group = "fidelity", .kernel = "features.elf", .vcpus = 2,
	  .mem = 32 * MIB, .pku = true },
	/* Debug exceptions and RF: single-step over emulated instructions, MOV SS, STI; HLT,
	 * breakpoints, DR7.GD, RF in the frames of injected faults. */
	{ .name = "pc_debug", .group = "fidelity", .kernel = "dbg.elf", .mem = 32 * MIB },
	/* The platform Linux probes (guests/pc/platdev.c): COM1, RTC and 8042 interrupts
	 * through the PICs, PCI configuration; the machine's resets and its power-off. */
	{ .name = "pc_platdev", .group = "fidelity", .kernel = "platdev.elf", .mem = 32 * MIB },
	{ .name = "pc_reset_cf9", .group = "fidelity", .kernel = "platdev.elf",
	  .kargs = "quick reset=cf9", .mem = 32 * MIB },
	{ .name = "pc_reset_triple", .group = "fidelity", .kernel = "platdev.elf",
	  .kargs = "quick reset=triple", .mem = 32 * MIB },
	{ .name = "pc_poweroff", .group = "fidelity", .kernel = "platdev.elf",
	  .kargs = "quick halt", .vcpus = 2, .mem = 32 * MIB, .expect = EXPECT_STOPPED,
	  .stop_reason = EXIT_HLT },
	/* The console (pc/console.c): a line the harness types on eptvisor's COM1 reaches the
	 * guest's COM1 with data-ready interrupts (the fidelity boot's COM1 has input). */
	{ .name = "pc_console", .group = "fidelity", .kernel = "platdev.elf",
	  .kargs = "quick echo", .mem = 32 * MIB },
	/* Two vCPUs and a host task: three CPUs (tests/harness/test_pcguests.py boots it). */
	{ .name = "pc_apic_moves", .group = "pc_moves", .kernel = "pcmb1.elf", .kargs = "apicloop=400",
	  .vcpus = 2, .mem = 128 * MIB, .host = pc_apic_moves_host },
	/* The async-PF MSRs misused (guests/pc/pcapf_hostile.c): each case gets the
	 * documented answer (docs/platform.md), and the hypervisor goes on. */
	{ .name = "pc_apf_hostile", .group = "pc", .kernel = "pcapf_hostile.elf",
	  .kargs = "buf=0x1800000 pages=128 prefilled=1", .mem = 32 * MIB, .store = 8 * MIB,
	  .kvm_pv = true, .setup_arg = pc_store_setup, .host = pc_store_host },
	/* A slow store at the top of RAM (24-32 MiB) under a kernel that walks it while a
	 * compute task runs (guests/pc/pcapf.c): with KVM's async page faults, and without
	 * (every touch of a page in flight waits in the hypervisor). scenarios/pc_store.c. */
	{ .name = "pc_apf", .group = "pc", .kernel = "pcapf.elf",
	  .kargs = "buf=0x1800000 pages=128 passes=2 prefilled=1 walkers=2 slice_us=10000",
	  .mem = 32 * MIB, .store = 8 * MIB, .kvm_pv = true, .setup_arg = pc_store_setup,
	  .host = pc_store_host },
	{ .name = "pc_apf_sync", .group = "pc", .kernel = "pcapf.elf",
	  .kargs = "buf=0x1800000 pages=128 passes=2 prefilled=1 walkers=2 slice_us=10000",
	  .mem = 32 * MIB, .store = 8 * MIB, .setup_arg = pc_store_setup, .host = pc_store_host },
	/* The reclaim policy keeps 64 of the buffer's 256 pages resident: every pass refaults
	 * the pages evicted since the last, through async page faults. */
	{ .name = "pc_apf_reclaim", .group = "pc", .kernel = "pcapf.elf",
	  .kargs = "buf=0x1800000 pages=256 passes=3 prefilled=1 walkers=2 slice_us=10000",
	  .mem = 32 * MIB, .store = 8 * MIB, .resident = 64 * PAGE_SIZE, .kvm_pv = true,
	  .setup_arg = pc_store_setup, .host = pc_store_host },
	/* The async-fault benchmark (tests/harness/bench_apf.py, `make bench`): one walker over
	 * 128 pages of the store, the compute task's work with and without async faults. */
	{ .name = "bench_apf_async", .group = "bench_apf", .kernel = "pcapf.elf",
	  .kargs = "buf=0x1800000 pages=128 passes=1 prefilled=1 slice_us=10000", .mem = 32 * MIB,
	  .store = 8 * MIB, .kvm_pv = true, .setup_arg = pc_store_setup, .host = pc_store_host },
	{ .name = "bench_apf_sync", .group = "bench_apf", .kernel = "pcapf.elf",
	  .kargs = "buf=0x1800000 pages=128 passes=1 prefilled=1 slice_us=10000", .mem = 32 * MIB,
	  .store = 8 * MIB, .setup_arg = pc_store_setup, .host = pc_store_host },
	/* Two vCPUs, each with its own scheduler, walkers and async-PF area. */
	{ .name = "pc_apf_2vcpu", .group = "pc_moves", .kernel = "pcapf.elf",
	  .kargs = "buf=0x1800000 pages=128 passes=2 prefilled=1 walkers=2 cpus=2 slice_us=10000",
	  .vcpus = 2, .mem = 32 * MIB, .store = 8 * MIB, .kvm_pv = true,
	  .setup_arg = pc_store_setup, .host = pc_store_host },
	/* Hostile guests: interrupt paths (guests/pc/irqattack.c). Each must leave the
	 * hypervisor running; the attacker gets the architectural behaviour or a named stop. */
	{ .name = "hostile_init_cycle", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=init_cycle", .vcpus = 2, .mem = 32 * MIB, .expect = EXPECT_STOPPED,
	  .stop_reason = EXIT_INIT },
	{ .name = "hostile_init_broadcast", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=init_broadcast", .vcpus = 2, .mem = 32 * MIB,
	  .expect = EXPECT_STOPPED, .stop_reason = EXIT_INIT },
	{ .name = "hostile_init_storm", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=init_storm", .vcpus = 2, .mem = 32 * MIB },
	{ .name = "hostile_sipi_storm", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=sipi_storm", .vcpus = 2, .mem = 32 * MIB },
	{ .name = "hostile_nmi_twice", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=nmi_twice", .mem = 32 * MIB },
	{ .name = "hostile_nmi_then_ipi", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=nmi_then_ipi", .vcpus = 2, .mem = 32 * MIB },
	{ .name = "hostile_nmi_storm", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=nmi_storm", .vcpus = 2, .mem = 32 * MIB },
	{ .name = "hostile_timer_storm", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=timer_storm", .mem = 32 * MIB },
	{ .name = "hostile_timer_cli_stopped", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=timer_cli", .mem = 32 * MIB, .budget = 20000000,
	  .expect = EXPECT_STOPPED, .stop_reason = EXIT_PREEMPTION_TIMER },
	{ .name = "hostile_smi_storm", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=smi_storm", .mem = 32 * MIB },
	{ .name = "hostile_pit_storm", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=pit_storm", .mem = 32 * MIB },
	{ .name = "hostile_ioapic_storm", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=ioapic_storm", .mem = 32 * MIB },
	{ .name = "hostile_ioapic_modes", .group = "hostile", .kernel = "irqattack.elf",
	  .kargs = "attack=ioapic_modes", .mem = 32 * MIB },
	/* Hostile guests, registers and refused instructions (guests/pc/regleak.c): the writer
	 * and the reader run one after the other on CPU 0, then on CPU 1; the second cache VM
	 * follows one that set CR0.CD and NW. */
	{ .name = "hostile_regs_write", .group = "hostile", .kernel = "regleak.elf",
	  .kargs = "write", .mem = 32 * MIB },
	{ .name = "hostile_regs_read", .group = "hostile", .kernel = "regleak.elf",
	  .kargs = "read", .mem = 32 * MIB },
	{ .name = "hostile_regs_write_cpu1", .group = "hostile", .kernel = "regleak.elf",
	  .kargs = "write", .mem = 32 * MIB, .host = host_waits },
	{ .name = "hostile_regs_read_cpu1", .group = "hostile", .kernel = "regleak.elf",
	  .kargs = "read", .mem = 32 * MIB, .host = host_waits },
	{ .name = "hostile_rdpmc", .group = "hostile", .kernel = "regleak.elf", .kargs = "rdpmc",
	  .mem = 32 * MIB },
	{ .name = "hostile_vmx_insns", .group = "hostile", .kernel = "regleak.elf",
	  .kargs = "vmx", .mem = 32 * MIB },
	{ .name = "hostile_cr0_pg", .group = "hostile", .kernel = "regleak.elf",
	  .kargs = "cr0pg", .mem = 32 * MIB },
	{ .name = "hostile_cache", .group = "hostile", .kernel = "regleak.elf", .kargs = "cache",
	  .vcpus = 2, .mem = 32 * MIB },
	{ .name = "hostile_cache_again", .group = "hostile", .kernel = "regleak.elf",
	  .kargs = "cache", .vcpus = 2, .mem = 32 * MIB },
	/* hostile: input (issue 11): MOVs straddling regions, a guest flooding the log, images
	 * and sizes that must be refused by name. */
	{ .name = "hostile_input_straddle", .group = "hostile", .kernel = "straddle.elf",
	  .mem = 128 * MIB },
	{ .name = "hostile_input_log_flood", .group = "hostile", .kernel = "log_flood.elf",
	  .mem = 128 * MIB },
	{ .name = "hostile_input_garbage_refused", .group = "hostile", .kernel = "garbage.bin",
	  .mem = 128 * MIB, .expect = EXPECT_REFUSED },
	{ .name = "hostile_input_big_bss_refused", .group = "hostile", .kernel = "big_bss.elf",
	  .mem = 2 * MIB, .expect = EXPECT_REFUSED },
	{ .name = "hostile_input_apic_segment_refused", .group = "hostile",
	  .kernel = "apic_segment.elf", .mem = 128 * MIB, .expect = EXPECT_REFUSED },
	/* Last of the hostile group: an ordinary kernel, which must still run to its end. */
	{ .name = "hostile_aftermath", .group = "hostile", .kernel = "pcmb1.elf",
	  .kargs = "alpha beta=2", .vcpus = 2, .mem = 32 * MIB },
	/* The fault-latency benchmark (make bench): never part of run=all. Its host task works
	 * only while the guest measures the *_hostwork paths; vCPU i runs on CPU i + 1. */
	{ .name = "bench_fault_latency", .group = "bench", .test = GT_BENCH, .vcpus = 2,
	  .mem = GT_BENCH_MEM, .budget = BENCH_BUDGET, .setup_arg = bench_setup,
	  .host = bench_hostwork_host },
	{ .name = "bench_pml_write", .group = "bench", .test = GT_BENCH_PML, .vcpus = 2,
	  .mem = GT_BENCH_MEM, .budget = BENCH_BUDGET, .setup_arg = bench_setup,
	  .arg = BENCH_ARG_PML },
};
/* clang-format on */

const size_t nscenarios = ARRAY_SIZE(scenarios);

/* run= words that are not rows (scenarios/runner.c): every test but the benchmarks, nothing,
 * the guest= kernel. */
static const char *const special_names[] = { "all", "none", "guest" };

/* Room for the special words, one group per row at most, and every row's name. */
static const char *name_list[ARRAY_SIZE(special_names) + 2 * ARRAY_SIZE(scenarios) + 1];

static size_t add_name(size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name_list[i], name))
			return n;
	name_list[n] = name;
	return n + 1;
}

/* The special words, then each group in the order of its first row, then every row's name
 * (a name that is also a group, like demo, once). */
const char *const *scenario_name_list(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(special_names); i++)
		n = add_name(n, special_names[i]);
	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		n = add_name(n, scenarios[i].group);
	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		n = add_name(n, scenarios[i].name);
	return name_list;
}
