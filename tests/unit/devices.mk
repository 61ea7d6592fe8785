UNIT_TESTS += devices
unit_devices_SRCS := tests/unit/test_devices.c devices/pcio.c devices/ioapic.c devices/uart16550.c \
	devices/fwcfg.c devices/pic8259.c devices/pit8254.c devices/cmos.c devices/exitport.c devices/i8042.c devices/pcihost.c \
	devices/cpuid.c
