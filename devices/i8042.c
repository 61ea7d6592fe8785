/*
 * The 8042 keyboard controller without devices (see i8042.h): a command decoder over one
 * output buffer, modelled on QEMU's kbd_write_command / kbd_write_data.
 */
#include "devices/i8042.h"
#include "lib.h"

#define CMD_READ_CTR      0x20
#define CMD_WRITE_CTR     0x60
#define CMD_AUX_DISABLE   0xa7
#define CMD_AUX_ENABLE    0xa8
#define CMD_AUX_TEST      0xa9
#define CMD_SELF_TEST     0xaa
#define CMD_KBD_TEST      0xab
#define CMD_KBD_DISABLE   0xad
#define CMD_KBD_ENABLE    0xae
#define CMD_READ_INPORT   0xc0
#define CMD_READ_OUTPORT  0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_KBD_OBF 0xd2
#define CMD_WRITE_AUX_OBF 0xd3
#define CMD_WRITE_AUX     0xd4
#define CMD_PULSE         0xf0 /* 0xf0-0xff: pulse output-port bits 3:0 that are 0 */
#define OUT_RESET         0x01 /* high: the CPU runs */
#define OUT_A20           0x02
#define OUT_OBF           0x10
#define OUT_AUXOBF        0x20
#define OUT_ONES          0xcc /* QEMU's KBD_OUT_ONES */

void i8042_init(struct i8042 *k)
{
	memset(k, 0, sizeof(*k));
	k->status = I8042_STR_SYS | I8042_STR_CMD | I8042_STR_UNLOCK;
	k->ctr = I8042_CTR_KBDINT | I8042_CTR_AUXDIS | 0x40; /* 0x40: scan-code translation */
	k->outport = OUT_RESET | OUT_A20 | OUT_ONES;
}

/* Put a byte in the output buffer (a newer byte replaces one not yet read). */
static void i8042_queue(struct i8042 *k, u8 val, bool aux)
{
	k->obuf = val;
	k->obf = true;
	k->obf_aux = aux;
}

bool i8042_irq1(const struct i8042 *k)
{
	return k->obf && !k->obf_aux && (k->ctr & I8042_CTR_KBDINT);
}

bool i8042_irq12(const struct i8042 *k)
{
	return k->obf && k->obf_aux && (k->ctr & I8042_CTR_AUXINT);
}

u8 i8042_read(struct i8042 *k, int reg)
{
	if (reg == 0) {
		k->obf = false;
		k->obf_aux = false;
		return k->obuf;
	}
	return (u8)(k->status | (k->obf ? I8042_STR_OBF : 0) | (k->obf_aux ? I8042_STR_AUXOBF : 0));
}

/* The output port as 0xd0 reads it: with the buffer's state in bits 4 and 5. */
static u8 i8042_outport(const struct i8042 *k)
{
	return (u8)(k->outport | (k->obf && !k->obf_aux ? OUT_OBF : 0) |
	            (k->obf_aux ? OUT_AUXOBF : 0));
}

/* A command that reads something back queues it; true for a reset. */
static bool i8042_command(struct i8042 *k, u8 cmd)
{
	if ((cmd & CMD_PULSE) == CMD_PULSE)
		return !(cmd & OUT_RESET); /* pulsing bit 0 low resets the CPU; others do nothing */
	switch (cmd) {
	case CMD_READ_CTR:
		i8042_queue(k, k->ctr, false);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OBF:
	case CMD_WRITE_AUX_OBF:
	case CMD_WRITE_AUX:
		k->pending_cmd = cmd;
		break;
	case CMD_AUX_DISABLE:
		k->ctr |= I8042_CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		k->ctr &= (u8)~I8042_CTR_AUXDIS;
		break;
	case CMD_SELF_TEST:
		k->status |= I8042_STR_SYS;
		i8042_queue(k, 0x55, false);
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		i8042_queue(k, 0x00, false); /* the interface is fine: nothing is plugged in */
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= I8042_CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= (u8)~I8042_CTR_KBDDIS;
		break;
	case CMD_READ_INPORT:
		i8042_queue(k, 0x80, false); /* QEMU's value: keyboard not inhibited */
		break;
	case CMD_READ_OUTPORT:
		i8042_queue(k, i8042_outport(k), false);
		break;
	default:
		break; /* unknown commands are ignored, as QEMU does (it logs them) */
	}
	return false;
}

/* A data byte: the argument of a pending command, else a byte for the absent keyboard. */
static bool i8042_data(struct i8042 *k, u8 val)
{
	u8 cmd = k->pending_cmd;

	k->pending_cmd = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->ctr = val;
		break;
	case CMD_WRITE_OUTPORT:
		k->outport = (u8)((val & (OUT_RESET | OUT_A20)) | OUT_ONES);
		return !(val & OUT_RESET);
	case CMD_WRITE_KBD_OBF:
		i8042_queue(k, val, false);
		break;
	case CMD_WRITE_AUX_OBF:
		i8042_queue(k, val, true);
		break;
	default:
		/* To the keyboard (or, after 0xd4, the mouse): nobody answers. Sending to the
		 * keyboard enables its interface, as on the 8042 (and QEMU). */
		if (cmd != CMD_WRITE_AUX)
			k->ctr &= (u8)~I8042_CTR_KBDDIS;
		break;
	}
	return false;
}

bool i8042_write(struct i8042 *k, int reg, u8 val)
{
	if (reg == 0) {
		k->status &= (u8)~I8042_STR_CMD;
		return i8042_data(k, val);
	}
	k->status |= I8042_STR_CMD;
	return i8042_command(k, val);
}
