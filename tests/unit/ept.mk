UNIT_TESTS += ept
unit_ept_SRCS := tests/unit/test_ept.c tests/unit/ept_env_host.c $(wildcard ept/*.c)

UNIT_TESTS += ept_model
unit_ept_model_SRCS := tests/unit/test_ept_model.c tests/unit/ept_model.c tests/unit/ept_env_host.c \
	$(wildcard ept/*.c)

UNIT_TESTS += ept_race
unit_ept_race_SRCS := tests/unit/test_ept_race.c tests/unit/ept_env_host.c $(wildcard ept/*.c)

# The race test again under ThreadSanitizer (clang), run by the harness as a tsan_* binary.
EPT_TEST_DEPS := $(wildcard ept/*.c ept/*.h tests/unit/ept*.c tests/unit/ept*.h) tests/unit/ept.mk
EXTRA_UNIT_BINS += $(B)/unit/tsan_ept_race
$(B)/unit/tsan_ept_race: tests/unit/test_ept_race.c $(EPT_TEST_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TSAN    $@")
	$(Q)$(CLANG) -std=gnu11 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -Iinclude -I. \
		$(unit_ept_race_SRCS) -o $@ -lcmocka -lpthread
