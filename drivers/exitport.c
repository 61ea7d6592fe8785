/* The emulators' exit ports (see exitport.h). */
#include "arch/cpu.h"
#include "drivers/exitport.h"
#include "drivers/serial.h"

void exitport_shutdown(void)
{
	const char *s = "Shutdown";

	cli();
	/* Drain first: the emulator stops at the port write and drops what is still queued. */
	serial_drain();
	while (*s)
		outb(BOCHS_SHUTDOWN_PORT, (u8)*s++);
	outb(QEMU_DEBUG_EXIT_PORT, QEMU_DEBUG_EXIT_CODE);
	halt_forever();
}
