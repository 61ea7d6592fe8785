# The IPI mailbox of PC guests (devices/irqbox.h, header only): basics, and its Dekker
# protocol with in_guest under real threads.
UNIT_TESTS += irqbox
unit_irqbox_SRCS := tests/unit/test_irqbox.c

# The same race test under ThreadSanitizer (clang), run by the harness as a tsan_* binary.
EXTRA_UNIT_BINS += $(B)/unit/tsan_irqbox
$(B)/unit/tsan_irqbox: tests/unit/test_irqbox.c devices/irqbox.h include/types.h \
		tests/unit/irqbox.mk
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TSAN    $@")
	$(Q)$(CLANG) -std=gnu11 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -Iinclude -I. \
		$(unit_irqbox_SRCS) -o $@ -lcmocka -lpthread
