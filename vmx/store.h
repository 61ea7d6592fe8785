/*
 * Lazily backed memslots over a slow store (issue 15, items 1 and 2), the kernel's side of
 * ept/store.h: a slot whose pages live in host memory standing in for a disk until first
 * touched. A vCPU that touches a page in flight waits for it halted in the hypervisor
 * (sti; hlt, woken by the I/O task's IPI or a kick); the I/O service is a function a host
 * task calls in its loop, on a CPU that runs no vCPU (CPU 0 under the scenario runner).
 * Its frames do not move: vm_migrate_page refuses them and vm_compact leaves them (both
 * would change backing[] without the store's lock).
 */
#ifndef EPTVISOR_VMX_STORE_H
#define EPTVISOR_VMX_STORE_H

#include "ept/store.h"
#include "types.h"

struct vm;
struct vcpu;
struct memslot;

struct vm_store {
	struct ept_store st;
	u64 waiting;  /* CPUs (bit = CPU id) halted waiting for one of its pages */
	u64 waits;    /* vCPU waits for a page in flight */
	u64 wait_sum; /* TSC cycles spent waiting, in all */
	u64 wait_max; /* the longest wait */
	u64 wakes;    /* wake IPIs sent */
	u64 nomem;    /* service steps that found no free frame */

	/* The reclaim policy's scan state (vmx/reclaim.h), or NULL before its first round. */
	struct vm_reclaim *reclaim;
};

/* Add a 4K-only slot at gpa of bytes (page multiples) whose pages start in a store: first
 * touches fetch them with latency_us per fetch, depth fetches at once. Set-up only. The
 * store's contents are zero; vm_store_data gives them to fill. 0, -EINVAL, -EEXIST, -ENOMEM. */
int vm_add_store_slot(struct vm *vm, gpa_t gpa, u64 bytes, u64 latency_us, u32 depth);
/* The store of the slot holding gpa (NULL: none), and its copy of gpa's page. */
struct vm_store *vm_store_of(struct vm *vm, gpa_t gpa);
u8 *vm_store_data(struct vm *vm, gpa_t gpa);

/* vm_populate of a page in a store slot: 0 mapped, -EINPROGRESS (in flight: wait), -errno. */
int vm_store_populate(struct vm *vm, struct memslot *s, gfn_t gfn, u64 prot);
/* The vCPU's wait for gfn to settle, halted (sti; hlt) and offline for grace periods; ends
 * when the page settles or the VM stops. True: re-enter the guest (it faults again). */
bool vm_store_wait(struct vcpu *v, gfn_t gfn);

/* The I/O task's step: serve every store of vm (complete fetches whose latency passed, start
 * queued ones), waking the vCPUs that wait. Returns the fetches completed. CPU 0 only. */
int vm_store_service(struct vm *vm);
/* Evict gfn's page to its store (ept_store_evict), waking waiters. 0, -EBUSY, -errno. */
int vm_store_evict(struct vm *vm, gfn_t gfn);

/* Free a slot's store (vm_destroy; the slot's frames are freed with the slot). */
void vm_store_free(struct memslot *s);

#endif
