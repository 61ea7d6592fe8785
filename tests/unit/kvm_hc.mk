# KVM's hypercall ABI for VMCALL (devices/kvm_hc.c).
UNIT_TESTS += kvm_hc
unit_kvm_hc_SRCS := tests/unit/test_kvm_hc.c devices/kvm_hc.c
