# The slow backing store's fetch/evict protocol (ept/store.c) under real threads
# (tests/unit/test_store.c), under ASan/UBSan and again under ThreadSanitizer.
UNIT_TESTS += store
unit_store_SRCS := tests/unit/test_store.c tests/unit/ept_env_host.c $(wildcard ept/*.c)

EXTRA_UNIT_BINS += $(B)/unit/tsan_store
$(B)/unit/tsan_store: tests/unit/test_store.c tests/unit/store.mk \
		$(wildcard ept/*.c ept/*.h tests/unit/ept_env_host.* tests/unit/ept_hw.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TSAN    $@")
	$(Q)$(CLANG) -std=gnu11 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -Iinclude -I. \
		$(unit_store_SRCS) -o $@ -lcmocka -lpthread
