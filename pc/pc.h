/*
 * PC guests: unmodified multiboot kernels on a minimal PC platform (docs/platform.md).
 *
 *   pc/platform.c  the platform as the VMX core sees it: pc_vm_ops, every hook and exit
 *   pc/vm.c        load the kernel, build its multiboot info, the vCPUs' start states
 *                     (32-bit protected mode for the BSP, real mode after a SIPI for the APs)
 *   pc/linux.c     load a Linux bzImage, its initrd and command line instead
 *   pc/irq.c       the local APICs: IPIs, INIT/SIPI, the timer, injection, HLT waiting
 *   pc/exit.c      the exits only PC guests take: CR access, MSRs, APIC page, port I/O
 *   pc/console.c   eptvisor's COM1 input to one guest's COM1 (the console owner)
 *   devices/       the devices themselves, pure C with host tests
 *
 * A VM is a PC VM when it was created with pc_vm_ops: its struct pc_vm is vm->plat, each
 * vCPU's struct pc_vcpu is vcpu->plat. Everything in vmx/ treats it like any VM, so idle
 * tracking, dirty logging, split and collapse apply to its memory unchanged.
 */
#ifndef EPTVISOR_PC_PC_H
#define EPTVISOR_PC_PC_H

#include "devices/irqbox.h"
#include "devices/kvm_apf.h"
#include "devices/pcio.h"
#include "devices/sipibox.h"
#include "devices/vlapic.h"
#include "spinlock.h"
#include "types.h"
#include "vmx/vcpu.h"

struct boot_module;

#define PC_APIC_GPA 0xfee00000ULL
#define PC_MAX_MODS 8
/* Guest RAM ends below the PCI hole, as QEMU's pc puts it (no RAM above 4 GiB here): the
 * local APIC page and the BIOS flash at 0xfffc0000 stay outside RAM. */
#define PC_RAM_MAX     (3ULL << 30)
#define PC_CMDLINE_MAX 1200 /* the guest's command line: its name, a blank, guest_args */

struct pc_vm {
	spinlock_t io_lock; /* serialises the port devices between vCPUs */
	struct pcio io;
	char kernel_name[64];
	bool ended;          /* the guest asked to end (exit port, reset) */
	int exit_code;       /* the value it wrote, when ended */
	char how[96];        /* how it ended, for the log */
	u64 msr_unknown;     /* RDMSR/WRMSR of MSRs the platform does not have (#GP injected) */
	u64 mmio_unassigned; /* accesses to guest-physical addresses with nothing behind them */
	u64 msr_refused;     /* WRMSRs of known MSRs refused with #GP (bad values) */
	u64 ipi_ignored;     /* IPIs of delivery modes not emulated (SMI, ExtINT, reserved) */
	u64 ioapic_ignored;  /* I/O APIC messages not delivered (ExtINT, SMI), accesses ignored */
	bool ioapic_used;    /* the guest wrote the I/O APIC: poll and service it (pc/irq.c) */
	u64 apic_ignored;    /* APIC accesses ignored or read as 0, all vCPUs (log cap, report) */
	int blocked;         /* vCPUs waiting with nothing that could wake them */
	int blocked_cli;     /* of those, halted with interrupts off (cli; hlt) */
	bool powered_off;    /* every vCPU ended in cli; hlt: Linux's halt and power-off */
	gpa_t entry, info;   /* the kernel's entry point and its multiboot information */
	u32 magic;           /* the multiboot boot-loader magic for EAX */
	u64 ram;             /* guest RAM in bytes: slot 0, then the store slot if any */
	bool kvm_pv;         /* KVM's paravirtual interface (guest_pv=kvm): pc/apf.c */
	bool pku;            /* PKU in CPUID and CR4.PKE allowed (guest_pku=on) */
	struct pc_apf_stats *apf; /* its page-ready latencies (kvm_pv only) */
	bool linux_boot;          /* a bzImage (pc/linux.c): info is boot_params, for ESI */
	/* pc/console.c, only vCPU 0 touches these: */
	bool console;        /* this VM owns the console: host COM1 input goes to its COM1 */
	u64 console_next_ns; /* when vCPU 0 looks at the host UART next */
	u64 console_rx;      /* bytes forwarded to its COM1 */
	u64 console_lost;    /* of those, the ones its COM1 model lost (overrun) */
	u64 console_dropped; /* bytes still in the host UART when it ended: dropped */
};

