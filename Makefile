# eptvisor: one build for the kernel, the guests, the ISO, the host tests and benchmarks.
# `make V=1` shows full commands. Objects go under build/.
#
#   make run     install what is missing, build, boot under the best platform, run the demo
#   make test    install what is missing, run host tests + boot tests + in-guest scenarios
#   make debug   boot under Bochs' debugger (or QEMU's gdbstub: make debug PLATFORM=qemu)
#   make bench   the fault-latency benchmark: build/bench/fault_latency.{json,md,png}
#   make bench-host   host benchmarks of the EPT core: build/bench/ept_core.{json,md,png}
#   make lint    cppcheck and the include direction (scripts/check_layers.py); `make test`
#                runs both, and the clang-format check (make format-check)
#   make kernel DEBUG=1   the debug kernel: assertions on (include/kassert.h), build/debug/

CROSS_COMPILE ?=
CC      := $(CROSS_COMPILE)gcc
LD      := $(CROSS_COMPILE)ld
OBJCOPY := $(CROSS_COMPILE)objcopy
HOSTCC  ?= gcc
CLANG   ?= clang
PYTHON  ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
B       := build
# DEBUG=1: the debug kernel, with ASSERT/WARN_ON checked (include/kassert.h), built apart.
ifeq ($(DEBUG),1)
B       := build/debug
KDEBUG  := -DDEBUG
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN   := -Wall -Wextra -Werror -Wshadow -Wundef -Wmissing-prototypes -Wstrict-prototypes
KCFLAGS := -std=gnu11 -O2 -g -ffreestanding -fno-pic -fno-pie -fno-common -fno-stack-protector \
	-mcmodel=kernel -mno-red-zone -mno-sse -mno-sse2 -mno-mmx -mno-avx -fno-builtin \
	-fno-asynchronous-unwind-tables $(WARN) -Iinclude -I. $(KDEBUG)
KASFLAGS := -D__ASSEMBLY__ -Iinclude -I. -g
KLDFLAGS := -nostdlib -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments -T linker.ld

