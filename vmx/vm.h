/*
 * The VM object: memslots (gfn ranges backed by frames from the allocator, never identity
 * mapped), the EPT that maps them, the vCPUs, and the counters. Guest memory is reached only
 * through vm_copy_* (and vm_gpa_to_hva() during set-up), which check every page against the
 * memslots, so a guest can name no byte of hypervisor memory.
 *
 * What kind of machine the guest sees is the platform's business, not the core's: a VM is
 * created with a struct vm_ops, and the core reaches the platform only through it (the
 * platform's own state hangs off vm->plat and vcpu->plat).
 */
#ifndef EPTVISOR_VMX_VM_H
#define EPTVISOR_VMX_VM_H

#include "ept/ept.h"
#include "spinlock.h"
#include "types.h"

#define MAX_VCPUS    8
#define MAX_MEMSLOTS 8
#define EXIT_REASONS 80

/* A 2M block of a slot with huge backing (memslot.blk): whether populate backs it with one
 * aligned run (and maps it with a huge leaf) or page by page. */
enum blk_state {
	BLK_FREE,  /* nothing populated in it yet */
	BLK_HUGE,  /* backed by one aligned run (or being: the claimer fills backing[]) */
	BLK_SMALL, /* backed page by page (no run was free, or the block was cut) */
};

struct memslot {
	gfn_t base_gfn;
	u64 npages;
	int level;       /* the leaf level it was created with: 1 (4K), 2 (2M), 3 (1G) */
	int max_level;   /* the largest leaf populate maps (huge backing: 2 or 3; else 1) */
	u8 *blk;         /* enum blk_state per 2M block (huge backing only), cmpxchg'd */
	hfn_t *backing;  /* hfn of every page, INVALID_HFN until populated; updated when the EPT
	                  * moves a page to another frame (collapse by copy, migration) */
	bool vmcs_named; /* private: the APIC-access page (vmx/vmcs_pages.h), never copied to */
	struct vm_store *store; /* lazily backed: pages start in a slow store (vmx/store.h) */
};

/* Per-VM counters (exits and faults are per vCPU: struct vcpu_stats); printed as @json at
 * the end of every scenario, with the EPT's own (ept->stats: flushes, splits, collapses). */
