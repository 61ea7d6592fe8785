/*
 * printk, panic and shutdown. The console lock is an __atomic spinlock; the exception path
 * prints without it (a CPU that faults while holding it must still be heard).
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "drivers/exitport.h"
#include "drivers/serial.h"
#include "lib.h"
#include "spinlock.h"

static spinlock_t console_lock = SPINLOCK_INIT;

static void vprint_raw(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	serial_write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void vprintk(const char *fmt, va_list ap)
{
	u64 flags = read_rflags();

	/* Interrupts off while holding the lock: an IPI handler that prints must not deadlock. */
	cli();
	spin_lock(&console_lock);
	vprint_raw(fmt, ap);
	spin_unlock(&console_lock);
	if (flags & RFLAGS_IF)
		sti();
}

void printk(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
}

void printk_unlocked(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint_raw(fmt, ap);
	va_end(ap);
}

void panic_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	cli();
	printk_unlocked("PANIC at %s:%d: ", file, line);
	va_start(ap, fmt);
	vprint_raw(fmt, ap);
	va_end(ap);
	printk_unlocked("\n");
	exitport_shutdown();
}

void system_shutdown(void)
{
	printk("eptvisor: shutdown\n");
	exitport_shutdown();
}
