UNIT_TESTS += bzimage
unit_bzimage_SRCS := tests/unit/test_bzimage.c loader/bzimage.c loader/mbinfo.c
