# Linux as a guest (issue 16): Debian's own kernel and a busybox initramfs of the project's,
# under build/linux/ (downloaded, never committed). Included from the top Makefile.
#
#   make linux-pkgs   apt-get download linux-image-amd64's kernel package and busybox-static,
#                     unpack them with dpkg-deb -x (no root), build build/linux/vmlinuz and
#                     build/linux/initrd.gz (scripts/linux/init as /init, cpio newc, gzip)
#   make linux        linux-pkgs, then boot them under eptvisor in Bochs, 2 vCPUs and 256 MiB,
#                     to the busybox shell on ttyS0 (about 3-4 minutes); with a terminal on
#                     stdin, interactive: keystrokes reach the shell through eptvisor's COM1,
#                     its output comes back line by line; ctrl-] ends the run (run.py --console)
#   make linux-run    the same, never interactive, with LINUX_ARGS, LINUX_MEM, LINUX_VCPUS,
#                     LINUX_IPS, RUNARGS
#   make linux-qemu   boot them under plain QEMU TCG (the reference): the init's answers
#   make linux-bochs  boot them under plain Bochs, no eptvisor (the Haswell CPU model: the
#                     rig's tigerlake does not get through; docs/platform.md)
#   make test-linux   the Linux test (tests/harness/linux/test_linux.py): eptvisor, plain Bochs
#                     and QEMU, answers compared, commands typed into the shell
#   make test-linux-mission  the mission under Linux (test_linux_mission.py, ~11 minutes)

LX := $(B)/linux

.PHONY: linux linux-pkgs linux-qemu linux-run linux-bochs test-linux test-linux-mission
LINUX_ARGS ?= console=ttyS0 acpi=off
LINUX_MEM ?= 256M
LINUX_VCPUS ?= 2
# Bochs: emulated instructions per emulated second. Bochs runs about 50-60 M instructions
# per wall second here; at its default 4 M, Linux would see a 4 MIPS machine whose 250 Hz tick
# and timeouts cost 14 times more instructions (docs/platform.md).
LINUX_IPS ?= 50000000
linux-pkgs: $(LX)/vmlinuz $(LX)/initrd.gz

# The kernel package linux-image-amd64 depends on (linux-image-<version>-amd64).
$(LX)/root/.unpacked:
	@mkdir -p $(LX)/debs $(LX)/root
	$(Q)pkg=$$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $$2; exit}'); \
		test -n "$$pkg" || { echo "linux-pkgs: apt-cache knows no linux-image-amd64"; exit 1; }; \
		cd $(LX)/debs && apt-get download "$$pkg" busybox-static
	$(Q)for d in $(LX)/debs/*.deb; do dpkg-deb -x "$$d" $(LX)/root || exit 1; done
	$(Q)touch $@

$(LX)/vmlinuz: $(LX)/root/.unpacked
	$(Q)cp $$(ls $(LX)/root/boot/vmlinuz-* | head -n 1) $@

$(LX)/initrd.gz: $(LX)/root/.unpacked scripts/linux/init scripts/linux/mkinitramfs.py
	$(Q)$(PYTHON) scripts/linux/mkinitramfs.py --busybox $(LX)/root/bin/busybox \
		--init scripts/linux/init -o $@

linux-qemu: linux-pkgs
	$(Q)$(PYTHON) scripts/linux/boot_qemu.py

linux-bochs: deps linux-pkgs
	$(Q)$(PYTHON) scripts/linux/boot_bochs.py --cpus $(LINUX_VCPUS)

linux: deps linux-pkgs iso
	$(Q)$(LINUX_RUN) $$([ -t 0 ] && echo "--platform bochs --console")

test-linux: deps linux-pkgs iso
	$(Q)$(PYTHON) -m pytest -q tests/harness/linux/test_linux.py

# The mission under Linux (scenarios/lx_mission.c): one boot of about 11 minutes under Bochs,
# so not in test-linux (nor CI).
test-linux-mission: deps linux-pkgs iso
	$(Q)$(PYTHON) -m pytest -q tests/harness/linux/test_linux_mission.py

LINUX_RUN = $(PYTHON) tests/harness/run.py --guest $(LX)/vmlinuz --initrd $(LX)/initrd.gz \
	--guest-args "$(LINUX_ARGS)" --guest-mem $(LINUX_MEM) --guest-vcpus $(LINUX_VCPUS) \
	--megs 768 --ips $(LINUX_IPS) --timeout 1800 \
	--cmdline 'guest_budget=30000 guest_mark="Run /init as init process"' $(RUNARGS)

linux-run: deps linux-pkgs iso
	$(Q)$(LINUX_RUN)
