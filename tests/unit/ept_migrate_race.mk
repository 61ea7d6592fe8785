# Migration (4K pages and whole 2M leaves) against the fault fast path, harvests and splits:
# the migration phases of tests/unit/test_ept_race.c, built apart (-DRACE_MIGRATION) so that
# each binary stays within the harness's time, under ASan/UBSan and again under ThreadSanitizer.
UNIT_TESTS += ept_migrate_race
unit_ept_migrate_race_SRCS := tests/unit/test_ept_race.c tests/unit/ept_env_host.c \
	$(wildcard ept/*.c)
unit_ept_migrate_race_CFLAGS := $(EPT_SMALL_CHUNKS) -DRACE_MIGRATION

EXTRA_UNIT_BINS += $(B)/unit/tsan_ept_migrate_race
$(B)/unit/tsan_ept_migrate_race: tests/unit/test_ept_race.c tests/unit/ept_migrate_race.mk \
		$(wildcard ept/*.c ept/*.h tests/unit/ept_env_host.* tests/unit/ept_hw.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TSAN    $@")
	$(Q)$(CLANG) -std=gnu11 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -Iinclude -I. \
		$(EPT_SMALL_CHUNKS) -DRACE_MIGRATION $(unit_ept_migrate_race_SRCS) -o $@ -lcmocka -lpthread
