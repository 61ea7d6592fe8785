UNIT_TESTS += ept
unit_ept_SRCS := tests/unit/test_ept.c tests/unit/ept_env_host.c $(wildcard ept/*.c)
