/*
 * What a failed ASSERT or WARN_ON does in the debug kernel (include/kassert.h): panic, or
 * print one line and go on. The normal kernel compiles the checks out and has no need of
 * these, so they exist only with DEBUG (the normal image stays as it was).
 */
#include "drivers/console.h"
#include "kassert.h"

#ifdef DEBUG
void assert_failed(const char *file, int line, const char *expr)
{
	panic_at(file, line, "ASSERT(%s)", expr);
}

void warn_at(const char *file, int line, const char *expr)
{
	printk("WARN at %s:%d: %s\n", file, line, expr);
}
#endif
