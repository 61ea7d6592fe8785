# Devices for unmodified PC guests: the virtual local APIC, the MOV decoder for APIC-access
# exits and the guest page-table walker (devices/vlapic.c, insn.c, gwalk.c).
UNIT_TESTS += vlapic
unit_vlapic_SRCS := tests/unit/test_vlapic.c devices/vlapic.c

UNIT_TESTS += insn
unit_insn_SRCS := tests/unit/test_insn.c devices/insn.c devices/gwalk.c devices/memsplit.c
