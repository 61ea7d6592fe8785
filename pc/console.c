/*
 * The console: what eptvisor's own COM1 receives goes to one PC guest, the console owner, as
 * input on its COM1 (devices/uart16550.c). The owner is the PC VM whose vCPU 0 starts running
 * while no VM owns the console (VMs run one at a time and guest= runs first, so with guest=
 * it is that VM), until its vCPU 0 stops. Only the owner's vCPU 0 reads the host UART: before
 * each of its entries and in its waits (runnable in pc/irq.c), at most every
 * PC_CONSOLE_POLL_NS, it moves what arrived into the VM's COM1 model under the io lock, while
 * the model has room (the rest waits in the host UART's own FIFO); the model's line then
 * raises PIC IRQ 4 (seen by vCPU 0's own look at the PICs) and I/O APIC pin 4 (serviced
 * here). A halted vCPU 0 sleeps at most PC_MAX_SLEEP_NS between looks.
 *
 * Bytes that arrive while no PC VM owns the console are dropped when the next owner starts,
 * and so are those its guest never took when it ends: no guest reads another's input. Both
 * are counted and printed.
 */
#include "drivers/console.h"
#include "drivers/serial.h"
#include "lib.h"
#include "pc/pc.h"

/* Host UART looks, at most this often (guest time): its FIFO holds 16 bytes, 1.4 ms at
 * 115200 baud. */
#define PC_CONSOLE_POLL_NS 100000ULL

/* The owner, or NULL. Written by the owner's vCPU 0 at its run's start and end. */
static struct vm *console_owner;

/* Read and drop what the host UART holds; how many bytes. */
static u64 drop_waiting(void)
{
	u64 n = 0;

	while (serial_getc() >= 0 && n < 4096)
		n++;
	return n;
}

void pc_console_start(struct vcpu *v)
{
	struct pc_vm *pc = to_pc_vm(v->vm);
	struct vm *none = NULL;
	u64 dropped;

	if (v->id != 0)
		return;
	/* ACQ_REL: one owner at a time; the release at pc_console_end hands the UART over. */
	if (!__atomic_compare_exchange_n(&console_owner, &none, v->vm, false, __ATOMIC_ACQ_REL,
	                                 __ATOMIC_ACQUIRE))
		return;
	pc->console = true;
	pc->console_next_ns = 0;
	dropped = drop_waiting();
	if (dropped)
		printk("pc: console: %lu byte(s) received with no PC guest running, dropped\n",
		       dropped);
}

void pc_console_end(struct vcpu *v)
{
	struct pc_vm *pc = to_pc_vm(v->vm);

	if (v->id != 0 || !pc->console)
		return;
	pc->console_dropped += drop_waiting();
	pc->console = false;
	/* RELEASE: our last UART reads come before the next owner's. */
	__atomic_store_n(&console_owner, NULL, __ATOMIC_RELEASE);
}

/* Room in the COM1 model's receive FIFO (one holding register with FIFOs off). */
static bool com1_room(const struct uart16550 *u)
{
	return u->rx_count < ((u->fcr & 0x01) ? UART_FIFO : 1);
}

void pc_console_poll(struct vcpu *v)
{
	struct pc_vm *pc = to_pc_vm(v->vm);
	u64 now, n = 0;
	int c;

	if (!pc->console)
		return;
	now = pc_now_ns();
	if (now < pc->console_next_ns)
		return;
	pc->console_next_ns = now + PC_CONSOLE_POLL_NS;
	spin_lock(&pc->io_lock);
	while (com1_room(&pc->io.com1) && (c = serial_getc()) >= 0) {
		if (!pcio_com1_receive(&pc->io, (u8)c))
			pc->console_lost++;
		n++;
	}
	spin_unlock(&pc->io_lock);
	if (!n)
		return;
	pc->console_rx += n;
	pc_ioapic_service(v); /* pin 4 to whichever local APIC it names */
}

void pc_console_report(struct vm *vm)
{
	struct pc_vm *pc = to_pc_vm(vm);

	if (!pc->console_rx && !pc->console_dropped)
		return;
	printk("pc: VM '%s': console: %lu byte(s) of input forwarded to its COM1, %lu lost "
	       "there, %lu left unread at its end (dropped)\n",
	       vm->name, pc->console_rx, pc->console_lost, pc->console_dropped);
}
