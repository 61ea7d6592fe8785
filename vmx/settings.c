/* The core's settings (see settings.h), with the values a command line without them means. */
#include "vmx/settings.h"

struct vmx_settings vmx_settings = {
	.platform = "unknown",
	.trace = TRACE_MODE_OFF,
};
