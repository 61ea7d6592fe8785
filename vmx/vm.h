/*
 * The VM object: memslots (gfn ranges backed by frames from the allocator, never identity
 * mapped), the EPT that maps them, the vCPUs, and the counters. Guest memory is reached only
 * through vm_gpa_to_hva()/vm_copy_*, which check every page against the memslots, so a guest
 * can name no byte of hypervisor memory.
 */
#ifndef EPTVISOR_VMX_VM_H
#define EPTVISOR_VMX_VM_H

#include "ept/ept.h"
#include "hypercall/mm.h"
#include "spinlock.h"
#include "types.h"

#define MAX_VCPUS 8
#define MAX_MEMSLOTS 8
#define EXIT_REASONS 80

struct memslot {
	gfn_t base_gfn;
	u64 npages;
	int level;      /* the leaf level it was created with: 1 (4K), 2 (2M), 3 (1G) */
	hfn_t *backing; /* hfn of every page, INVALID_HFN until populated; updated when the EPT
			 * moves a page to another frame (collapse by copy, migration) */
};

/* Per-VM counters (exits and faults are per vCPU: struct vcpu_stats); printed as @json at
 * the end of every scenario, with the EPT's own (ept->stats: flushes, splits, collapses). */
struct vm_stats {
	u64 populates, hypercalls, hypercall_errors;
	u64 io_unhandled, shootdown_ipis, flushes_skipped;
	u64 checks_passed, checks_failed;
};

/* Per-vCPU counters: only the vCPU's own CPU writes them. */
struct vcpu_stats {
	u64 exits[EXIT_REASONS];
	u64 faults[EPT_FAULT_VIOLATION + 1]; /* EPT violations by enum ept_fault_result */
	u64 outside;                         /* EPT violations outside every memslot */
	u64 pml_entries, pml_full;
};

/* Counters are bumped by several vCPUs at once: relaxed atomics (only totals matter). */
#define STAT_INC(vm, field) __atomic_fetch_add(&(vm)->stats.field, 1, __ATOMIC_RELAXED)

/* stop_exit_reason when VMLAUNCH/VMRESUME itself failed (VMfailValid/VMfailInvalid). */
#define VM_STOP_ENTRY_FAILED 1000
/* stop_exit_reason when a PC guest ended itself through an exit port (vm->pc->exit_code). */
#define VM_STOP_GUEST_EXIT 1001

enum vcpu_state { VCPU_RUNNING, VCPU_EXITED, VCPU_STOPPED };

struct vm {
	const char *name;
	struct ept ept;
	u64 eptp;
	struct memslot slots[MAX_MEMSLOTS];
	int nslots;
	spinlock_t populate_lock; /* serialises populate-on-fault of on-demand slots */
	struct vcpu *vcpus[MAX_VCPUS];
	int nvcpus;
	u64 budget;                /* preemption-timer ticks each vCPU may run */
	bool use_pml;              /* vCPUs log dirty GPAs in a PML buffer (drained every exit) */
	volatile bool stopping;    /* a vCPU died: the others leave at their next exit */
	u64 flush_gen;             /* bumped by every EPT flush request (ept_env_flush) */
	struct vm_stats stats;
	struct trace_ring *trace;  /* trace=ring only */
	struct vm_agent agent;     /* the guest agent's tracker and dirty log (hypercall/mm.c) */
	struct pc_vm *pc;          /* a PC guest (pc/pc.h), or NULL for eptvisor's own guests */
	char stop_reason[160];     /* first abnormal stop, for the scenario verdict */
	int stop_exit_reason;      /* its basic exit reason, VM_STOP_ENTRY_FAILED, or -1 */
	char setup_why[160];       /* why setting the VM up failed, by name ("" until then) */
	/* Test hooks: break the VMCS on purpose to show how entry failures are reported. */
	bool test_bad_guest_state, test_bad_host_state;
	/* Test knob: ept_env_flush does nothing (shows what the flush is for; scenarios/idle.c). */
	volatile bool test_skip_flush;
};

/* Create a VM with one on-demand memslot covering gpa [0, mem). NULL when out of memory. */
struct vm *vm_create(const char *name, u64 mem);
/* Add a slot at `gpa` of `bytes` (a multiple of the level's size) backed by aligned runs
 * mapped with `level` leaves (2 or 3). */
int vm_add_huge_slot(struct vm *vm, gpa_t gpa, u64 bytes, int level);
/* Free everything: vCPUs, EPT tables, every backing frame. No vCPU may be running. */
void vm_destroy(struct vm *vm);

/* The memslot containing gfn, or NULL. */
struct memslot *vm_find_slot(struct vm *vm, gfn_t gfn);
/* Make gfn backed and mapped (populate-on-fault). 0, -EFAULT outside slots, -ENOMEM. */
int vm_populate(struct vm *vm, gfn_t gfn);
/* Hypervisor pointer to guest byte `gpa`, populating its page; NULL if outside every slot.
 * Only for pages the hypervisor never moves (page tables it built, the host tasks' control
 * and data pages): the pointer goes stale if the page is migrated or collapsed by copy.
 * Guest buffers named by hypercalls go through vm_copy_* instead. */
void *vm_gpa_to_hva(struct vm *vm, gpa_t gpa);
/* Back and map npages from gpa now, as first touches would. 0, or -ENOMEM. */
int vm_prepopulate(struct vm *vm, gpa_t gpa, u64 npages);
/* Copy between guest and hypervisor memory, checking every page; 0 or -EFAULT. */
int vm_copy_from_guest(struct vm *vm, void *dst, gpa_t gpa, u64 len);
int vm_copy_to_guest(struct vm *vm, gpa_t gpa, const void *src, u64 len);

/* Make every vCPU of vm in guest mode on another CPU exit once (it INVEPTs, drains its
 * PML buffer) and wait for each: the shootdown of ept_env_flush, without a local INVEPT. */
void vm_sync_vcpus(struct vm *vm);
/* One dirty-log harvest (ept_dirty_log_get_and_clear into out) that misses nothing: in PML
 * mode every vCPU first drains its buffer into the log. The count, or -errno. */
s64 vm_dirty_log_harvest(struct vm *vm, struct ept_dirty_log *log, u64 *out);
/* Wait until every vCPU of vm has stopped running (vcpu_run returned on its CPU). */
void wait_vcpus_done(struct vm *vm);

/* Move gfn's backing to a fresh frame while the guest runs (ept_migrate_page); the memslot
 * learns the new frame through ept_env_free_data. 0 or -errno. */
int vm_migrate_page(struct vm *vm, gfn_t gfn);

/* Stop the whole VM: record why (first reason wins) and make every vCPU leave the guest. */
void vm_stop(struct vm *vm, int exit_reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
