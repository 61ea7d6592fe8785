/*
 * libFuzzer target: the I/O APIC (devices/ioapic.c), driven as pc/irq.c and devices/pcio.c
 * drive it: guest MMIO reads and writes (IOREGSEL, IOWIN, elsewhere in the page), device
 * lines going up and down, EOIs of any vector, and the service that takes the messages.
 *
 * Input: 6-byte operations {what, arg, value32}.
 *
 * Checked after every operation:
 *   VER reads 0x00170011; ID keeps to bits 27:24; IOREGSEL to 8 bits; offsets other than
 *     IOREGSEL and IOWIN read 0
 *   redirection entries: delivery status (bit 12) never set; remote IRR only on level pins
 *   requests: no bit for a pin that does not exist; a masked edge pin gains no request
 *   service: at most `max` messages, in ascending pin order, each for an unmasked pin with
 *     a request and (level) no remote IRR before, carrying that entry's vector, delivery
 *     mode, destination and trigger; afterwards an edge pin's request is gone and a level
 *     pin has remote IRR; a pin with a request that was not served (beyond max aside) is
 *     masked or waits for its EOI
 *   EOI: clears remote IRR exactly on level pins with that vector
 */
#include <string.h>

#include "devices/ioapic.h"
#include "tests/unit/fuzz.h"

static void check_regs(struct ioapic *s)
{
	u32 sel = s->regsel;

	CHECK(ioapic_read(s, IOAPIC_REGSEL) <= 0xff);
	ioapic_write(s, IOAPIC_REGSEL, IOAPIC_REG_VER);
	CHECK(ioapic_read(s, IOAPIC_WINDOW) == IOAPIC_VERSION);
	ioapic_write(s, IOAPIC_REGSEL, IOAPIC_REG_ID);
	CHECK((ioapic_read(s, IOAPIC_WINDOW) & ~0x0f000000u) == 0);
	ioapic_write(s, IOAPIC_REGSEL, sel);
	CHECK(ioapic_read(s, 0x20) == 0 && ioapic_read(s, 0x04) == 0);
	CHECK((s->irr >> IOAPIC_PINS) == 0);
	for (int i = 0; i < IOAPIC_PINS; i++) {
		CHECK(!(s->rte[i] & IOAPIC_RTE_PENDING));
		CHECK(!(s->rte[i] & IOAPIC_RTE_REMOTE_IRR) || (s->rte[i] & IOAPIC_RTE_LEVEL));
	}
}

static void check_set_irq(struct ioapic *s, int pin, bool level)
{
	u32 before = s->irr;

	ioapic_set_irq(s, pin, level);
	if (pin < 0 || pin >= IOAPIC_PINS) {
		CHECK(s->irr == before);
		return;
	}
	if ((s->rte[pin] & IOAPIC_RTE_MASKED) && !(s->rte[pin] & IOAPIC_RTE_LEVEL))
		CHECK((s->irr & BIT(pin)) == (before & BIT(pin)));
	if (s->rte[pin] & IOAPIC_RTE_LEVEL)
		CHECK(!!(s->irr & BIT(pin)) == level);
}

static void check_service(struct ioapic *s, int max)
{
	struct ioapic old = *s;
	struct ioapic_msg m[IOAPIC_PINS];
	int n = ioapic_service(s, m, max), last = -1;

	CHECK(n >= 0 && n <= max);
	for (int i = 0; i < n; i++) {
		int p = m[i].pin;
		u64 e = old.rte[p];

		CHECK(p > last && p < IOAPIC_PINS);
		last = p;
		CHECK(old.irr & BIT(p));
		CHECK(!(e & IOAPIC_RTE_MASKED));
		CHECK(!(e & IOAPIC_RTE_REMOTE_IRR));
		CHECK(m[i].vector == (e & 0xff) && m[i].delivery == ((e >> 8) & 7));
		CHECK(m[i].dest == (u8)(e >> 56) && m[i].level == !!(e & IOAPIC_RTE_LEVEL));
		if (e & IOAPIC_RTE_LEVEL)
			CHECK(s->rte[p] & IOAPIC_RTE_REMOTE_IRR);
		else
			CHECK(!(s->irr & BIT(p)));
	}
	if (n == max)
		return;
	for (int p = 0; p < IOAPIC_PINS; p++)
		if (s->irr & BIT(p))
			CHECK((s->rte[p] & (IOAPIC_RTE_MASKED | IOAPIC_RTE_REMOTE_IRR)) ||
			      (n && m[n - 1].pin == p && (s->rte[p] & IOAPIC_RTE_LEVEL)));
}

static void check_eoi(struct ioapic *s, u8 vector)
{
	struct ioapic old = *s;

	ioapic_eoi(s, vector);
	for (int p = 0; p < IOAPIC_PINS; p++) {
		bool hit = (old.rte[p] & IOAPIC_RTE_LEVEL) && (old.rte[p] & 0xff) == vector;

		CHECK(s->rte[p] == (hit ? old.rte[p] & ~IOAPIC_RTE_REMOTE_IRR : old.rte[p]));
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct ioapic s;

	ioapic_init(&s, data && size ? data[0] : 0);
	for (size_t i = 1; i + 6 <= size; i += 6) {
		u8 what = data[i], arg = data[i + 1];
		u32 val;

		memcpy(&val, data + i + 2, 4);
		switch (what % 7) {
		case 0:
			ioapic_write(&s, IOAPIC_REGSEL, val);
			break;
		case 1:
			ioapic_write(&s, IOAPIC_WINDOW, val);
			break;
		case 2:
			ioapic_write(&s, (u32)arg << 4 | (val & 0xf), val);
			break;
		case 3:
			(void)ioapic_read(&s, (u32)arg << 4);
			break;
		case 4:
			check_set_irq(&s, (int)(arg % 32) - 4, val & 1);
			break;
		case 5:
			check_eoi(&s, arg);
			break;
		default:
			check_service(&s, 1 + arg % IOAPIC_PINS);
		}
		check_regs(&s);
	}
	return 0;
}
