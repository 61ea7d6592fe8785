# The hypervisor's own writes to guest memory against migration and collapse by copy: real
# threads (tests/unit/test_ept_copy_race.c), under ASan/UBSan and again under ThreadSanitizer.
UNIT_TESTS += ept_copy_race
unit_ept_copy_race_SRCS := tests/unit/test_ept_copy_race.c tests/unit/ept_env_host.c \
	$(wildcard ept/*.c)

EXTRA_UNIT_BINS += $(B)/unit/tsan_ept_copy_race
$(B)/unit/tsan_ept_copy_race: tests/unit/test_ept_copy_race.c tests/unit/ept_copy_race.mk \
		$(wildcard ept/*.c ept/*.h tests/unit/ept_env_host.* tests/unit/ept_hw.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TSAN    $@")
	$(Q)$(CLANG) -std=gnu11 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -Iinclude -I. \
		$(unit_ept_copy_race_SRCS) -o $@ -lcmocka -lpthread
