# libFuzzer targets for the parsers and device models (tests/unit/fuzz_<name>.c). Each one
# checks invariants of what it fuzzes, not only that nothing crashes; see the purpose comment
# at the top of each file. `make unit` builds them as build/unit/fuzz_<name>; the harness
# (tests/harness/test_unit.py) runs every fuzz_* binary for EPTVISOR_FUZZ_SECONDS in
# `make test`, seeded from tests/unit/corpus/<name>/. `make fuzz` runs each for FUZZ_SECONDS
# (`make fuzz-<name>` just one), keeping its corpus in build/fuzz/<name>/.
#
# fuzz_ept is built by tests/unit/ept.mk (its own instrumentation split).

FUZZ_SECONDS ?= 60

FUZZ_TARGETS += mbimage
fuzz_mbimage_SRCS := loader/mbimage.c
FUZZ_TARGETS += bzimage
fuzz_bzimage_SRCS := loader/bzimage.c loader/mbinfo.c
FUZZ_TARGETS += mbinfo
fuzz_mbinfo_SRCS := loader/mbinfo.c boot/multiboot.c
FUZZ_TARGETS += pcio
fuzz_pcio_SRCS := devices/pcio.c devices/ioapic.c devices/uart16550.c devices/fwcfg.c devices/pic8259.c \
	devices/pit8254.c devices/cmos.c devices/exitport.c devices/i8042.c devices/pcihost.c
FUZZ_TARGETS += vlapic
fuzz_vlapic_SRCS := devices/vlapic.c
FUZZ_TARGETS += ioapic
fuzz_ioapic_SRCS := devices/ioapic.c
FUZZ_TARGETS += insn
fuzz_insn_SRCS := devices/insn.c
FUZZ_TARGETS += gwalk
fuzz_gwalk_SRCS := devices/gwalk.c
FUZZ_TARGETS += cmdline
fuzz_cmdline_SRCS := boot/cmdline.c boot/options.c
FUZZ_TARGETS += multiboot
fuzz_multiboot_SRCS := boot/multiboot.c

# UB aborts (a crash libFuzzer reports and the harness fails on) instead of a printed warning.
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -Iinclude -I. \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

FUZZ_BINS := $(patsubst %,$(B)/unit/fuzz_%,$(FUZZ_TARGETS))
EXTRA_UNIT_BINS += $(FUZZ_BINS)

.SECONDEXPANSION:
$(FUZZ_BINS): $(B)/unit/fuzz_%: tests/unit/fuzz_%.c $$(fuzz_$$*_SRCS) tests/unit/fuzz.mk \
		tests/unit/fuzz.h $(wildcard include/*.h devices/*.h loader/*.h boot/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(fuzz_$*_SRCS) -o $@

.PHONY: fuzz $(patsubst %,fuzz-%,$(FUZZ_TARGETS))
fuzz: $(patsubst %,fuzz-%,$(FUZZ_TARGETS))
$(patsubst %,fuzz-%,$(FUZZ_TARGETS)): fuzz-%: $(B)/unit/fuzz_%
	@mkdir -p $(B)/fuzz/$*
	$(if $(wildcard tests/unit/corpus/$*/*),cp -n tests/unit/corpus/$*/* $(B)/fuzz/$*/)
	$< -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(B)/fuzz/$*/ \
		$(B)/fuzz/$*
