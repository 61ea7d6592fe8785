UNIT_TESTS += multiboot cmdline frame
unit_multiboot_SRCS := tests/unit/test_multiboot.c boot/multiboot.c
unit_cmdline_SRCS := tests/unit/test_cmdline.c boot/cmdline.c
unit_frame_SRCS := tests/unit/test_frame.c mm/frame.c
