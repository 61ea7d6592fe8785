/*
 * The MP table (see mptable.h). Each structure is written byte by byte (little-endian), so
 * the code needs no packed structs and runs the same in the kernel and the host tests.
 */
#include "errno.h"
#include "lib.h"
#include "loader/mptable.h"

struct mpw {
	u8 *p;    /* the next byte to write */
	u8 *base; /* where the configuration table starts */
};

static void put8(struct mpw *w, u8 v)
{
	*w->p++ = v;
}

static void put16(struct mpw *w, u16 v)
{
	put8(w, (u8)v);
	put8(w, (u8)(v >> 8));
}

static void put32(struct mpw *w, u32 v)
{
	put16(w, (u16)v);
	put16(w, (u16)(v >> 16));
}

static void put_str(struct mpw *w, const char *s, int len)
{
	memcpy(w->p, s, (size_t)len);
	w->p += len;
}

/* The byte that makes [p, p + len) sum to 0 with it in place of the current one at p[at]. */
static void fix_checksum(u8 *p, u64 len, u64 at)
{
	u8 sum = 0;

	p[at] = 0;
	for (u64 i = 0; i < len; i++)
		sum = (u8)(sum + p[i]);
	p[at] = (u8)-sum;
}

static int nentries(int ncpus)
{
	return ncpus + 2 + MP_ISA_IRQS + 2; /* CPUs, bus, I/O APIC, IRQs, LINT0, LINT1 */
}

s64 mptable_size(int ncpus)
{
	if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS)
		return -EINVAL;
	return MP_FLOAT_BYTES + MP_HEADER_BYTES + ncpus * MP_CPU_BYTES +
	       (nentries(ncpus) - ncpus) * MP_ENTRY_BYTES;
}

static void put_cpu(struct mpw *w, const struct mp_guest *g, int id)
{
	put8(w, MP_CPU);
	put8(w, (u8)id);
	put8(w, g->lapic_version);
	put8(w, MP_CPU_EN | (id == 0 ? MP_CPU_BSP : 0));
	put32(w, g->cpu_signature);
	put32(w, g->cpu_features);
	put32(w, 0);
	put32(w, 0);
}

/* An I/O (type MP_INTSRC) or local (MP_LINTSRC) interrupt entry, flags 0: conforming. */
static void put_int(struct mpw *w, u8 type, u8 irqtype, u8 src_irq, u8 dst_id, u8 dst_pin)
{
	put8(w, type);
	put8(w, irqtype);
	put16(w, 0);
	put8(w, 0); /* source bus: ISA */
	put8(w, src_irq);
	put8(w, dst_id);
	put8(w, dst_pin);
}

static void put_entries(struct mpw *w, const struct mp_guest *g)
{
	u8 ioapic_id = (u8)g->ncpus;

	for (int i = 0; i < g->ncpus; i++)
		put_cpu(w, g, i);
	put8(w, MP_BUS);
	put8(w, 0);
	put_str(w, "ISA   ", 6);
	put8(w, MP_IOAPIC);
	put8(w, ioapic_id);
	put8(w, 0x11);
	put8(w, 1); /* enabled */
	put32(w, (u32)g->ioapic_gpa);
	for (u8 irq = 0; irq < 16; irq++)
		if (irq != 2)
			put_int(w, MP_INTSRC, MP_INT_INT, irq, ioapic_id, irq == 0 ? 2 : irq);
	put_int(w, MP_LINTSRC, MP_INT_EXTINT, 0, 0, 0);
	put_int(w, MP_LINTSRC, MP_INT_NMI, 0, 0xff, 1);
}

static void put_header(struct mpw *w, const struct mp_guest *g, u16 len)
{
	put_str(w, "PCMP", 4);
	put16(w, len);
	put8(w, 4); /* spec revision 1.4 */
	put8(w, 0); /* checksum, fixed at the end */
	put_str(w, "EPTVISOR", 8);
	put_str(w, "PC          ", 12);
	put32(w, 0); /* no OEM table */
	put16(w, 0);
	put16(w, (u16)nentries(g->ncpus));
	put32(w, (u32)g->lapic_gpa);
	put16(w, 0); /* no extended table */
	put8(w, 0);
	put8(w, 0);
}

static void put_float(struct mpw *w, gpa_t config)
{
	put_str(w, "_MP_", 4);
	put32(w, (u32)config);
	put8(w, 1); /* length in 16-byte units */
	put8(w, 4); /* spec revision 1.4 */
	put8(w, 0); /* checksum */
	for (int i = 0; i < 5; i++)
		put8(w, 0); /* feature bytes: a configuration table, no IMCR */
}

s64 mptable_build(const struct mp_guest *g, u8 *buf, u64 buflen, gpa_t base)
{
	s64 size = mptable_size(g->ncpus);
	u64 config_len;
	struct mpw w = { buf, buf + MP_FLOAT_BYTES };

	if (size < 0 || (base & 15) || base + (u64)size > 0x100000000ULL)
		return -EINVAL;
	if ((u64)size > buflen)
		return -ENOMEM;
	config_len = (u64)size - MP_FLOAT_BYTES;
	put_float(&w, base + MP_FLOAT_BYTES);
	put_header(&w, g, (u16)config_len);
	put_entries(&w, g);
	fix_checksum(buf, MP_FLOAT_BYTES, 10);
	fix_checksum(w.base, config_len, 7);
	return size;
}
