/*
 * The 8042 keyboard controller at ports 0x60 (data) and 0x64 (status / command) of a PC with
 * no keyboard and no mouse plugged in: the controller itself answers as QEMU's
 * hw/input/pckbd.c does (self-test 0xaa -> 0x55, interface tests 0xab / 0xa9 -> 0, the
 * command byte through 0x20 / 0x60, port enables 0xa7 / 0xa8 / 0xad / 0xae, the output
 * port, 0xd2 / 0xd3 to put a byte in the output buffer as if from the keyboard / the aux
 * port), and bytes sent to the keyboard (0x60) or the mouse (0xd4) get no answer, so a
 * driver's probe of the devices times out, as on a PC without them.
 *
 * One output buffer: a byte waiting sets status OBF (and AUX OBF when it came from the aux
 * side); IRQ 1 is up while a keyboard-side byte waits and the command byte's bit 0 enables
 * it, IRQ 12 likewise for an aux byte and bit 1. Reading 0x60 empties the buffer.
 * A reset request (0xfe, any pulse of output-port bit 0, or an output-port write with bit 0
 * clear) is returned to the caller, which ends the VM.
 */
#ifndef EPTVISOR_DEVICES_I8042_H
#define EPTVISOR_DEVICES_I8042_H

#include "types.h"

#define I8042_PORT_DATA 0x60
#define I8042_PORT_CMD  0x64

#define I8042_STR_OBF    0x01
#define I8042_STR_SYS    0x04 /* set by a passed self-test (the firmware's) */
#define I8042_STR_CMD    0x08 /* the last write went to 0x64 */
#define I8042_STR_UNLOCK 0x10 /* the keyboard is not inhibited */
#define I8042_STR_AUXOBF 0x20

#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20

struct i8042 {
	u8 status;  /* without OBF and AUX OBF, which obf and obf_aux give */
	u8 ctr;     /* the command byte */
	u8 outport; /* the output port: bit 0 reset (high: running), bit 1 A20 */
	u8 obuf;    /* the output buffer's byte (read again when empty, as QEMU) */
	bool obf, obf_aux;
	u8 pending_cmd; /* a command waiting for its data byte at 0x60, else 0 */
};

/* The state the firmware leaves: self-test passed, keyboard interrupt and translation on,
 * the aux port disabled. */
void i8042_init(struct i8042 *k);
/* IN from 0x60 (reg 0) or 0x64 (reg 4). */
u8 i8042_read(struct i8042 *k, int reg);
/* OUT to 0x60 (reg 0) or 0x64 (reg 4); true when it asks for a reset of the machine. */
bool i8042_write(struct i8042 *k, int reg, u8 val);
/* The interrupt lines: IRQ 1 (keyboard) and IRQ 12 (aux). */
bool i8042_irq1(const struct i8042 *k);
bool i8042_irq12(const struct i8042 *k);

#endif
