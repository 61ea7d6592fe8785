/* The @json counters report and the checks it counts (see report.h). */
#include "drivers/console.h"
#include "lib.h"
#include "vmx/exit.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/trace.h"
#include "vmx/vcpu.h"

/* RELAXED loads: a vCPU may still be counting (vm_report_mark, a hypercall's stats); each
 * counter is one aligned word, so a sum is a snapshot of totals, not of one instant. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static void add_stats(struct vcpu_stats *sum, const struct vcpu_stats *s)
{
	for (int i = 0; i < EXIT_REASONS; i++)
		sum->exits[i] += LOAD(s->exits[i]);
	for (int i = 0; i <= EPT_FAULT_VIOLATION; i++)
		sum->faults[i] += LOAD(s->faults[i]);
	sum->outside += LOAD(s->outside);
	sum->pml_entries += LOAD(s->pml_entries);
	sum->pml_full += LOAD(s->pml_full);
}

void vm_sum_vcpu_stats(const struct vm *vm, struct vcpu_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < vm->nvcpus; i++)
		add_stats(sum, &vm->vcpus[i]->stats);
}

void vm_report_take(struct vm_report *r, const struct vm *vm)
{
	r->name = vm->name;
	r->nvcpus = vm->nvcpus;
	r->vm = vm->stats;
	r->ept = vm->ept.stats;
	for (int i = 0; i < vm->nvcpus; i++) {
		r->vcpu[i] = vm->vcpus[i]->stats;
		r->cpu[i] = vm->vcpus[i]->cpu;
	}
	memcpy(r->stop_reason, vm->stop_reason, sizeof(r->stop_reason));
}

const char *json_safe(const char *s, char *buf, size_t n)
{
	size_t i = 0;

	for (; s[i] && i + 1 < n; i++)
		buf[i] = (s[i] == '"' || s[i] == '\\' || s[i] < 32) ? '\'' : s[i];
	buf[i] = '\0';
	return buf;
}

/* "exits":{...} and "faults":{...} of one counter set, nonzero entries only. */
static void format_counts(char *buf, size_t n, const struct vcpu_stats *s)
{
	size_t len = snprintf(buf, n, "\"exits\":{");

	for (int r = 0, first = 1; r < EXIT_REASONS && len < n; r++)
		if (s->exits[r]) {
			len += snprintf(buf + len, n - len, "%s\"%s\":%lu", first ? "" : ",",
			                exit_reason_name(r), s->exits[r]);
			first = 0;
		}
	if (len < n)
		len += snprintf(buf + len, n - len, "},\"faults\":{");
	for (int k = 0; k <= EPT_FAULT_VIOLATION && len < n; k++)
		len += snprintf(buf + len, n - len, "%s\"%s\":%lu", k ? "," : "",
		                fault_result_name(k), s->faults[k]);
	if (len < n)
		snprintf(buf + len, n - len,
		         ",\"outside\":%lu},\"pml_entries\":%lu,\"pml_full\":%lu", s->outside,
		         s->pml_entries, s->pml_full);
}

void vm_report_mark(const struct vm *vm, const char *mark)
{
	struct vcpu_stats sum;
	char counts[900], m[80];

	vm_sum_vcpu_stats(vm, &sum);
	format_counts(counts, sizeof(counts), &sum);
	printk("@json {\"mark\":\"%s\",\"scenario\":\"%s\",\"platform\":\"%s\",%s}\n",
	       json_safe(mark, m, sizeof(m)), vm->name, vmx_settings.platform, counts);
}

/* One line of MMU lock holds by operation kind (ept/ept.h, struct ept_hold), kinds that held
 * it at all: count, total and longest in TSC cycles, and the bound 99% stay under. */
static void print_lock_holds(const struct vm_report *r)
{
	char buf[900];
	size_t len = 0;

	for (int k = 0; k < EPT_OP_KINDS && len < sizeof(buf); k++) {
		const struct ept_hold *h = &r->ept.hold[k];

		if (h->holds)
			len += snprintf(buf + len, sizeof(buf) - len,
			                "%s\"%s\":{\"holds\":%lu,\"total\":%lu,\"longest\":%lu,"
			                "\"p99\":%lu}",
			                len ? "," : "", ept_op_kind_name(k), h->holds, h->total,
			                h->longest, ept_hold_quantile(h, 990));
	}
	if (len)
		printk("@json {\"scenario\":\"%s\",\"platform\":\"%s\",\"mmu_lock_cycles\":{%s},"
		       "\"yields\":%lu}\n",
		       r->name, vmx_settings.platform, buf, r->ept.yields);
}

void vm_report_print(const struct vm_report *r, const char *result, s64 leaked)
{
	struct vcpu_stats sum = { 0 };
	char counts[900], reason[160];

	for (int i = 0; i < r->nvcpus; i++)
		add_stats(&sum, &r->vcpu[i]);
	format_counts(counts, sizeof(counts), &sum);
	printk("@json {\"scenario\":\"%s\",\"platform\":\"%s\",\"result\":\"%s\",\"vcpus\":%d,%s,"
	       "\"populates\":%lu,\"hypercalls\":%lu,\"hypercall_errors\":%lu,"
	       "\"flushes\":%lu,\"shootdown_ipis\":%lu,\"splits\":%lu,\"collapses\":%lu,"
	       "\"leaves_by_size\":{\"4k\":%lu,\"2m\":%lu,\"1g\":%lu},"
	       "\"populated_by_size\":{\"4k\":%lu,\"2m\":%lu,\"1g\":%lu},"
	       "\"checks_passed\":%lu,\"checks_failed\":%lu,\"frames_leaked\":%ld,"
	       "\"stop_reason\":\"%s\"}\n",
	       r->name, vmx_settings.platform, result, r->nvcpus, counts, r->vm.populates,
	       r->vm.hypercalls, r->vm.hypercall_errors, r->ept.flushes, r->vm.shootdown_ipis,
	       r->ept.splits, r->ept.collapses, r->ept.leaves[1], r->ept.leaves[2],
	       r->ept.leaves[3], r->vm.populated[1], r->vm.populated[2], r->vm.populated[3],
	       r->vm.checks_passed, r->vm.checks_failed, leaked,
	       json_safe(r->stop_reason, reason, sizeof(reason)));
	print_lock_holds(r);
	for (int i = 0; r->nvcpus > 1 && i < r->nvcpus; i++) {
		format_counts(counts, sizeof(counts), &r->vcpu[i]);
		printk("@json "
		       "{\"scenario\":\"%s\",\"platform\":\"%s\",\"vcpu\":%d,\"cpu\":%u,%s}\n",
		       r->name, vmx_settings.platform, i, r->cpu[i], counts);
	}
}

void vm_check(struct vm *vm, int vcpu, bool ok, const char *fmt, ...)
{
	char msg[128], by[12] = "host";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (vcpu != VM_CHECK_HOST)
		snprintf(by, sizeof(by), "%d", vcpu);
	if (ok)
		STAT_INC(vm, checks_passed);
	else
		STAT_INC(vm, checks_failed);
	printk("  check %s/%s: %s - %s\n", vm->name, by, ok ? "ok" : "FAILED", msg);
}
