# PC guest kernels: multiboot kernels of our own, built like hobby kernels (32-bit entry,
# 64-bit C, ELF64 at 1 MiB), run by QEMU (-kernel / GRUB ISO) and by eptvisor.
# Included from the top Makefile; everything goes under build/pc/. `make pcguests` builds all.
#
#   pcmb1.elf          multiboot 1, objcopy'd to ELF32 (QEMU -kernel refuses ELF64 multiboot)
#   pcmb2.elf          multiboot 2, ELF64; pcmb2.iso boots it from GRUB (PCMB2_ARGS)
#   bad_header.elf wild_jump.elf apic_garbage.elf runaway.elf   hostile kernels (ELF32)
#   irqattack.elf      hostile: attacks the interrupt paths (attack=NAME, see the file)
#   regleak.elf        hostile: register state between VMs, VMX/RDPMC/CR0 refusals, caches
#   straddle.elf log_flood.elf big_bss.elf apic_segment.elf       hostile input (ELF32)
#   pcapf.elf          uses KVM's async page faults when offered: tasks, a walker, a compute
#   pcapf_hostile.elf  hostile: misuses KVM's async-page-fault MSRs (both ELF32; pcapf.c says how)
#   ioapic.elf         finds the MP table, routes the PIT and COM1 through the I/O APIC
#   kvmhc.elf          KVM's hypercall ABI for VMCALL (64-bit, CPL 0; kvmhc.c says what)
#   mmio_ops.elf       ALU/TEST/XCHG/MOVZX/MOVSX/string forms on the APIC and unassigned memory
#   msrs.elf           RDMSR of the MSRs Linux reads at boot: a value or #GP for each
#   nmi.elf            NMIs: self, in the handler, in STI/MOV SS shadows, from the other CPU
#   realmode.elf       long mode -> real mode (an IVT of its own, INT, I/O) -> long mode
#   features.elf       RDTSCP (TSC_AUX per CPU) and PKU (RDPKRU/WRPKRU, a pkey #PF)
#   dbg.elf            debug exceptions (single-step, breakpoints, DR7.GD) and RF in fault frames
#   platdev.elf        COM1, RTC, 8042 interrupts through the PICs, PCI config, resets, halt
#   garbage.bin        no kernel at all: text, no multiboot header (hostile input)
#   pcbz.bin           a Linux bzImage (boot protocol 2.15) that prints its boot_params
#   pcbz-initrd.bin    its initrd: 5000 bytes of text (it prints their size and byte sum)

PCB := $(B)/pc
PC_LDFLAGS := -nostdlib -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments \
	-T guests/pc/pc.ld
PC_LIB := guests/pc/console.c guests/pc/idt.c guests/pc/isr.S guests/pc/entry.S \
	lib/printf.c lib/string.c
PC_MB := guests/pc/main.c guests/pc/mbinfo.c guests/pc/fwcfg.c guests/pc/pic.c \
	guests/pc/lapic.c guests/pc/smp.c guests/pc/ap.S $(PC_LIB)

pc_objs = $(patsubst %,$(PCB)/%.o,$(1))
PC_SRCS_pcmb1 := guests/pc/mb1hdr.S $(PC_MB)
PC_SRCS_pcmb2 := guests/pc/mb2hdr.S $(PC_MB)
PC_SRCS_apic_garbage := guests/pc/mb1hdr.S guests/pc/apic_garbage.c $(PC_LIB)
PC_SRCS_bad_header := guests/pc/bad_header.S guests/pc/early32.S
PC_SRCS_wild_jump := guests/pc/mb1hdr.S guests/pc/wild_jump.S guests/pc/early32.S
PC_SRCS_runaway := guests/pc/mb1hdr.S guests/pc/runaway.S guests/pc/early32.S
PC_SRCS_irqattack := guests/pc/mb1hdr.S guests/pc/irqattack.c guests/pc/mbinfo.c \
	guests/pc/lapic.c guests/pc/pic.c guests/pc/ap.S $(PC_LIB)
PC_SRCS_regleak := guests/pc/mb1hdr.S guests/pc/regleak.c guests/pc/regleak_trap.S \
	guests/pc/mbinfo.c guests/pc/fwcfg.c guests/pc/lapic.c $(PC_LIB)
# hostile input (issue 11): region-straddling MOVs, a guest that floods the log
PC_SRCS_straddle := guests/pc/mb1hdr.S guests/pc/straddle.c guests/pc/fwcfg.c $(PC_LIB)
PC_SRCS_log_flood := guests/pc/mb1hdr.S guests/pc/log_flood.c guests/pc/lapic.c $(PC_LIB)
PC_SRCS_big_bss := guests/pc/mb1hdr.S guests/pc/big_bss.S guests/pc/early32.S
PC_SRCS_apic_segment := guests/pc/apic_segment.S
# issue 15: KVM's async page faults, used by a kernel with tasks, and misused
PC_APF := guests/pc/ktrap.S guests/pc/ktrap.c guests/pc/kvmapf.c guests/pc/args.c \
	guests/pc/mbinfo.c guests/pc/lapic.c guests/pc/pic.c guests/pc/console.c guests/pc/entry.S \
	lib/printf.c lib/string.c
PC_SRCS_pcapf := guests/pc/mb1hdr.S guests/pc/pcapf.c guests/pc/sched.c guests/pc/apfsim.c \
	guests/pc/apstart.c guests/pc/ap.S $(PC_APF)
