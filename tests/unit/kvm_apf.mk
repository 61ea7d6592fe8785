# KVM's asynchronous page faults (devices/kvm_apf.c): the MSRs, token table and delivery
# rules, and a race with the slow store (ept/store.c) under real threads
# (tests/unit/test_kvm_apf.c), under ASan/UBSan and again under ThreadSanitizer.
UNIT_TESTS += kvm_apf
unit_kvm_apf_SRCS := tests/unit/test_kvm_apf.c devices/kvm_apf.c tests/unit/ept_env_host.c \
	$(wildcard ept/*.c)

EXTRA_UNIT_BINS += $(B)/unit/tsan_kvm_apf
$(B)/unit/tsan_kvm_apf: tests/unit/test_kvm_apf.c tests/unit/kvm_apf.mk devices/kvm_apf.c \
		devices/kvm_apf.h $(wildcard ept/*.c ept/*.h tests/unit/ept_env_host.* tests/unit/ept_hw.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TSAN    $@")
	$(Q)$(CLANG) -std=gnu11 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -Iinclude -I. \
		$(unit_kvm_apf_SRCS) -o $@ -lcmocka -lpthread
