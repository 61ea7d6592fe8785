/*
 * KVM's hypercall ABI for VMCALL (devices/kvm_hc.c), against what KVM's kvm_emulate_hypercall
 * returns: -KVM_ENOSYS for unknown numbers and for hypercalls whose feature is not offered,
 * 0 for KVM_HC_VAPIC_POLL_IRQ, -KVM_EPERM from CPL > 0 (whatever the number), numbers and
 * results cut to 32 bits outside 64-bit mode.
 */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include "devices/kvm_hc.h"

static u64 call(u64 nr, int cpl, bool op64)
{
	struct kvm_hc_call c = { .nr = nr, .cpl = cpl, .op64 = op64 };

	return kvm_hypercall(&c);
}

static void test_unknown_is_enosys(void **state)
{
	(void)state;
	assert_int_equal(call(0, 0, true), (u64)-1000);
	assert_int_equal(call(13, 0, true), (u64)-1000);
	assert_int_equal(call(0x12345678, 0, true), (u64)-1000);
	assert_int_equal(call(~0ULL, 0, true), (u64)-1000);
	/* A number whose low half is VAPIC_POLL_IRQ is a different number in 64-bit mode. */
	assert_int_equal(call(0x100000001ULL, 0, true), (u64)-1000);
}

static void test_features_not_offered(void **state)
{
	static const u64 nrs[] = { KVM_HC_MMU_OP,        KVM_HC_FEATURES,    KVM_HC_KICK_CPU,
		                   KVM_HC_CLOCK_PAIRING, KVM_HC_SEND_IPI,    KVM_HC_SCHED_YIELD,
		                   KVM_HC_MAP_GPA_RANGE, KVM_HC_MIPS_EXIT_VM };

	(void)state;
	for (size_t i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++)
		assert_int_equal(call(nrs[i], 0, true), (u64)-KVM_ENOSYS);
}

static void test_vapic_poll_irq(void **state)
{
	(void)state;
	assert_int_equal(call(KVM_HC_VAPIC_POLL_IRQ, 0, true), 0);
	assert_int_equal(call(KVM_HC_VAPIC_POLL_IRQ, 0, false), 0);
}

static void test_cpl_above_0_eperm(void **state)
{
	(void)state;
	for (int cpl = 1; cpl <= 3; cpl++) {
		assert_int_equal(call(KVM_HC_VAPIC_POLL_IRQ, cpl, true), (u64)-1);
		assert_int_equal(call(0, cpl, true), (u64)-1);
		assert_int_equal(call(0, cpl, false), 0xffffffffULL);
	}
}

static void test_32bit_truncation(void **state)
{
	(void)state;
	assert_int_equal(call(0, 0, false), 0xfffffc18ULL);
	/* The upper half of RAX is ignored outside 64-bit mode. */
	assert_int_equal(call(0xdead000000000001ULL, 0, false), 0);
	assert_int_equal(call(0xdead000000000005ULL, 0, false), 0xfffffc18ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_is_enosys),
		cmocka_unit_test(test_features_not_offered),
		cmocka_unit_test(test_vapic_poll_irq),
		cmocka_unit_test(test_cpl_above_0_eperm),
		cmocka_unit_test(test_32bit_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