struct vm_stats {
	u64 populates, hypercalls, hypercall_errors;
	u64 populated[4];                 /* populate faults by the leaf level they mapped (1..3) */
	u64 huge_fallbacks;               /* huge-backed blocks that got 4K pages (no free run) */
	u64 recovered[4], recovered_copy; /* huge leaves made again by vm_recover_huge (by
	                                   * level), of which by copying (khugepaged) */
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
/* stop_exit_reason when the guest ended itself by its platform's means (an exit port). */
#define VM_STOP_GUEST_EXIT 1001

enum vcpu_state { VCPU_RUNNING, VCPU_EXITED, VCPU_STOPPED };

struct vcpu;
struct vm;
struct vm_store;

/* One VM-exit handler: true to re-enter the guest, false when the vCPU is done. */
typedef bool (*exit_handler)(struct vcpu *v);

/*
 * A platform: the machine a VM's guest sees, chosen once at vm_create and never changed.
 * The core owns VMX itself (entry and exit, the EPT and its faults, kicks and shootdowns,
 * the budget, NMIs and host interrupts, triple faults, PML); everything a guest asks of
 * its machine goes through here. Every hook may be NULL (nothing to do), except that an
 * exit reason neither the core nor exit[] handles stops the VM. Hooks marked "VMCS current"
 * run on the vCPU's own CPU with its VMCS loaded.
 */
struct vm_ops {
	const char *name; /* "pc", "testguest" (for whoever inspects a VM in a debugger) */
	/* At vm_create, after the memslots: the platform's per-VM state (vm->plat). 0 or
	 * -errno (vm_create then fails). */
	int (*vm_init)(struct vm *vm);
	/* In vm_destroy, first: the vCPUs and the EPT still exist (freeing a dirty log may
	 * flush, which kicks the vCPUs); free vm->plat and whatever it registered. Also runs
	 * when vm_init failed or never ran (vm->plat NULL). */
	void (*vm_destroy)(struct vm *vm);
	/* At vcpu_create, once id and entry state are set (the vCPU is not in vm->vcpus
	 * yet): vcpu->plat. 0 or -errno (vcpu_create then fails). vcpu_free runs at
	 * vcpu_destroy, also after a failed or skipped vcpu_init (vcpu->plat NULL). */
	int (*vcpu_init)(struct vcpu *v);
	void (*vcpu_free)(struct vcpu *v);
	/* VMCS current, at load: change the controls the core wrote; write the start state. */
	void (*setup_controls)(struct vcpu *v);
	void (*setup_guest_state)(struct vcpu *v);
	/* On the vCPU's CPU before its VMCS is loaded, and after its last exit. */
	void (*run_start)(struct vcpu *v);
	void (*run_end)(struct vcpu *v);
	/* VMCS current, before every entry: false to leave the run loop (the VM is stopping).
	 * entry_recheck runs after in_guest is published: true to go round again, not enter. */
	bool (*before_entry)(struct vcpu *v);
	bool (*entry_recheck)(struct vcpu *v);
	/* VMCS current, after every exit, before its handler. */
	void (*after_exit)(struct vcpu *v);
	/* VMCS current: the vCPU's virtual-APIC page now lives at pa (its contents copied
	 * there; vmx/vmcs_pages.c): point the platform's own state at it. */
	void (*virtual_apic_moved)(struct vcpu *v, hpa_t pa);
	/* before_entry arms the preemption timer and after_exit charges the budget: the core
	 * arms nothing and ends the run when budget_left is 0 at a timer exit. */
	bool arms_timer;
	/* Compaction (vm_compact): move the platform's own frames that some VMCS or device
	 * names (the APIC-access page, virtual-APIC pages) out of host frames [lo, hi), whose
	 * allocation is blocked meanwhile. Returns how many it moved, or -errno. */
	long (*evacuate)(struct vm *vm, hfn_t lo, hfn_t hi);
	/* An EPT violation at a gpa in no memslot (NULL: the VM stops). */
	bool (*unassigned)(struct vcpu *v, gpa_t gpa, u64 qual);
	/* A touch of a store page in flight (vm_populate said -EINPROGRESS): true if the
	 * platform told the guest instead (KVM's "page not present", pc/apf.c) and the vCPU
	 * re-enters; false (or NULL): the vCPU waits for the page (vm_store_wait). */
	bool (*async_fault)(struct vcpu *v, gfn_t gfn);
	/* On the I/O task's CPU, after store pages settled (fetches completed, an eviction
	 * done): wake the vCPUs that wait for pages asynchronously. NULL: none do. */
	void (*store_settled)(struct vm *vm);
	/* The exits the core does not own, by basic reason. */
	exit_handler exit[EXIT_REASONS];
};

struct vm {
	const char *name;
	struct ept ept;
	u64 eptp;
	struct memslot slots[MAX_MEMSLOTS];
	int nslots;
	struct vcpu *vcpus[MAX_VCPUS];
	int nvcpus;
	u64 budget;             /* preemption-timer ticks each vCPU may run */
	bool use_pml;           /* vCPUs log dirty GPAs in a PML buffer (drained every exit) */
	volatile bool stopping; /* a vCPU died: the others leave at their next exit */
	bool marked;            /* a console line held guest_mark= (vm_guest_line) */
	u64 flush_gen;          /* bumped by every EPT flush request (ept_env_flush) */
	struct vm_stats stats;
	struct trace_ring *trace; /* trace=ring only */
	const struct vm_ops *ops; /* the platform, fixed at vm_create */
	void *plat;               /* the platform's per-VM state (its own accessor types it) */
	char stop_reason[160];    /* first abnormal stop, for the scenario verdict */
	int stop_exit_reason;     /* its basic exit reason, VM_STOP_ENTRY_FAILED, or -1 */
	char setup_why[160];      /* why setting the VM up failed, by name ("" until then) */
	/* Test hooks: break the VMCS on purpose to show how entry failures are reported. */
	bool test_bad_guest_state, test_bad_host_state;
	/* Test knob: ept_env_flush does nothing (shows what the flush is for; scenarios/idle.c). */
	volatile bool test_skip_flush;
};

/* Create a VM on platform ops with one on-demand memslot covering gpa [0, mem). NULL when
 * out of memory (or the platform's vm_init failed). */
struct vm *vm_create(const char *name, u64 mem, const struct vm_ops *ops);
/* Add a slot at `gpa` of `bytes` (a multiple of the level's size) backed by aligned runs
 * mapped with `level` leaves (2 or 3). */
int vm_add_huge_slot(struct vm *vm, gpa_t gpa, u64 bytes, int level);

/* Add an on-demand slot at `gpa` of `bytes` (page multiples), populated on fault with leaves
 * up to max_level (1: 4K only; 2, 3: huge backing, vm_slot_set_huge). Set-up only. */
int vm_add_slot(struct vm *vm, gpa_t gpa, u64 bytes, int max_level);

/* Huge pages by default (vmx/huge.c). Give slot `i` huge backing up to leaves of max_level
 * (2 or 3; 1 turns it off): from then on a populate fault backs a whole 2M (1G) block with
 * one aligned run and maps it with one leaf when the block lies inside the slot and the
 * allocator has a run, else page by page (as transparent huge pages fall back). Set-up
 * only (no vCPU yet). 0, -EINVAL, -ENOMEM. */
int vm_slot_set_huge(struct vm *vm, int i, int max_level);

/* The populate of gfn in a slot with huge backing: 0 when gfn is mapped now (by a huge leaf,
 * or a huge block's 4K page), -EAGAIN when the caller should map 4K pages (vm_populate),
 * or -errno. */
int vm_populate_huge(struct vm *vm, struct memslot *s, gfn_t gfn);

/* Bring huge leaves back over [gfn, gfn + npages) of slots with huge backing (after dirty
 * logging split them): each 2M block wholly inside whose pages are all mapped is collapsed
 * in place when its frames are one aligned run, else - while copy_budget (pages) lasts -
 * copied into a fresh run, as khugepaged does; blocks under an enabled dirty log are left
 * alone. Returns the pages copied (budget used); *leaves (may be NULL) += leaves made. */
u64 vm_recover_huge(struct vm *vm, gfn_t gfn, u64 npages, u64 copy_budget, u64 *leaves);

/* The background collapse task (khugepaged), run on a host CPU: vm_recover_huge passes over
 * [gfn, gfn + npages) copying at most pages_per_sec pages a second, until a pass finds
 * nothing left to copy or max_ms have gone by. Returns the pages copied. */
u64 vm_khugepaged(struct vm *vm, gfn_t gfn, u64 npages, u64 pages_per_sec, u64 max_ms, u64 *leaves);
/* Free everything: the platform's state, vCPUs, EPT tables, every backing frame, the VM
 * itself. The one call that ends any VM, however far its set-up got. No vCPU may be
 * running. */
void vm_destroy(struct vm *vm);

/* The memslot containing gfn, or NULL. */
struct memslot *vm_find_slot(struct vm *vm, gfn_t gfn);
/* Make gfn backed and mapped (populate-on-fault). 0, -EFAULT outside slots, -ENOMEM;
 * -EINPROGRESS in a store slot while the page is being fetched or evicted (vmx/store.h). */
int vm_populate(struct vm *vm, gfn_t gfn);
/* Hypervisor pointer to guest byte `gpa`, populating its page; NULL if outside every slot.
 * Set-up only, before the VM has a vCPU (loading an image, building page tables): from then
 * on the page may be migrated or collapsed by copy and the pointer would name a freed frame,
 * so it is refused (NULL; an assertion in the debug kernel). Everything after set-up goes
 * through vm_copy_*, which reads the frame the EPT maps inside a walk. */
void *vm_gpa_to_hva(struct vm *vm, gpa_t gpa);
/* Back and map npages from gpa now, as first touches would. 0, or -ENOMEM. */
int vm_prepopulate(struct vm *vm, gpa_t gpa, u64 npages);
/* Copy between guest and hypervisor memory, checking every page; 0 or -EFAULT. Safe while
 * the page moves (a write waits until it is mapped writable again); an aligned 8-byte copy
 * is a single access. */
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
/* Is some vCPU of vm still running (a host task's loop condition)? */
bool vm_any_vcpu_running(struct vm *vm);

/* Move gfn's backing to fresh frames while the guest runs (ept_migrate); the memslot learns
 * the new frames through ept_env_free_data. A 2M leaf moves whole into a fresh aligned run;
 * only when the allocator has none is it split and the one 4K page moved (as Linux splits a
 * transparent huge page it cannot migrate whole). The APIC-access page moves with every
 * VMCS reloaded (vm_move_apic_access_page); a store slot's page does not move (-EBUSY: its
 * frames change only under its store's lock). 0 or -errno. */
int vm_migrate_page(struct vm *vm, gfn_t gfn);

/* What one vm_compact did. Cycles are TSC cycles (under Bochs: instructions). */
struct vm_compact_stats {
	u64 frames;                  /* frames in the range */
	u64 free_before, free_after; /* of them free in the allocator, before and after */
	u64 pages_4k;                /* 4K leaves moved */
	u64 leaves_2m;               /* 2M leaves moved whole */
	u64 split;                   /* huge leaves split because no 2M run was free outside */
	u64 populated;               /* backed but unmapped pages mapped so they could move */
	u64 retries;                 /* moves tried again (the leaf changed while copied) */
	u64 platform;                /* frames the platform's evacuate hook moved */
	u64 left;                    /* guest frames still in the range (moves that failed) */
	u64 cycles;
};

/* Evacuate every frame of vm's memslots that lies in host-physical [hpa, hpa + bytes) (both
 * multiples of 2 MiB) while the guest runs: 4K leaves page by page, 2M leaves whole, the
 * platform's own frames through vm_ops.evacuate; the range is isolated in the allocator
 * meanwhile, so no destination (and nothing else) lands inside it. Frames of the range that
 * are not this VM's guest memory (EPT tables, hypervisor objects, other VMs) stay: st->free_after
 * says how much of the range ended free. A store slot's frames stay too (st->left counts
 * them): they change only under the store's lock. 0, -EINVAL, -EBUSY (another compaction runs), or
 * the first error of a move that could not be done (the rest still ran). */
int vm_compact(struct vm *vm, hpa_t hpa, u64 bytes, struct vm_compact_stats *st);

/* One line the guest printed, into eptvisor's log as "[guest <vm>/<vcpu>] <line>", or
 * "[guest <vm>] <line>" when vcpu < 0 (a device the whole VM shares). The first line that
 * holds guest_mark= is followed by the VM's exits so far (vm_report_mark). */
void vm_guest_line(struct vm *vm, int vcpu, const char *line);

/* Stop the whole VM: record why (first reason wins) and make every vCPU leave the guest. */
void vm_stop(struct vm *vm, int exit_reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
