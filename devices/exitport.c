/*
 * Exit ports (see exitport.h): recognising "end this VM" requests from the guest.
 */
#include "devices/exitport.h"
#include "lib.h"

static const char shutdown_word[] = "Shutdown";

void debug_exit_describe(u32 v, char *how, size_t n)
{
	snprintf(how, n, "isa-debug-exit value 0x%x (QEMU exits with status %u)", v,
	         debug_exit_status(v) & 0xff);
}

bool shutdown_port_write(struct shutdown_port *s, u8 byte)
{
	if (byte != (u8)shutdown_word[s->matched])
		s->matched = 0;
	if (byte != (u8)shutdown_word[s->matched])
		return false;
	if (++s->matched < sizeof(shutdown_word) - 1)
		return false;
	s->matched = 0;
	return true;
}