enum pc_run_state { PC_RUNNING, PC_HALTED, PC_HALTED_NOIRQ, PC_WAIT_SIPI };

/* One vCPU of a PC VM: its local APIC, the events other vCPUs post to it, and the CPU
 * state the VMCS does not hold. */
struct pc_vcpu {
	struct vlapic lapic;
	u32 *apic_page; /* the virtual-APIC page: the model's registers */
	hpa_t apic_page_pa;
	struct irqbox irq_pending; /* vectors sent by other vCPUs, taken before each entry */
	bool wake;                 /* an NMI, INIT or SIPI was sent: look before entering */
	bool sleeping;             /* waiting in HLT on its CPU: senders send it VEC_WAKE */
	bool nmi_pending;
	struct sipibox sipi; /* INITs and SIPIs sent by other vCPUs */
	enum pc_run_state state;
	bool blocked;        /* counted in struct pc_vm's blocked */
	bool blocked_cli;    /* counted in struct pc_vm's blocked_cli */
	u64 timer_armed;     /* preemption-timer ticks armed at the last entry */
	u64 ran_since_timer; /* guest ticks run since the APIC timer last interrupted */
	u64 pic_next;        /* vCPU 0: when the PIT's next tick is due (ns), 0 if none */
	u64 ioapic_next;     /* vCPU 0: the same through the I/O APIC's pin 2 */
	u64 apic_base, pat, mtrr_def_type, tsc_offset, tsc_adjust, misc_enable;
	u64 spec_ctrl;   /* IA32_SPEC_CTRL as the guest wrote it (pc/exit.c: kept, not applied) */
	u64 tsc_aux;     /* IA32_TSC_AUX (RDTSCP): also in the CPU while the vCPU runs */
	u64 cr4_allowed; /* CR4 bits this guest's CPUID allows (pc_cr4_allowed) */
	struct kvm_apf apf; /* KVM's async page faults (pc/apf.c; only this vCPU's CPU) */
	/* The store pages its async-PF areas pin (pc/apf.c): the area's and an owed wake-all's,
	 * each up to two pages (its 68 bytes may cross a page); INVALID_GFN where none. */
	gfn_t apf_pins[4];
};

/* pc/platform.c: the PC platform, given to vm_create. */
extern const struct vm_ops pc_vm_ops;

/* The PC state of vm, or NULL when vm is not a PC VM (for code outside pc/). */
static inline struct pc_vm *pc_vm_of(const struct vm *vm)
{
	return vm->ops == &pc_vm_ops ? vm->plat : NULL;
}

/* Inside pc/: the state of a VM or vCPU that is a PC one. */
static inline struct pc_vm *to_pc_vm(const struct vm *vm)
{
	return vm->plat;
}

static inline struct pc_vcpu *to_pc_vcpu(const struct vcpu *v)
{
	return v->plat;
}

/* What to run, as data: the kernel image (hypervisor memory), its command line and its
 * modules (include/bootmod.h). Where they came from is the caller's business; a name that
 * named nothing comes as such, for the loader to refuse by name with the VM's. */
