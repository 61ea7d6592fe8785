/*
 * The port-I/O side of the virtual PC a PC guest runs on (docs/platform.md has the port
 * map): every IN and OUT the guest executes is handed to pcio_access(), which dispatches it
 * to the device model behind the port. All state of one VM's devices lives in struct pcio;
 * the code is pure (no globals, no allocation, no privileged instructions), so it runs in the
 * kernel and in host tests alike. The caller serialises calls for one struct pcio.
 *
 *   0x20-0x21, 0xa0-0xa1, 0x4d0-0x4d1  8259 PICs + ELCR   (pic8259.h)
 *   0x40-0x43, 0x61                    8254 PIT + port B   (pit8254.h)
 *   0x60, 0x64                         8042 keyboard controller, no devices (i8042.h)
 *   0x70-0x71                          RTC/CMOS            (cmos.h)
 *   0x80                               POST code (ignored)
 *   0x92                               port A: A20 on, bit 0 resets
 *   0xf4-0xf7, 0x8900                  exit ports          (exitport.h)
 *   0x3f8-0x3ff                        COM1 16550 UART     (uart16550.h)
 *   0x510-0x511                        fw_cfg              (fwcfg.h)
 *   0xcf8-0xcff                        PCI config, i440FX host bridge; 0xcf9 reset (pcihost.h)
 * Any other port is unknown: IN reads all-ones, OUT is dropped, and the access is counted.
 *
 * Interrupts, as on a PC: PIT channel 0 is IRQ 0, the keyboard controller IRQ 1 (and 12 for
 * its aux port), COM1 IRQ 4, the RTC IRQ 8, each an input of the PICs and the I/O APIC pin
 * of the same number, but the PIT's, which is pin 2 (the MP table's IRQ 0 override; QEMU's
 * wiring). The clocks are not stepped: the PIT's rising edges and the RTC's flags are
 * brought up to date when time is next looked at: by the two poll functions and at every
 * guest access to the PIT, the PICs or the RTC. Several PIT edges since that last look make
 * one IRQ 0, as a late timer coalesces its ticks. The other lines follow each access to
 * their device.
 */
#ifndef EPTVISOR_DEVICES_PCIO_H
#define EPTVISOR_DEVICES_PCIO_H

#include "devices/cmos.h"
#include "devices/exitport.h"
#include "devices/fwcfg.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/pcihost.h"
#include "devices/pic8259.h"
#include "devices/pit8254.h"
#include "devices/uart16550.h"
#include "types.h"

#define PCIO_UNKNOWN_SLOTS 32

struct pcio_config {
	u64 ram_bytes;
	u16 ncpus;
	u64 rtc_start_unix; /* the RTC's time at pcio_init, seconds since 1970; 0: 2000-01-01 */
};

struct pcio_ops {
	void (*line_out)(void *ctx, const char *line); /* one line of guest UART output, no '\n' */
	u64 (*now_ns)(void *ctx);                      /* monotonic time, for the PIT and RTC */
	void *ctx;
};

enum pcio_result {
	PCIO_OK = 0,
	PCIO_EXIT = 1, /* the guest asked to end this VM; see pc->exit_* */
};

struct pcio_unknown_port {
	u16 port;
	u64 reads, writes;
};

struct pcio {
	struct pcio_config cfg;
	struct pcio_ops ops;
	struct pic8259 pic[2]; /* master, slave */
	struct ioapic ioapic;  /* ID = ncpus, as the MP table says */
	struct pit8254 pit;
	struct cmos cmos;
	struct uart16550 com1;
	struct fwcfg fwcfg;
	struct shutdown_port shutdown;
	struct i8042 kbc;
	struct pcihost pci;
	u8 port92;      /* port A: bit 1 is A20 (always on), bit 0 the reset request */
	u64 irq0_until; /* PIT channel 0 edges up to this time (ns) have reached the PICs */

	bool exited;       /* the guest asked to end the VM (the first request wins) */
	int exit_code;     /* the value it wrote (debug exit), else 0 */
	char exit_how[64]; /* how, for the log */

	struct pcio_unknown_port unknown[PCIO_UNKNOWN_SLOTS]; /* in order of first access */
	int nunknown;
	u64 unknown_overflow; /* accesses to unknown ports that found the table full */
};

/* Power-on state of every device; ops->now_ns is read once here. */
void pcio_init(struct pcio *pc, const struct pcio_config *cfg, const struct pcio_ops *ops);
/* One IN (in=true) or OUT of size 1, 2 or 4 bytes at port. For IN, *val receives the value
 * (size bytes, upper bits zero); for OUT, the low size bytes of *val are written. A wide
 * access to byte-wide registers is split into bytes at port, port + 1, ... (little-endian),
 * as QEMU does. PCIO_EXIT when this access asks to end the VM (pc->exited and pc->exit_*
 * are then set; the first request's values are kept). */
enum pcio_result pcio_access(struct pcio *pc, u16 port, int size, bool in, u32 *val);
/* The PIC pair's interrupt for the CPU it is wired to, at time now_ns: first IRQ 0 is
 * raised if PIT channel 0 rose since the last look (however many times: one IRQ) and IRQ 8
 * follows the RTC's flags, then the vector the PICs present is returned
 * (pic_pending_vector), or -1. *next_ns receives when the next clock event could change
 * that, so the caller can arm a timer: the nearer of the PIT's next rising edge (none if
 * IRQ 0 is masked or already requested: a further edge would add nothing) and the RTC's
 * next enabled event (none if IRQ 8 or the cascade is masked); 0 for none, so a halted CPU
 * waiting on nothing waits for good. The caller holds the device lock. */
int pcio_pic_poll(struct pcio *pc, u64 now_ns, u64 *next_ns);
/* The CPU takes the interrupt pcio_pic_poll() reported: pic_ack (the vector; the master's
 * base + 7, spurious, if the request has gone since). */
int pcio_pic_ack(struct pcio *pc);
/* The I/O APIC's messages at time now_ns (at most max, into msgs; how many): PIT edges
 * since the last look first raise pin 2 (one edge however many) and pin 8 follows the RTC,
 * then ioapic_service. *next_ns receives when the next clock event could add a request: the
 * PIT's next edge (unless pin 2 is masked or its request still pending), the RTC's next
 * enabled event (unless pin 8 is masked); 0 if none. The caller holds the device lock, and calls
 * ioapic_service itself after its own MMIO accesses and EOIs. */
int pcio_ioapic_poll(struct pcio *pc, u64 now_ns, u64 *next_ns, struct ioapic_msg *msgs, int max);
/* A byte arrives at COM1's receive line (host input); false if the UART lost it (full).
 * The caller holds the device lock and services the I/O APIC and the PICs after it. */
bool pcio_com1_receive(struct pcio *pc, u8 byte);
/* Emit the UART's unfinished line, if any (call when the VM ends). */
void pcio_flush(struct pcio *pc);
/* Copy up to max unknown ports with their read and write counts (in order of first access);
 * returns how many were copied. Ports beyond the table are only counted in unknown_overflow. */
int pcio_unknown_ports(const struct pcio *pc, u16 *ports, u64 *reads, u64 *writes, int max);
/* Every access to an unknown port, including those counted in unknown_overflow. */
u64 pcio_unknown_total(const struct pcio *pc);

#endif
