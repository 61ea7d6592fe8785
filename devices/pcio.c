/*
 * Port-I/O dispatch for a PC guest (see pcio.h): a table of port ranges, each with a byte
 * reader and writer; wide accesses are split into bytes, except at the two ports whose
 * registers are wider (isa-debug-exit takes the whole value, fw_cfg's selector is 16-bit).
 * Accesses to ports in no range are unknown: answered with all-ones and counted.
 */
#include "devices/pcio.h"
#include "lib.h"

#define POST_PORT    0x80
#define PORT_A       0x92
#define PORT_A_RESET 0x01
#define PORT_A_A20   0x02
#define COM1_PORT    0x3f8

struct port_range {
	u16 first, last;
	u8 (*in)(struct pcio *pc, u16 port);
	enum pcio_result (*out)(struct pcio *pc, u16 port, u8 val);
};

static u64 pcio_now(struct pcio *pc)
{
	return pc->ops.now_ns ? pc->ops.now_ns(pc->ops.ctx) : 0;
}

/* Record the guest's request to end the VM; the first request is the one reported. */
static enum pcio_result pcio_exit(struct pcio *pc, int code, const char *how)
{
	if (!pc->exited) {
		pc->exited = true;
		pc->exit_code = code;
		snprintf(pc->exit_how, sizeof(pc->exit_how), "%s", how);
	}
	return PCIO_EXIT;
}

/* ---- PIT channel 0 -> IRQ 0 ------------------------------------------------------------------ */

/* Raise IRQ 0 once if channel 0's OUT rose in (irq0_until, now]: a pulse, so that the next
 * edge is an edge again. The clock going back delivers nothing and loses nothing. */
static void pit_irq_catch_up(struct pcio *pc, u64 now)
{
	u64 edge;

	if (now <= pc->irq0_until)
		return;
	edge = pit_irq_next(&pc->pit, pc->irq0_until);
	if (edge && edge <= now) {
		pic_set_irq(pc->pic, 0, true);
		pic_set_irq(pc->pic, 0, false);
		ioapic_set_irq(&pc->ioapic, 2, true);
		ioapic_set_irq(&pc->ioapic, 2, false);
	}
	pc->irq0_until = now;
}

/* IRQ 8: the RTC's line, to slave PIC input 0 and I/O APIC pin 8. */
static void rtc_irq(struct pcio *pc)
{
	bool line = cmos_irq_line(&pc->cmos);

	pic_set_irq(pc->pic, 8, line);
	ioapic_set_irq(&pc->ioapic, 8, line);
}

/* The two clocks' interrupts as of now: the PIT's edges and the RTC's flags. */
static void timers_catch_up(struct pcio *pc, u64 now)
{
	pit_irq_catch_up(pc, now);
	cmos_update(&pc->cmos, now);
	rtc_irq(pc);
}

static u64 nearer(u64 a, u64 b)
{
	return !a ? b : !b ? a : MIN(a, b);
}

/* When the RTC could next raise IRQ 8, if the PICs let it through (slave input 0 and the
 * cascade unmasked), else 0. */
static u64 rtc_next_pic(const struct pcio *pc, u64 now)
{
	if ((pc->pic[1].imr & BIT(0)) || (pc->pic[0].imr & BIT(2)))
		return 0;
	return cmos_next_event(&pc->cmos, now);
}

int pcio_pic_poll(struct pcio *pc, u64 now_ns, u64 *next_ns)
{
	const struct pic8259 *master = &pc->pic[0];

	timers_catch_up(pc, now_ns);
	if ((master->imr | master->irr) & BIT(0))
		*next_ns = 0;
	else
		*next_ns = pit_irq_next(&pc->pit, pc->irq0_until);
	*next_ns = nearer(*next_ns, rtc_next_pic(pc, now_ns));
	return pic_pending_vector(pc->pic);
}

int pcio_ioapic_poll(struct pcio *pc, u64 now_ns, u64 *next_ns, struct ioapic_msg *msgs, int max)
{
	int n;

	timers_catch_up(pc, now_ns);
	n = ioapic_service(&pc->ioapic, msgs, max);
	if ((pc->ioapic.rte[2] & IOAPIC_RTE_MASKED) || (pc->ioapic.irr & BIT(2)))
		*next_ns = 0;
	else
		*next_ns = pit_irq_next(&pc->pit, pc->irq0_until);
	if (!(pc->ioapic.rte[8] & IOAPIC_RTE_MASKED))
		*next_ns = nearer(*next_ns, cmos_next_event(&pc->cmos, now_ns));
	return n;
}

int pcio_pic_ack(struct pcio *pc)
{
	return pic_ack(pc->pic);
}

/* ---- the byte handlers, one pair per range ------------------------------------------------ */

/* PIC accesses first bring IRQ 0 up to date, so the guest reads the IRR as of now, and
 * after a change to the slave re-evaluate its output into master IRQ 2. */
static u8 pic_in(struct pcio *pc, u16 port)
{
	u8 val;

	pit_irq_catch_up(pc, pcio_now(pc));
	val = pic_read(&pc->pic[port >> 7], port & 1);
	pic_update_cascade(pc->pic); /* a poll read acknowledges */
	return val;
}

static enum pcio_result pic_out(struct pcio *pc, u16 port, u8 val)
{
	pit_irq_catch_up(pc, pcio_now(pc));
	pic_write(&pc->pic[port >> 7], port & 1, val);
	pic_update_cascade(pc->pic);
	return PCIO_OK;
}

static u8 elcr_in(struct pcio *pc, u16 port)
{
	return pic_elcr_read(&pc->pic[port & 1]);
}

static enum pcio_result elcr_out(struct pcio *pc, u16 port, u8 val)
{
	pic_elcr_write(&pc->pic[port & 1], val);
	return PCIO_OK;
}

static u8 pit_port_in(struct pcio *pc, u16 port)
{
	return pit_read(&pc->pit, port - PIT_PORT_BASE, pcio_now(pc));
}

/* Edges of the old programming are delivered before a write can restart the count. */
static enum pcio_result pit_port_out(struct pcio *pc, u16 port, u8 val)
{
	u64 now = pcio_now(pc);

	pit_irq_catch_up(pc, now);
	pit_write(&pc->pit, port - PIT_PORT_BASE, val, now);
	return PCIO_OK;
}

static u8 sysctl_in(struct pcio *pc, u16 port UNUSED)
{
	return pit_sysctl_read(&pc->pit, pcio_now(pc));
}

static enum pcio_result sysctl_out(struct pcio *pc, u16 port UNUSED, u8 val)
{
	pit_sysctl_write(&pc->pit, val, pcio_now(pc));
	return PCIO_OK;
}

/* The keyboard controller's lines: IRQ 1 (keyboard) and IRQ 12 (aux), to the PICs and to
 * the I/O APIC pins of the same numbers. */
static void kbc_irq(struct pcio *pc)
{
	bool kbd = i8042_irq1(&pc->kbc), aux = i8042_irq12(&pc->kbc);

	pic_set_irq(pc->pic, 1, kbd);
	ioapic_set_irq(&pc->ioapic, 1, kbd);
	pic_set_irq(pc->pic, 12, aux);
	ioapic_set_irq(&pc->ioapic, 12, aux);
}

static u8 kbc_in(struct pcio *pc, u16 port)
{
	u8 v = i8042_read(&pc->kbc, port - I8042_PORT_DATA);

	kbc_irq(pc);
	return v;
}

static enum pcio_result kbc_out(struct pcio *pc, u16 port, u8 val)
{
	bool reset = i8042_write(&pc->kbc, port - I8042_PORT_DATA, val);

	kbc_irq(pc);
	if (reset)
		return pcio_exit(pc, 0,
		                 port == I8042_PORT_CMD
		                         ? "keyboard-controller reset (0xFE to port 0x64)"
		                         : "keyboard-controller reset (output port bit 0 cleared)");
	return PCIO_OK;
}

/* RTC accesses bring its flags up to date first (inside cmos_*); IRQ 8 follows them. */
static u8 cmos_in(struct pcio *pc, u16 port)
{
	u8 v = cmos_read(&pc->cmos, port - CMOS_PORT_INDEX, pcio_now(pc));

	rtc_irq(pc);
	return v;
}

static enum pcio_result cmos_out(struct pcio *pc, u16 port, u8 val)
{
	cmos_write(&pc->cmos, port - CMOS_PORT_INDEX, val, pcio_now(pc));
	rtc_irq(pc);
	return PCIO_OK;
}

/* Port 0x80 takes POST codes; writing it is the classic I/O delay. */
static u8 post_in(struct pcio *pc UNUSED, u16 port UNUSED)
{
	return 0xff;
}

static enum pcio_result ignore_out(struct pcio *pc UNUSED, u16 port UNUSED, u8 val UNUSED)
{
	return PCIO_OK;
}

/* Port A: A20 is always enabled; setting bit 0 is a fast reset (QEMU's port92_write). */
static u8 port_a_in(struct pcio *pc, u16 port UNUSED)
{
	return pc->port92 | PORT_A_A20;
}

static enum pcio_result port_a_out(struct pcio *pc, u16 port UNUSED, u8 val)
{
	u8 old = pc->port92;

	pc->port92 = val;
	if ((val & PORT_A_RESET) && !(old & PORT_A_RESET))
		return pcio_exit(pc, 0, "fast reset (bit 0 of port 0x92)");
	return PCIO_OK;
}

/* COM1's interrupt line follows every access: IRQ 4 of the master PIC and I/O APIC pin 4. */
static void uart_irq(struct pcio *pc)
{
	bool line = uart_irq_line(&pc->com1);

	pic_set_irq(pc->pic, 4, line);
	ioapic_set_irq(&pc->ioapic, 4, line);
}

static u8 uart_in(struct pcio *pc, u16 port)
{
	u8 v = uart_read(&pc->com1, port - COM1_PORT);

	uart_irq(pc);
	return v;
}

static enum pcio_result uart_out(struct pcio *pc, u16 port, u8 val)
{
	uart_write(&pc->com1, port - COM1_PORT, val);
	uart_irq(pc);
	return PCIO_OK;
}

bool pcio_com1_receive(struct pcio *pc, u8 byte)
{
	bool kept = uart_receive(&pc->com1, byte);

	uart_irq(pc);
	return kept;
}

/* fw_cfg as a byte device: reads at either port are data reads (QEMU's combined region),
 * byte writes are data writes, which QEMU ignores. The 16-bit select is in pcio_access. */
static u8 fwcfg_in(struct pcio *pc, u16 port UNUSED)
{
	return fwcfg_read(&pc->fwcfg);
}

static u8 ones_in(struct pcio *pc UNUSED, u16 port UNUSED)
{
	return 0xff;
}

static enum pcio_result debug_exit_out(struct pcio *pc, u16 port UNUSED, u8 val)
{
	char how[64];

	debug_exit_describe(val, how, sizeof(how));
	return pcio_exit(pc, val, how);
}

static enum pcio_result shutdown_out(struct pcio *pc, u16 port UNUSED, u8 val)
{
	if (shutdown_port_write(&pc->shutdown, val))
		return pcio_exit(pc, 0, "port 0x8900 \"Shutdown\"");
	return PCIO_OK;
}

static const struct port_range port_map[] = {
	{ 0x20, 0x21, pic_in, pic_out },
	{ 0x40, 0x43, pit_port_in, pit_port_out },
	{ I8042_PORT_DATA, I8042_PORT_DATA, kbc_in, kbc_out },
	{ 0x61, 0x61, sysctl_in, sysctl_out },
	{ I8042_PORT_CMD, I8042_PORT_CMD, kbc_in, kbc_out },
	{ 0x70, 0x71, cmos_in, cmos_out },
	{ POST_PORT, POST_PORT, post_in, ignore_out },
	{ PORT_A, PORT_A, port_a_in, port_a_out },
	{ 0xa0, 0xa1, pic_in, pic_out },
	{ DEBUG_EXIT_PORT, DEBUG_EXIT_PORT + DEBUG_EXIT_SIZE - 1, ones_in, debug_exit_out },
	{ COM1_PORT, COM1_PORT + 7, uart_in, uart_out },
	{ PIC_ELCR_PORT, PIC_ELCR_PORT + 1, elcr_in, elcr_out },
	{ FWCFG_PORT_SEL, FWCFG_PORT_DATA, fwcfg_in, ignore_out },
	{ SHUTDOWN_PORT, SHUTDOWN_PORT, ones_in, shutdown_out },
};

/* ---- dispatch ------------------------------------------------------------------------------ */

void pcio_init(struct pcio *pc, const struct pcio_config *cfg, const struct pcio_ops *ops)
{
	u64 now;

	memset(pc, 0, sizeof(*pc));
	pc->cfg = *cfg;
	pc->ops = *ops;
	now = pcio_now(pc);
	pic_init(&pc->pic[0], true);
	pic_init(&pc->pic[1], false);
	ioapic_init(&pc->ioapic, (u8)cfg->ncpus);
	pit_init(&pc->pit, now);
	pc->irq0_until = now;
	cmos_init(&pc->cmos, cfg->ram_bytes, cfg->ncpus, cfg->rtc_start_unix, now);
	uart_init(&pc->com1, ops->line_out, ops->ctx);
	fwcfg_init(&pc->fwcfg, cfg->ram_bytes, cfg->ncpus);
	i8042_init(&pc->kbc);
	pcihost_init(&pc->pci);
}

static const struct port_range *port_lookup(u16 port)
{
	for (size_t i = 0; i < ARRAY_SIZE(port_map); i++)
		if (port >= port_map[i].first && port <= port_map[i].last)
			return &port_map[i];
	return NULL;
}

/* Count an access to an unknown port: its slot, a new slot, or the overflow counter. */
static void count_unknown(struct pcio *pc, u16 port, bool in)
{
	struct pcio_unknown_port *u = NULL;

	for (int i = 0; i < pc->nunknown && !u; i++)
		if (pc->unknown[i].port == port)
			u = &pc->unknown[i];
	if (!u && pc->nunknown == PCIO_UNKNOWN_SLOTS) {
		pc->unknown_overflow++;
		return;
	}
	if (!u) {
		u = &pc->unknown[pc->nunknown++];
		u->port = port;
	}
	if (in)
		u->reads++;
	else
		u->writes++;
}

/* The wide registers: isa-debug-exit takes the whole value written; fw_cfg's selector is
 * one 16-bit write. true if the access was one of these (*res says how it ended). */
static bool wide_access(struct pcio *pc, u16 port, int size, bool in, u32 val,
                        enum pcio_result *res)
{
	if (in || size == 1)
		return false;
	if (port >= DEBUG_EXIT_PORT && port < DEBUG_EXIT_PORT + DEBUG_EXIT_SIZE) {
		char how[64];

		debug_exit_describe(val, how, sizeof(how));
		*res = pcio_exit(pc, (int)val, how);
		return true;
	}
	if ((port == FWCFG_PORT_SEL || port == FWCFG_PORT_DATA) && size == 2) {
		fwcfg_select(&pc->fwcfg, (u16)val);
		*res = PCIO_OK;
		return true;
	}
	return false;
}

/* The PCI ports take the access whole: CONFIG_ADDRESS is one 32-bit register and a
 * CONFIG_DATA access is one configuration access of its size. true if it was one. */
static bool pci_access(struct pcio *pc, u16 port, int size, bool in, u32 *val,
                       enum pcio_result *res)
{
	if (port < PCI_PORT_ADDR || port > PCI_PORT_DATA + 3)
		return false;
	*res = PCIO_OK;
	if (in)
		*val = pcihost_read(&pc->pci, port, size);
	else if (pcihost_write(&pc->pci, port, size, *val))
		*res = pcio_exit(pc, 0, "PCI reset control (bit 2 written to port 0xcf9)");
	return true;
}

enum pcio_result pcio_access(struct pcio *pc, u16 port, int size, bool in, u32 *val)
{
	enum pcio_result res = PCIO_OK;
	u32 v = in ? 0 : *val;

	if (size != 1 && size != 2 && size != 4)
		return PCIO_OK; /* the CPU has no such access; nothing to emulate */
	if (wide_access(pc, port, size, in, v, &res) || pci_access(pc, port, size, in, val, &res))
		return res;
	if (!port_lookup(port))
		count_unknown(pc, port, in);
	/* Byte by byte, as QEMU splits an access to byte-wide registers. */
	for (int i = 0; i < size && res == PCIO_OK; i++) {
		u16 p = (u16)(port + i);
		const struct port_range *r = port_lookup(p);

		if (in)
			v |= (u32)(r ? r->in(pc, p) : 0xff) << (8 * i);
		else if (r)
			res = r->out(pc, p, (u8)(v >> (8 * i)));
	}
	if (in)
		*val = v;
	return res;
}

void pcio_flush(struct pcio *pc)
{
	uart_flush(&pc->com1);
}

int pcio_unknown_ports(const struct pcio *pc, u16 *ports, u64 *reads, u64 *writes, int max)
{
	int n = MIN(pc->nunknown, max);

	for (int i = 0; i < n; i++) {
		ports[i] = pc->unknown[i].port;
		reads[i] = pc->unknown[i].reads;
		writes[i] = pc->unknown[i].writes;
	}
	return n;
}

u64 pcio_unknown_total(const struct pcio *pc)
{
	u64 total = pc->unknown_overflow;

	for (int i = 0; i < pc->nunknown; i++)
		total += pc->unknown[i].reads + pc->unknown[i].writes;
	return total;
}
