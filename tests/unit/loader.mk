UNIT_TESTS += loader
unit_loader_SRCS := tests/unit/test_loader.c loader/mbimage.c loader/mbinfo.c loader/mptable.c boot/multiboot.c
