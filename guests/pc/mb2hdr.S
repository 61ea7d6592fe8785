/* Multiboot 2 header: architecture i386 (32-bit protected-mode entry), no optional tags. */
#define MB2_MAGIC 0xe85250d6
#define MB2_ARCH 0

	.section .multiboot, "a"
	.balign 8
mb2_header:
	.long MB2_MAGIC
	.long MB2_ARCH
	.long mb2_header_end - mb2_header
	.long -(MB2_MAGIC + MB2_ARCH + (mb2_header_end - mb2_header))
	.short 0			/* end tag */
	.short 0
	.long 8
mb2_header_end:
