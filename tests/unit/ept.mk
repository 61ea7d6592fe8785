UNIT_TESTS += ept
unit_ept_SRCS := tests/unit/test_ept.c tests/unit/ept_env_host.c $(wildcard ept/*.c)

UNIT_TESTS += ept_model
unit_ept_model_SRCS := tests/unit/test_ept_model.c tests/unit/ept_model.c tests/unit/ept_env_host.c \
	$(wildcard ept/*.c)

UNIT_TESTS += ept_race
unit_ept_race_SRCS := tests/unit/test_ept_race.c tests/unit/ept_env_host.c $(wildcard ept/*.c)

# The race, model and fuzz tests drop the MMU lock every few entries (ept/internal.h), so that
# every chunked operation restarts its walks often while others change the tree.
EPT_SMALL_CHUNKS := -DEPT_CHUNK_WORK=2048
unit_ept_race_CFLAGS := $(EPT_SMALL_CHUNKS)
unit_ept_model_CFLAGS := $(EPT_SMALL_CHUNKS)

# The race test again under ThreadSanitizer (clang), run by the harness as a tsan_* binary.
EPT_TEST_DEPS := $(wildcard ept/*.c ept/*.h tests/unit/ept*.c tests/unit/ept*.h) tests/unit/ept.mk
EXTRA_UNIT_BINS += $(B)/unit/tsan_ept_race
$(B)/unit/tsan_ept_race: tests/unit/test_ept_race.c $(EPT_TEST_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TSAN    $@")
	$(Q)$(CLANG) -std=gnu11 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -Iinclude -I. \
		$(EPT_SMALL_CHUNKS) $(unit_ept_race_SRCS) -o $@ -lcmocka -lpthread

# libFuzzer over operation sequences checked against the model; the harness runs it for a
# bounded time in `make test`, `make fuzz` longer (EPT_FUZZ_SECONDS).
EPT_FUZZ_SECONDS ?= $(FUZZ_SECONDS)
EXTRA_UNIT_BINS += $(B)/unit/fuzz_ept
EPT_FUZZ_FLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -Iinclude -I. \
	-fno-sanitize-recover=all $(EPT_SMALL_CHUNKS)
# Only ept/ and the target carry coverage instrumentation: the model's page-by-page loops
# would otherwise dominate the run time and flood the fuzzer with meaningless features.
# No comparison tracing: input bytes are choices taken modulo small counts, there are no
# magic values to learn, and tracing every compare in the EPT walker cost ~40% of the time.
$(B)/unit/fuzz_ept: tests/unit/fuzz_ept.c $(EPT_TEST_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CLANG) $(EPT_FUZZ_FLAGS) -fsanitize=address,undefined -c tests/unit/ept_model.c \
		-o $@-model.o
	$(Q)$(CLANG) $(EPT_FUZZ_FLAGS) -fsanitize=address,undefined -c tests/unit/ept_env_host.c \
		-o $@-env.o
	$(Q)$(CLANG) $(EPT_FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-coverage=trace-cmp tests/unit/fuzz_ept.c $(wildcard ept/*.c) \
		$@-model.o $@-env.o -o $@

.PHONY: fuzz-ept
fuzz: fuzz-ept
fuzz-ept: $(B)/unit/fuzz_ept
	@mkdir -p $(B)/fuzz/ept
	$< -max_total_time=$(EPT_FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(B)/fuzz/ept/ \
		$(B)/fuzz/ept

# Host benchmarks of the EPT core: @json lines, build/bench/ept_core.json and its report
# build/bench/ept_core.{md,png}. BENCH_HOST_RUNS runs per record (15: about a minute on an
# idle 2-core machine), BENCH_HOST_GIB GiB of guest for scan and harvest.
BENCH_HOST_RUNS ?= 15
BENCH_HOST_GIB ?= 64
.PHONY: bench-host-ept
bench-host: bench-host-ept
bench-host-ept: $(B)/bench/ept_bench
	$(Q)rm -f $(B)/bench/ept_core.json $(B)/bench/ept_core.md $(B)/bench/ept_core.png
	$(Q)$< --runs $(BENCH_HOST_RUNS) --gib $(BENCH_HOST_GIB) $(B)/bench/ept_core.json
	$(Q)$(PYTHON) tests/harness/bench_host_report.py $(B)/bench/ept_core.json
$(B)/bench/ept_bench: tests/unit/ept_bench.c $(EPT_TEST_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $@")
	$(Q)$(HOSTCC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Iinclude -I. tests/unit/ept_bench.c \
		tests/unit/ept_env_host.c $(wildcard ept/*.c) -o $@ -lpthread