struct pc_spec {
	const char *name; /* the kernel's name: the first word of its command line */
	const u8 *image;  /* NULL: no module was named `name` */
	u64 image_len;
	const char *args; /* after the name */
	int ncpus;        /* vCPUs the VM will have (fw_cfg tells the guest) */
	int nmods;
	const struct boot_module *mods[PC_MAX_MODS];
	const char *missing; /* the first module name that named nothing (missing_len bytes) */
	int missing_len;
	bool too_many;                    /* more modules were named than PC_MAX_MODS */
	const struct boot_module *initrd; /* a Linux kernel's initrd (guest_initrd=); NULL: none */
	int page_level;  /* the largest page its RAM gets (vm_slot_set_huge); 0: huge= */
	u64 store_bytes; /* the top of RAM that starts in a slow store (vmx/store.h); 0: none */
	bool kvm_pv;     /* KVM's paravirtual CPUID leaves and async page faults (pc/apf.c) */
	bool pku;        /* PKU offered without XSAVE (guest_pku=on; devices/cpuid.c says why not by
	                    default) */
};

/* Once, before any PC VM: the frame every PC VM shares (the MSR bitmap). */
int pc_platform_init(void);
/* Load spec's kernel into vm (created with pc_vm_ops) to run on vCPU 0; the other vCPUs
 * wait for a SIPI.
 * 0, or -errno with the reason printed by name and kept in vm->setup_why: -ENODEV without
 * the VMX features PC guests need, -ENOENT a kernel or module that named nothing (and only
 * then: a refused image is never -ENOENT), -E2BIG too many modules, -ENOEXEC/-EINVAL/
 * -ERANGE/-E2BIG the loader refused the image, -ENOSPC it does not fit with its boot
 * information and modules, -ENOMEM out of host memory. */
int pc_vm_load(struct vm *vm, const struct pc_spec *spec);
/* The per-VM state (vm_ops vm_init, vm_destroy). */
int pc_vm_init(struct vm *vm);
void pc_vm_destroy(struct vm *vm);
/* Per-vCPU state: struct pc_vcpu and the virtual-APIC page (vm_ops vcpu_init, vcpu_free). */
int pc_vcpu_init(struct vcpu *v);
void pc_vcpu_free(struct vcpu *v);
/* VMCS current: the virtual-APIC page moved to pa (vm_ops virtual_apic_moved). */
void pc_virtual_apic_moved(struct vcpu *v, hpa_t pa);
/* With the VMCS current: PC controls and the start state. */
void pc_setup_controls(struct vcpu *v);
void pc_setup_guest_state(struct vcpu *v);
/* The guest's end, as QEMU would report it: prints one "guest exit" line. */
void pc_report_end(struct vm *vm);

/* pc/linux.c */
/* Load spec's Linux bzImage (bz_is_bzimage) with its initrd and command line by the 32-bit
 * boot protocol (loader/bzimage.h): *entry is where vCPU 0 starts, *params the zero page
 * (ESI). 0, or the -errno of pc_vm_load with its reason in why[n]. */
int pc_linux_load(struct vm *vm, const struct pc_spec *spec, gpa_t *entry, gpa_t *params, char *why,
                  size_t n);

/* pc/irq.c */
/* Once, before any PC VM (pc_platform_init): the timer constants in ticks. */
void pc_irq_init(void);
/* Before every entry: wait for a SIPI / an interrupt as the vCPU's state needs, then
 * inject what is pending. false: the VM is stopping, do not enter. */
bool pc_before_entry(struct vcpu *v);
/* After every exit: an event whose delivery the exit interrupted is delivered again. */
void pc_after_exit(struct vcpu *v);
bool pc_handle_hlt(struct vcpu *v);
/* A triple fault: a PC's CPU shuts down and the chipset resets it (a reboot): the VM ends. */
bool pc_handle_triple_fault(struct vcpu *v);
bool pc_handle_interrupt_window(struct vcpu *v);
bool pc_handle_nmi_window(struct vcpu *v);
/* A guest ICR write asked for this IPI. */
struct vlapic_ipi;
void pc_send_ipi(struct vcpu *from, const struct vlapic_ipi *ipi);
/* Preemption-timer ticks until this vCPU's APIC timer fires (~0 when not armed). */
u64 pc_timer_ticks(struct vcpu *v);
u64 pc_now_ns(void);
/* The I/O APIC's page (devices/ioapic.h), one part of an emulated access at offset off. */
u64 pc_ioapic_read(struct vcpu *v, u32 off, int len);
void pc_ioapic_write(struct vcpu *v, u32 off, int len, u64 val);
/* v's local APIC retired vector: the EOI broadcast to the I/O APIC. */
void pc_ioapic_eoi(struct vcpu *v, u8 vector);
/* After a device access (port I/O): deliver what the I/O APIC has to send now. */
void pc_ioapic_service(struct vcpu *v);

