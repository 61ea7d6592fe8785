UNIT_TESTS += ept
unit_ept_SRCS := tests/unit/test_ept.c tests/unit/ept_env_host.c $(wildcard ept/*.c)

UNIT_TESTS += ept_model
unit_ept_model_SRCS := tests/unit/test_ept_model.c tests/unit/ept_model.c tests/unit/ept_env_host.c \
	$(wildcard ept/*.c)