PC_SRCS_pcapf_hostile := guests/pc/mb1hdr.S guests/pc/pcapf_hostile.c $(PC_APF)
# issue 16: the MP table and the I/O APIC (PIT and COM1 routed through it)
# issue 16: platform fidelity for kernels written for QEMU/KVM
PC_SRCS_kvmhc := guests/pc/mb1hdr.S guests/pc/kvmhc.c guests/pc/kvmhc_modes.S $(PC_LIB)
PC_SRCS_msrs := guests/pc/mb1hdr.S guests/pc/msrs.c $(PC_LIB)
PC_SRCS_dbg := guests/pc/mb1hdr.S guests/pc/dbg.c guests/pc/dbg_cases.S guests/pc/pic.c \
	guests/pc/lapic.c $(PC_LIB)
PC_SRCS_platdev := guests/pc/mb1hdr.S guests/pc/platdev.c guests/pc/mbinfo.c guests/pc/args.c \
	$(PC_LIB)
PC_SRCS_mmio_ops := guests/pc/mb1hdr.S guests/pc/mmio_ops.c guests/pc/fwcfg.c guests/pc/lapic.c \
	$(PC_LIB)
PC_SRCS_nmi := guests/pc/mb1hdr.S guests/pc/nmi.c guests/pc/pic.c guests/pc/lapic.c \
	guests/pc/apstart.c guests/pc/ap.S $(PC_LIB)
PC_SRCS_realmode := guests/pc/mb1hdr.S guests/pc/realmode.c guests/pc/realmode16.S guests/pc/pic.c \
	$(PC_LIB)
PC_SRCS_features := guests/pc/mb1hdr.S guests/pc/features.c guests/pc/lapic.c \
	guests/pc/apstart.c guests/pc/ap.S $(PC_LIB)
PC_SRCS_ioapic := guests/pc/mb1hdr.S guests/pc/ioapic.c guests/pc/mbinfo.c guests/pc/fwcfg.c \
	guests/pc/pic.c guests/pc/lapic.c guests/pc/smp.c guests/pc/ap.S $(PC_LIB)

PC_ELF32 := pcmb1 apic_garbage bad_header wild_jump runaway irqattack regleak straddle \
	log_flood big_bss apic_segment pcapf pcapf_hostile ioapic kvmhc mmio_ops msrs nmi \
	realmode features dbg platdev
PC_KERNELS := $(patsubst %,$(PCB)/%.elf,$(PC_ELF32) pcmb2) $(PCB)/garbage.bin $(PCB)/pcbz.bin \
	$(PCB)/pcbz-initrd.bin
PC_ALL_OBJS := $(sort $(foreach k,$(PC_ELF32) pcmb2,$(call pc_objs,$(PC_SRCS_$(k))))) \
	$(PCB)/guests/pc/pcbz.S.o
PCMB2_ARGS ?= alpha beta=2

.PHONY: pcguests
pcguests: $(PC_KERNELS) $(PCB)/pcmb2.iso

$(PCB)/%.c.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC [pc] $<")
	$(Q)$(CC) $(GCFLAGS) -MMD -MP -c $< -o $@

$(PCB)/%.S.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS [pc] $<")
	$(Q)$(CC) $(KASFLAGS) -MMD -MP -c $< -o $@

# name.elf64: the ELF64 link; name.elf: what a loader gets (ELF32 for multiboot 1).
define pc_link
$(PCB)/$(1).elf64: $(call pc_objs,$(PC_SRCS_$(1))) guests/pc/pc.ld
	@$$(if $$(Q),echo "  LD [pc] $$@")
	$$(Q)$$(LD) $$(PC_LDFLAGS) $(call pc_objs,$(PC_SRCS_$(1))) -o $$@
endef
$(foreach k,$(PC_ELF32) pcmb2,$(eval $(call pc_link,$(k))))

$(patsubst %,$(PCB)/%.elf,$(PC_ELF32)): $(PCB)/%.elf: $(PCB)/%.elf64
	$(Q)$(OBJCOPY) -O elf32-i386 $< $@

$(PCB)/garbage.bin:
	@mkdir -p $(PCB)
	$(Q)yes 'garbage, not a kernel' | head -c 16384 > $@

$(PCB)/pcbz.elf64: $(PCB)/guests/pc/pcbz.S.o guests/pc/pcbz.ld
	@$(if $(Q),echo "  LD [pc] $@")
	$(Q)$(LD) -nostdlib -z noexecstack -T guests/pc/pcbz.ld $< -o $@

$(PCB)/pcbz.bin: $(PCB)/pcbz.elf64
	$(Q)$(OBJCOPY) -O binary $< $@

$(PCB)/pcbz-initrd.bin:
	@mkdir -p $(PCB)
	$(Q)yes 'pcbz initrd: not a cpio archive' | head -c 5000 > $@

$(PCB)/pcmb2.elf: $(PCB)/pcmb2.elf64
	$(Q)cp $< $@

$(PCB)/pcmb2.iso: $(PCB)/pcmb2.elf
	@mkdir -p $(PCB)/iso/boot/grub
	$(Q)cp $< $(PCB)/iso/boot/pcmb2.elf
	$(Q)printf 'set timeout=0\nset default=0\nserial --unit=0 --speed=115200\nterminal_output console\nmenuentry "pcmb2" {\n  multiboot2 /boot/pcmb2.elf %s\n  boot\n}\n' '$(PCMB2_ARGS)' > $(PCB)/iso/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $(PCB)/iso >$(PCB)/grub-mkrescue.log 2>&1 || (cat $(PCB)/grub-mkrescue.log; false)

-include $(PC_ALL_OBJS:.o=.d)