/* pc/exit.c: true to re-enter the guest */
bool pc_handle_cr(struct vcpu *v);
bool pc_handle_msr(struct vcpu *v, bool write);
bool pc_handle_io(struct vcpu *v);
bool pc_handle_cpuid(struct vcpu *v);
bool pc_handle_vmcall(struct vcpu *v); /* pc/hypercall.c: KVM's hypercall ABI */
bool pc_handle_apic_write(struct vcpu *v);
bool pc_handle_apic_access(struct vcpu *v);
/* An EPT violation outside every memslot: unassigned MMIO (reads all-ones) or a stop. */
bool pc_handle_unassigned(struct vcpu *v, gpa_t gpa, u64 qual);
/* Every message a guest can trigger goes through this: true while fewer than PC_LOG_LIMIT
 * of this kind (counted in *count) were printed for the VM; the one that reaches the limit
 * prints a line saying further ones are only counted. */
#define PC_LOG_LIMIT 16
bool pc_log_ok(struct vm *vm, u64 *count, const char *what);
/* Move past the instruction that exited (ending an STI/MOV-SS shadow). */
void pc_skip_instruction(struct vcpu *v);
u64 pc_hw_cr0(u64 guest_cr0);
u64 pc_cr4_allowed(const struct vcpu *v);
void pc_sipi_state(struct vcpu *v, int vector);
bool pc_entry_recheck(struct vcpu *v);
int pc_msr_bitmap_init(void);
void pc_msr_reset_hw(void);
bool pc_rdtscp_offered(void);
extern hpa_t vmx_msr_bitmap_pa;

/* Queue a hardware exception for the next entry. */
void pc_inject_exception(struct vcpu *v, int vector, bool has_error, u32 error);
/* Make t look at its pending events before it next enters (an exit now if it is in guest
 * mode): what an IPI does, without a vector. Any CPU. */
void pc_wake(struct vcpu *t);

/* pc/console.c: the console owner (vm_ops run_start / run_end, vCPU 0 only), its look at
 * the host UART (vCPU 0, before each entry and in its waits), its counts for the report. */
void pc_console_start(struct vcpu *v);
void pc_console_end(struct vcpu *v);
void pc_console_poll(struct vcpu *v);
void pc_console_report(struct vm *vm);

/* pc/apf.c: KVM's asynchronous page faults (devices/kvm_apf.h) */
int pc_apf_init(struct vm *vm);
void pc_apf_free(struct vm *vm);
/* RDMSR/WRMSR of MSR_KVM_ASYNC_PF_*: 0, -EINVAL (#GP), -ENOENT (not one of them, or the VM
 * has no KVM interface). */
int pc_apf_rdmsr(struct vcpu *v, u32 msr, u64 *val);
int pc_apf_wrmsr(struct vcpu *v, u32 msr, u64 val);
/* vm_ops async_fault and store_settled. */
bool pc_apf_fault(struct vcpu *v, gfn_t gfn);
void pc_apf_settled(struct vm *vm);
/* Before an entry (runnable): page readies that may go in now become interrupts. */
void pc_apf_poll(struct vcpu *v);
/* One @json line of the VM's async-fault counts and page-ready latencies. */
void pc_apf_report(struct vm *vm);

#endif
