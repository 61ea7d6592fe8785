/*
 * Scenarios: the table of named experiments and tests that run guests (kvm-unit-tests
 * style). The command line's run= picks them; each prints a TAP line and an @json line, and
 * the run ends with the plain summary `N passed, N failed[, N skipped]`.
 */
#ifndef EPTVISOR_VMX_SCENARIO_H
#define EPTVISOR_VMX_SCENARIO_H

#include "boot/options.h"
#include "vmx/vm.h"

/* Every name run= accepts (scenarios and groups), NULL-terminated. */
const char *const *scenario_name_list(void);

void scenarios_run(const struct options *o);
/* No scenario can run (no VMX): report each selected one as skipped, with why. */
void scenarios_skip_all(const char *why);

#endif