KSRCS := $(wildcard boot/*.c boot/*.S arch/*.c arch/*.S mm/*.c vmx/*.c vmx/*.S pc/*.c hypercall/*.c scenarios/*.c ept/*.c \
	drivers/*.c lib/*.c devices/*.c loader/*.c)
KOBJS := $(patsubst %,$(B)/k/%.o,$(KSRCS)) $(B)/k/guests/blob.S.o

# Guest programs: 64-bit flat images that run inside a VM, linked at GUEST_LOAD_GPA.
GCFLAGS := -std=gnu11 -O2 -ffreestanding -fno-pic -fno-pie -fno-common -fno-stack-protector \
	-mno-red-zone -mno-sse -mno-sse2 -mno-mmx -fno-builtin -fno-asynchronous-unwind-tables \
	$(WARN) -Iinclude -I.
GSRCS := $(wildcard guests/*.c) guests/entry.S lib/printf.c lib/string.c
GOBJS := $(patsubst %,$(B)/g/%.o,$(GSRCS))

.PHONY: all kernel iso run test unit debug clean deps format format-check lint lint-cppcheck \
	lint-layers bench bench-host fuzz soak
all: iso

$(B)/k/%.c.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(KCFLAGS) -MMD -MP -c $< -o $@

$(B)/k/%.S.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(KASFLAGS) -MMD -MP -c $< -o $@

$(B)/k/guests/blob.S.o: guests/blob.S $(B)/guests/testguest.bin
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(KASFLAGS) -DGUEST_BIN='"$(B)/guests/testguest.bin"' -c $< -o $@

$(B)/g/%.c.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC [g]  $<")
	$(Q)$(CC) $(GCFLAGS) -MMD -MP -c $< -o $@

$(B)/g/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(KASFLAGS) -MMD -MP -c $< -o $@

$(B)/guests/testguest.elf: $(GOBJS) guests/guest.ld
	@mkdir -p $(dir $@)
	$(Q)$(LD) -nostdlib -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments -T guests/guest.ld $(GOBJS) -o $@

$(B)/guests/testguest.bin: $(B)/guests/testguest.elf
	$(Q)$(OBJCOPY) -O binary $< $@

$(B)/eptvisor.elf: $(KOBJS) linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(KLDFLAGS) $(KOBJS) -o $@

# Flat image for `qemu -kernel` (multiboot1 a.out-kludge header at its start).
$(B)/eptvisor.bin: $(B)/eptvisor.elf
	$(Q)$(OBJCOPY) -O binary --remove-section=.bss $< $@

kernel: $(B)/eptvisor.elf $(B)/eptvisor.bin

ISO_CMDLINE ?= run=demo
$(B)/eptvisor.iso: $(B)/eptvisor.elf
	@mkdir -p $(B)/iso/boot/grub
	$(Q)cp $< $(B)/iso/boot/eptvisor.elf
	$(Q)printf 'set timeout=0\nset default=0\nserial --unit=0 --speed=115200\nterminal_output serial console\nmenuentry "eptvisor" {\n  multiboot2 /boot/eptvisor.elf %s\n  boot\n}\n' '$(ISO_CMDLINE)' > $(B)/iso/boot/grub/grub.cfg
	@$(if $(Q),echo "  ISO     $@")
	$(Q)grub-mkrescue -o $@ $(B)/iso >$(B)/grub-mkrescue.log 2>&1 || (cat $(B)/grub-mkrescue.log; false)

iso: $(B)/eptvisor.iso $(B)/eptvisor.bin

deps:
	$(Q)./scripts/deps.sh

# PC guest kernels (multiboot 1/2 kernels of our own, run by eptvisor and by QEMU -kernel).
-include guests/pc/pc.mk

# Linux as a guest: Debian's kernel and a busybox initramfs in build/linux/ (make linux-pkgs).
include scripts/linux/linux.mk

# ---- host tests -----------------------------------------------------------------------------
# Each tests/unit/*.mk adds names to UNIT_TESTS and sets unit_<name>_SRCS.
UNIT_TESTS :=
include $(wildcard tests/unit/*.mk)
HOST_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -Wshadow \
	-Iinclude -I. -fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_BINS := $(patsubst %,$(B)/unit/test_%,$(UNIT_TESTS))

$(B)/unit/test_%: FORCE_UNIT
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $@")
	$(Q)$(HOSTCC) $(HOST_CFLAGS) $(unit_$*_CFLAGS) $(unit_$*_SRCS) -o $@ -lcmocka -lpthread

.PHONY: FORCE_UNIT
FORCE_UNIT:

unit: $(UNIT_BINS) $(EXTRA_UNIT_BINS)

# ---- the two README commands ----------------------------------------------------------------
# make run GUEST=path/to/kernel.elf [GUEST_ARGS="..."] [GUEST_VCPUS=2] [GUEST_MEM=128M]: boot
# a multiboot kernel of your own as a PC guest instead of the demo.
run: deps iso
	$(Q)$(PYTHON) tests/harness/run.py $(if $(GUEST),--guest "$(GUEST)",--scenario demo) \
		$(if $(GUEST_ARGS),--guest-args "$(GUEST_ARGS)") \
		$(if $(GUEST_VCPUS),--guest-vcpus $(GUEST_VCPUS)) \
		$(if $(GUEST_MEM),--guest-mem $(GUEST_MEM)) $(RUNARGS)

test: deps iso unit pcguests
	$(Q)./scripts/test.sh

debug: iso
	$(Q)$(PYTHON) tests/harness/run.py --debug $(if $(PLATFORM),--platform $(PLATFORM)) --cmdline "$(ISO_CMDLINE)"

# Longer runs than `make test` allows: the mission scenarios with 1000 harvest rounds, and
# the three-writer run on 4 CPUs.
SOAK_ROUNDS ?= 1000
soak: deps iso
	$(Q)$(PYTHON) tests/harness/run.py --scenario mission --cmdline "rounds=$(SOAK_ROUNDS)" --timeout 7200 --quiet
	$(Q)$(PYTHON) tests/harness/run.py --scenario smp4 --cpus 4 --cmdline "rounds=$(SOAK_ROUNDS)" --timeout 7200 --quiet

# The fault-latency benchmark (docs/benchmarks.md): boots run=bench on the best VMX platform
# and writes build/bench/fault_latency.{json,md,png}. Not part of `make test`.
# BENCH_CPUS: vCPUs faulting at once (default 4 under Bochs, at most the host's CPUs on KVM).
BENCH_SAMPLES ?= 500
BENCH_CPUS ?=
# The async page-fault benchmark's store latency (tests/harness/bench_apf.py, build/bench/async_pf.*).
BENCH_APF_LATENCY_US ?= 40000
bench: deps kernel pcguests
	$(Q)$(PYTHON) tests/harness/bench.py --samples $(BENCH_SAMPLES) $(if $(BENCH_CPUS),--cpus $(BENCH_CPUS))
	$(Q)$(PYTHON) tests/harness/bench_apf.py --latency-us $(BENCH_APF_LATENCY_US)

# ---- habits that check themselves (make test runs these: tests/harness/test_lint.py and
# test_layout.py) -------------------------------------------------------------------------
FORMAT_FILES = $(shell git ls-files '*.c' '*.h')

format:
	clang-format -i $(FORMAT_FILES)

# Every C file and header that clang-format (the repo's .clang-format) would change.
format-check:
	$(Q)clang-format --dry-run --Werror $(FORMAT_FILES)

LINT_DIRS := boot arch mm vmx pc hypercall scenarios ept drivers lib guests devices loader
# A finding that cppcheck gets wrong is suppressed inline, with the reason beside it.
CPPCHECK := cppcheck --quiet --enable=warning,style --inline-suppr --error-exitcode=1 \
	-Iinclude -I. --suppress=missingIncludeSystem

lint: lint-cppcheck lint-layers

lint-cppcheck:
	$(CPPCHECK) $(LINT_DIRS)

# The include direction of the rooms; scripts/layers_allow.txt lists what is still against it.
lint-layers:
	$(Q)$(PYTHON) scripts/check_layers.py --allow scripts/layers_allow.txt

clean:
	rm -rf $(B)

-include $(shell find $(B)/k $(B)/g -name '*.d' 2>/dev/null)
