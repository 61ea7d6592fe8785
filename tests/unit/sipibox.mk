# The INIT/SIPI state of PC guests' vCPUs (devices/sipibox.h, header only): basics, and
# INIT-SIPI back to back against a polling AP under real threads.
UNIT_TESTS += sipibox
unit_sipibox_SRCS := tests/unit/test_sipibox.c

# The same race test under ThreadSanitizer (clang), run by the harness as a tsan_* binary.
EXTRA_UNIT_BINS += $(B)/unit/tsan_sipibox
$(B)/unit/tsan_sipibox: tests/unit/test_sipibox.c devices/sipibox.h include/spinlock.h \
		include/types.h tests/unit/sipibox.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TSAN    $@")
	$(Q)$(CLANG) -std=gnu11 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -Iinclude -I. \
		-DROUNDS=1000 $(unit_sipibox_SRCS) -o $@ -lcmocka -lpthread
