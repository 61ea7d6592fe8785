/*
 * The IDT and trap dispatch. Exceptions in the hypervisor are bugs: they print everything a
 * reader needs (name, error code, all registers, control registers, the CPU) and stop the
 * machine, except #BP, which returns so the dump can be shown on purpose (exc-test=on).
 */
#include "arch/cpu.h"
#include "arch/gdt.h"
#include "arch/lapic.h"
#include "arch/percpu.h"
#include "arch/trap.h"
#include "drivers/console.h"
#include "drivers/exitport.h"

struct PACKED idt_gate {
	u16 off_lo, sel;
	u8 ist, type;
	u16 off_mid;
	u32 off_hi, zero;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));

static const char *const exc_names[32] = {
	"#DE Divide Error",
	"#DB Debug",
	"NMI",
	"#BP Breakpoint",
	"#OF Overflow",
	"#BR BOUND Range",
	"#UD Invalid Opcode",
	"#NM Device Not Available",
	"#DF Double Fault",
	"Coprocessor Segment Overrun",
	"#TS Invalid TSS",
	"#NP Segment Not Present",
	"#SS Stack Fault",
	"#GP General Protection",
	"#PF Page Fault",
	"reserved 15",
	"#MF x87 FPU Error",
	"#AC Alignment Check",
	"#MC Machine Check",
	"#XM SIMD Exception",
	"#VE Virtualization Exception",
	"#CP Control Protection",
	"reserved 22",
	"reserved 23",
	"reserved 24",
	"reserved 25",
	"reserved 26",
	"reserved 27",
	"#HV Hypervisor Injection",
	"#VC VMM Communication",
	"#SX Security Exception",
	"reserved 31",
};

const char *exception_name(u64 vector)
{
	return vector < 32 ? exc_names[vector] : "interrupt";
}

void idt_init(void)
{
	for (int v = 0; v < 256; v++) {
		u64 a = trap_stubs[v];

		idt[v] = (struct idt_gate){
			.off_lo = a & 0xffff,
			.sel = GDT_KERNEL_CS,
			.ist = v == 8 ? 1
			              : 0, /* #DF on its own stack: the kernel stack may be gone */
			.type = 0x8e,
			.off_mid = (a >> 16) & 0xffff,
			.off_hi = a >> 32,
		};
	}
}

void idt_load(void)
{
	struct desc_ptr p = { sizeof(idt) - 1, (u64)idt };

	lidt(&p);
}

static void dump_frame(const struct trap_frame *f)
{
	printk_unlocked("\n*** EXCEPTION %s (vector %lu, error 0x%lx) on cpu %u ***\n",
	                exception_name(f->vector), f->vector, f->error, this_cpu_id());
	printk_unlocked("RIP=%016lx CS=%04lx RFLAGS=%016lx\n", f->rip, f->cs, f->rflags);
	printk_unlocked("RSP=%016lx SS=%04lx\n", f->rsp, f->ss);
	printk_unlocked("RAX=%016lx RBX=%016lx RCX=%016lx RDX=%016lx\n", f->rax, f->rbx, f->rcx,
	                f->rdx);
	printk_unlocked("RSI=%016lx RDI=%016lx RBP=%016lx R8 =%016lx\n", f->rsi, f->rdi, f->rbp,
	                f->r8);
	printk_unlocked("R9 =%016lx R10=%016lx R11=%016lx R12=%016lx\n", f->r9, f->r10, f->r11,
	                f->r12);
	printk_unlocked("R13=%016lx R14=%016lx R15=%016lx\n", f->r13, f->r14, f->r15);
	printk_unlocked("CR0=%016lx CR2=%016lx CR3=%016lx CR4=%016lx\n", read_cr0(), read_cr2(),
	                read_cr3(), read_cr4());
}

void trap_dispatch(struct trap_frame *f)
{
	if (f->vector == VEC_WAKE) {
		/* Nothing to do here: the interrupted loop re-reads its mailbox or VM state. */
		lapic_eoi();
		return;
	}
	if (f->vector == VEC_SPURIOUS)
		return;
	if (f->vector == 2) {
		/* An NMI is a vCPU kick (vcpu_kick) that found this CPU in root mode: the
		 * state it asks us to look at is checked before the next VM entry anyway. */
		return;
	}
	dump_frame(f);
	if (f->vector == 3) {
		printk_unlocked("(breakpoint: continuing)\n");
		return;
	}
	printk_unlocked("PANIC: unexpected %s in the hypervisor\n", exception_name(f->vector));
	exitport_shutdown();
}
