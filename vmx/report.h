/*
 * What a VM counted, as the @json lines a scenario ends with: one for the VM (totals, the
 * EPT's own counters, leaves by size) and one per vCPU (exits by reason, EPT faults by kind).
 * The snapshot outlives the VM, so the report can include what vm_destroy gave back.
 *
 * And the checks a scenario's verdict counts: the guest's own (HC_CHECK) and the
 * hypervisor's (a host task or a hypercall checking what it saw), one function for both.
 */
#ifndef EPTVISOR_VMX_REPORT_H
#define EPTVISOR_VMX_REPORT_H

#include "vmx/vm.h"

struct vm_report {
	const char *name;
	int nvcpus;
	struct vm_stats vm;
	struct ept_stats ept;
	struct vcpu_stats vcpu[MAX_VCPUS];
	u32 cpu[MAX_VCPUS];
	char stop_reason[160];
};

/* Sum every vCPU's counters into *sum (racy reads of running vCPUs: totals only). */
void vm_sum_vcpu_stats(const struct vm *vm, struct vcpu_stats *sum);
/* While the VM runs: its exits by reason so far, summed over its vCPUs, as the line
 * @json {"mark":MARK,"scenario":NAME,"platform":..,"exits":{..},"faults":{..},..}. */
void vm_report_mark(const struct vm *vm, const char *mark);
void vm_report_take(struct vm_report *r, const struct vm *vm);
/* Print the VM line and the per-vCPU lines, tagged with result and frames leaked. */
void vm_report_print(const struct vm_report *r, const char *result, s64 leaked);
/* Copy s into buf as a JSON string body (quotes, backslashes, controls become '). */
const char *json_safe(const char *s, char *buf, size_t n);

/* vm_check's vcpu for a check the hypervisor made itself. */
#define VM_CHECK_HOST (-1)
/* Record one check: count it in vm->stats (checks_passed / checks_failed) and print it as
 * "  check <vm>/<vcpu>: ok - <what>" ("FAILED" if not ok; "host" for VM_CHECK_HOST). The
 * message is cut at 127 bytes. */
void vm_check(struct vm *vm, int vcpu, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
