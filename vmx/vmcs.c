/* VMCS field access with error reports, and the diagnostic dump driven by VMCS_FIELDS. */
#include "drivers/console.h"
#include "lib.h"
#include "vmx/vmcs.h"
#include "vmx/vmx_asm.h"

u64 vmcs_write_errors;

static const struct {
	const char *name;
	u32 enc;
} fields[] = {
#define VMCS_ENTRY(name, enc) { #name, enc },
	VMCS_FIELDS(VMCS_ENTRY)
#undef VMCS_ENTRY
};

static const char *const vm_errors[] = {
	[1] = "VMCALL executed in VMX root operation",
	[2] = "VMCLEAR with invalid physical address",
	[3] = "VMCLEAR with VMXON pointer",
	[4] = "VMLAUNCH with non-clear VMCS",
	[5] = "VMRESUME with non-launched VMCS",
	[6] = "VMRESUME after VMXOFF",
	[7] = "VM entry with invalid control field(s)",
	[8] = "VM entry with invalid host-state field(s)",
	[9] = "VMPTRLD with invalid physical address",
	[10] = "VMPTRLD with VMXON pointer",
	[11] = "VMPTRLD with incorrect VMCS revision identifier",
	[12] = "VMREAD/VMWRITE from/to unsupported VMCS component",
	[13] = "VMWRITE to read-only VMCS component",
	[15] = "VMXON executed in VMX root operation",
	[16] = "VM entry with invalid executive-VMCS pointer",
	[17] = "VM entry with non-launched executive VMCS",
	[18] = "VM entry with executive-VMCS pointer not VMXON pointer",
	[19] = "VMCALL with non-clear VMCS",
	[20] = "VMCALL with invalid VM-exit control fields",
	[22] = "VMCALL with incorrect MSEG revision identifier",
	[23] = "VMXOFF under dual-monitor treatment of SMIs and SMM",
	[24] = "VMCALL with invalid SMM-monitor features",
	[25] = "VM entry with invalid VM-execution control fields in executive VMCS",
	[26] = "VM entry with events blocked by MOV SS",
	[28] = "Invalid operand to INVEPT/INVVPID",
};

const char *vm_instruction_error_name(u64 err)
{
	if (err < ARRAY_SIZE(vm_errors) && vm_errors[err])
		return vm_errors[err];
	return "unknown VM-instruction error";
}

static u64 instruction_error(void)
{
	u64 err = 0;

	vmread_raw(VM_INSTRUCTION_ERROR, &err);
	return err;
}

u64 vmcs_read_at(enum vmcs_field f, const char *name, const char *file, int line)
{
	u64 v = 0;
	int rc = vmread_raw(f, &v);

	if (rc)
		printk("vmx: %s:%d: vmread %s failed (%s)\n", file, line, name,
		       rc == VMX_FAIL_VALID ? vm_instruction_error_name(instruction_error())
		                            : "no current VMCS");
	return v;
}

void vmcs_write_at(enum vmcs_field f, const char *name, u64 v, const char *file, int line)
{
	int rc = vmwrite_raw(f, v);

	if (rc) {
		vmcs_write_errors++;
		printk("vmx: %s:%d: vmwrite %s = 0x%lx failed (%s)\n", file, line, name, v,
		       rc == VMX_FAIL_VALID ? vm_instruction_error_name(instruction_error())
		                            : "no current VMCS");
	}
}

void vmcs_dump(void)
{
	char line[160];
	size_t len = 0;
	int col = 0;

	printk("vmcs dump (fields this CPU lacks are left out):\n");
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		u64 v;

		if (vmread_raw(fields[i].enc, &v))
			continue;
		len += snprintf(line + len, sizeof(line) - len, "  %-22s %16lx", fields[i].name, v);
		if (++col == 3) {
			printk("%s\n", line);
			len = 0, col = 0;
		}
	}
	if (col)
		printk("%s\n", line);
}
