/*
 * PC guests, part 1: loading a multiboot kernel as QEMU's `-kernel` does, and the state
 * each vCPU starts in. Guest memory layout (QEMU's, so the kernel finds what it expects):
 *
 *   0 .. 640K          RAM (page 0 too: APs' trampolines live there)
 *   640K .. 1M         RAM here (QEMU: VGA and BIOS); the memory map marks it reserved
 *   0xf0000            the MP table (loader/mptable.h), where SeaBIOS puts QEMU's
 *   1M .. end of image the kernel's segments, where its program headers say
 *   next page ..       the multiboot information, command line, then each module
 *   .. guest_mem       free RAM
 *   0xfec00000         the I/O APIC page (unassigned memory the exits give to pc/irq.c)
 *   0xfee00000         the local APIC page (APIC-access page, see pc/irq.c)
 */
#include "arch/cpu.h"
#include "bootmod.h"
#include "devices/cpuid.h"
#include "devices/ioapic.h"
#include "drivers/console.h"
#include "errno.h"
#include "lib.h"
#include "loader/bzimage.h"
#include "loader/mbimage.h"
#include "loader/mbinfo.h"
#include "loader/mptable.h"
#include "mm/mm.h"
#include "pc/pc.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/store.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"
#include "vmx/vmcs_pages.h"
#include "vmx/vmx.h"

#define PC_INFO_BYTES (16 * 1024) /* multiboot info, memory map and strings */

#define AR_CODE32     0xc09b /* present, S, execute/read accessed, D, G */
#define AR_DATA32     0xc093 /* present, S, read/write accessed, D/B, G */
#define AR_CODE16     0x009b /* real mode: execute/read accessed, byte granular */
#define AR_DATA16     0x0093
#define AR_TSS32_BUSY 0x008b

int pc_platform_init(void)
{
	if (!vmx_caps.unrestricted_apic || vmx_msr_bitmap_pa != INVALID_HPA)
		return 0;
	pc_irq_init();
	return pc_msr_bitmap_init();
}

static int refuse(struct vm *vm, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Setting up the PC VM failed: print why by name, keep it for the verdict, return err. */
static int refuse(struct vm *vm, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->setup_why, sizeof(vm->setup_why), fmt, ap);
	va_end(ap);
	printk("pc: VM '%s': %s\n", vm->name, vm->setup_why);
	return err;
}

static u64 ram_bytes(const struct vm *vm)
{
	return vm->slots[0].npages * PAGE_SIZE;
}

/* The VM's own APIC-access page, in a private memslot at the APIC base (vmx/vmcs_pages.h):
 * the CPU recognises the APIC page by the host address the VMCS names and never lets the
 * guest touch its contents; it moves like any guest page, every VMCS reloaded. */
static int map_apic_page(struct vm *vm)
{
	int r = vm_apic_access_init(vm, PC_APIC_GPA);

	if (r)
		return refuse(vm, r, "cannot map the local APIC page at 0x%llx (error %d%s)",
		              PC_APIC_GPA, r, r == -EEXIST ? ": guest RAM already covers it" : "");
	return 0;
}

static int copy_segments(struct vm *vm, const struct pc_spec *spec, const struct mb_image *im)
{
	for (int i = 0; i < im->nsegs; i++) {
		const struct mb_segment *s = &im->seg[i];
		int err = vm_copy_to_guest(vm, s->gpa, spec->image + s->file_off, s->filesz);

		/* The bss (memsz beyond filesz) needs no zeroing: every guest page starts zeroed.
		 */
		if (err)
			return refuse(vm, err,
			              "kernel '%s': segment %d (0x%lx bytes at gpa 0x%lx) "
			              "could not be copied into guest RAM (error %d%s)",
			              spec->name, i, s->filesz, s->gpa, err,
			              err == -ENOMEM ? ": out of host memory" : "");
	}
	return 0;
}

/* Place the modules after the info area, each page aligned, and describe them. */
static int place_modules(struct vm *vm, const struct pc_spec *spec, gpa_t *next,
                         struct mb_module_desc *desc)
{
	for (int i = 0; i < spec->nmods; i++) {
		const struct boot_module *m = spec->mods[i];
		u64 len = m->size;
		int r;

		if (*next + len > ram_bytes(vm))
			return refuse(vm, -ENOSPC,
			              "module '%s' (%lu bytes) does not fit at gpa "
			              "0x%lx: guest RAM ends at 0x%lx",
			              m->name, len, *next, ram_bytes(vm));
		r = vm_copy_to_guest(vm, *next, m->data, len);
		if (r)
			return refuse(vm, r,
			              "module '%s' could not be copied to gpa 0x%lx "
			              "(error %d)",
			              m->name, *next, r);
		desc[i] = (struct mb_module_desc){ .start = *next,
			                           .end = *next + len,
			                           .cmdline = m->name };
		*next = ALIGN_UP(*next + len, PAGE_SIZE);
	}
	return 0;
}

static int load_kernel(struct vm *vm, const struct pc_spec *spec, gpa_t *entry, u32 *magic,
                       gpa_t *info)
{
	static struct mb_image im; /* scenarios run one at a time, on CPU 0 */
	struct mb_module_desc mods[PC_MAX_MODS];
	u64 ram = vm->slots[0].npages * PAGE_SIZE;
	static char cmdline[PC_CMDLINE_MAX]; /* like im: one scenario at a time */
	char err[160];
	gpa_t info_gpa, next;
	u8 *buf;
	s64 at;
	int r;

	r = mb_image_parse(spec->image, spec->image_len, ram, 0, 0, &im, err, sizeof(err));
	if (r)
		return refuse(vm, r, "kernel '%s' refused: %s", spec->name, err);
	printk("pc: VM '%s': kernel '%s': multiboot %d, %s, %d segment(s) at 0x%lx-0x%lx, "
	       "entry 0x%lx\n",
	       vm->name, spec->name, im.version, im.format, im.nsegs, im.lowest, im.highest_end,
	       im.entry);
	info_gpa = ALIGN_UP(im.highest_end, PAGE_SIZE);
	next = info_gpa + PC_INFO_BYTES;
	if (next > ram)
		return refuse(vm, -ENOSPC,
		              "kernel '%s' ends at 0x%lx: no room for its %d KiB of "
		              "multiboot information below the end of guest RAM (%lu MiB)",
		              spec->name, im.highest_end, PC_INFO_BYTES / 1024, ram >> 20);
	r = copy_segments(vm, spec, &im);
	if (!r)
		r = place_modules(vm, spec, &next, mods);
	if (r)
		return r;
	/* QEMU's multiboot 1 puts the kernel's name first; GRUB's multiboot2 passes the
	 * arguments alone. */
	if (im.version == 2)
		r = snprintf(cmdline, sizeof(cmdline), "%s", spec->args);
	else
		r = snprintf(cmdline, sizeof(cmdline), "%s%s%s", spec->name,
		             spec->args[0] ? " " : "", spec->args);
	if (r >= (int)sizeof(cmdline))
		return refuse(vm, -E2BIG,
		              "kernel '%s': its command line (%d bytes) is longer than "
		              "%d bytes",
		              spec->name, r, PC_CMDLINE_MAX - 1);
	buf = kzalloc(PC_INFO_BYTES);
	if (!buf)
		return refuse(vm, -ENOMEM, "no host memory for the multiboot information");
	at = mb_info_build(im.version,
	                   &(struct mb_guest_desc){ .ram_bytes = to_pc_vm(vm)->ram,
	                                            .cmdline = cmdline,
	                                            .loader_name = "eptvisor",
	                                            .nmods = spec->nmods,
	                                            .mods = mods },
	                   buf, PC_INFO_BYTES, info_gpa);
	r = at < 0 ? (int)at : vm_copy_to_guest(vm, info_gpa, buf, PC_INFO_BYTES);
	kfree(buf, PC_INFO_BYTES);
	if (r)
		return refuse(vm, r,
		              "kernel '%s': its multiboot information (%d KiB at gpa 0x%lx) "
		              "could not be %s (error %d)",
		              spec->name, PC_INFO_BYTES / 1024, info_gpa,
		              at < 0 ? "built" : "copied", r);
	*entry = im.entry;
	*info = (gpa_t)at;
	*magic = im.version == 2 ? MB2_BOOTLOADER_MAGIC : MB1_BOOTLOADER_MAGIC;
	return 0;
}

/* The MP table at MPTABLE_GPA, in the BIOS area: reserved in the memory map, and no kernel
 * segment may touch [0xa0000, 1 MiB) (loader/mbimage.c). The processor entries carry the
 * guest's CPUID 1 signature and features, as SeaBIOS's do. */
static int place_mptable(struct vm *vm, int ncpus)
{
	struct cpuid_guest g = { .ncpus = (u32)ncpus };
	struct cpuid_regs h = cpuid(1, 0);
	struct cpuid_regs4 l1 =
		cpuid_guest_view(1, 0, (struct cpuid_regs4){ h.eax, h.ebx, h.ecx, h.edx }, &g);
	u8 buf[MP_FLOAT_BYTES + MP_HEADER_BYTES + MPTABLE_MAX_CPUS * MP_CPU_BYTES +
	       (MP_ISA_IRQS + 4) * MP_ENTRY_BYTES];
	struct mp_guest mp = { .ncpus = ncpus,
		               .cpu_signature = l1.eax,
		               .cpu_features = l1.edx,
		               .lapic_version = APIC_VERSION & 0xff,
		               .lapic_gpa = PC_APIC_GPA,
		               .ioapic_gpa = IOAPIC_GPA };
	s64 n = mptable_build(&mp, buf, sizeof(buf), MPTABLE_GPA);
	int r = n < 0 ? (int)n : vm_copy_to_guest(vm, MPTABLE_GPA, buf, (u64)n);

	if (r)
		return refuse(vm, r, "the MP table for %d vCPUs could not be %s (error %d)", ncpus,
		              n < 0 ? "built" : "copied to gpa 0xf0000", r);
	return 0;
}

/* A complete line of the guest's UART output, into eptvisor's log under the VM's name (one
 * UART for the whole VM: no vCPU number). */
static void uart_line(void *ctx, const char *line)
{
	vm_guest_line(ctx, -1, line);
}

static u64 io_now_ns(void *ctx)
{
	(void)ctx;
	return pc_now_ns();
}

static int pc_vm_setup(struct vm *vm, const struct pc_spec *spec)
{
	struct pc_vm *pc = pc_vm_of(vm);
	gpa_t entry = 0, info = 0;
	u32 magic = 0;
	int r;

	if (!pc)
		return refuse(vm, -EINVAL, "not created as a PC VM (vm_create with pc_vm_ops)");
	snprintf(pc->kernel_name, sizeof(pc->kernel_name), "%s", spec->name);
	pcio_init(
		&pc->io,
		&(struct pcio_config){ .ram_bytes = to_pc_vm(vm)->ram, .ncpus = (u16)spec->ncpus },
		&(struct pcio_ops){ .line_out = uart_line, .now_ns = io_now_ns, .ctx = vm });
	r = place_mptable(vm, spec->ncpus);
	if (r)
		return r;
	if (bz_is_bzimage(spec->image, spec->image_len)) {
		char why[sizeof(vm->setup_why)];

		r = pc_linux_load(vm, spec, &entry, &info, why, sizeof(why));
		if (r)
			return refuse(vm, r, "%s", why);
		pc->linux_boot = true;
	} else if (spec->initrd) {
		return refuse(vm, -EINVAL,
		              "kernel '%s' is no Linux bzImage: guest_initrd= is for Linux (give "
		              "a multiboot kernel its modules as guest_mods=)",
		              spec->name);
	} else {
		r = load_kernel(vm, spec, &entry, &magic, &info);
	}
	if (!r)
		r = map_apic_page(vm);
	if (r)
		return r;
	pc->entry = entry;
	pc->magic = magic;
	pc->info = info;
	return 0;
}

int pc_vm_init(struct vm *vm)
{
	/* kzalloc: io_lock starts unlocked (SPINLOCK_INIT is all zeroes). */
	vm->plat = kzalloc(sizeof(struct pc_vm));
	return vm->plat ? pc_apf_init(vm) : -ENOMEM;
}

void pc_vm_destroy(struct vm *vm)
{
	if (!vm->plat)
		return;
	pc_apf_free(vm);
	kfree(vm->plat, sizeof(struct pc_vm));
	vm->plat = NULL;
}

/* What SeaBIOS leaves in the BSP's local APIC (smp_setup): software-enabled, LINT0 ExtINT
 * (the PICs' wire) and LINT1 NMI, both level-triggered. Kernels that never touch the APIC
 * rely on the first to receive PIC interrupts. */
static void seabios_lapic(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	struct vlapic_ipi none;
	u64 now = pc_now_ns();

	vlapic_write(&p->lapic, APIC_SVR, p->apic_page[APIC_SVR / 4] | APIC_SVR_ENABLE, now, &none);
	vlapic_write(&p->lapic, APIC_LVT_LINT0, 0x8700, now, &none);
	vlapic_write(&p->lapic, APIC_LVT_LINT1, 0x8400, now, &none);
}

int pc_vcpu_init(struct vcpu *v)
{
	struct pc_vcpu *p = kzalloc(sizeof(*p));

	if (!p)
		return -ENOMEM;
	v->plat = p;
	p->apic_page_pa = alloc_zeroed_frame();
	if (p->apic_page_pa == INVALID_HPA)
		return -ENOMEM;
	p->apic_page = phys_to_virt(p->apic_page_pa);
	vlapic_init(&p->lapic, p->apic_page, v->id, pc_now_ns());
	p->apic_base = PC_APIC_GPA | BIT(11) | (v->id == 0 ? BIT(8) : 0); /* enabled, BSP */
	p->pat = 0x0007040600070406ULL;                                   /* the power-on PAT */
	sipibox_init(&p->sipi, v->id != 0);                               /* APs wait for a SIPI */
	p->misc_enable = 1; /* fast strings, as the CPU resets it */
	p->cr4_allowed = pc_cr4_allowed(v);
	kvm_apf_init(&p->apf, (u32)v->id);
	for (int i = 0; i < (int)ARRAY_SIZE(p->apf_pins); i++)
		p->apf_pins[i] = INVALID_GFN;
	if (v->id == 0)
		seabios_lapic(v);
	p->state = v->id == 0 ? PC_RUNNING : PC_WAIT_SIPI;
	return 0;
}

void pc_vcpu_free(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);

	if (!p) /* vcpu_create failed before pc_vcpu_init */
		return;
	if (p->apic_page)
		frame_free(&frames, hpa_to_hfn(p->apic_page_pa));
	kfree(p, sizeof(*p));
	v->plat = NULL;
}

/* The virtual-APIC page moved (its registers copied there): the local APIC model and the
 * platform's pointers follow it. RELEASE on the model's: other vCPUs read its registers to
 * match IPI destinations (the old page stays until they are done: vmx/vmcs_pages.c). */
void pc_virtual_apic_moved(struct vcpu *v, hpa_t pa)
{
	struct pc_vcpu *p = to_pc_vcpu(v);

	p->apic_page_pa = pa;
	p->apic_page = phys_to_virt(pa);
	__atomic_store_n(&p->lapic.regs, p->apic_page, __ATOMIC_RELEASE);
}

void pc_setup_controls(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	u64 proc = vmcs_read(PROC_BASED_CTLS);

	/* The APIC: TPR shadow + APIC-access page + register virtualization (pc/irq.c);
	 * CR8 then reads and writes the virtual TPR without exits. */
	proc |= PROC_USE_TPR_SHADOW | PROC_USE_MSR_BITMAPS | PROC_USE_TSC_OFFSETTING;
	proc &= ~(PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING | PROC_CR3_LOAD_EXITING |
	          PROC_CR3_STORE_EXITING | PROC_INTR_WINDOW_EXITING);
	vmcs_write(PROC_BASED_CTLS, proc);
	vmcs_write(PROC_BASED_CTLS2, vmcs_read(PROC_BASED_CTLS2) | PROC2_UNRESTRICTED_GUEST |
	                                     PROC2_VIRT_APIC_ACCESSES | PROC2_APIC_REG_VIRT |
	                                     (pc_rdtscp_offered() ? PROC2_ENABLE_RDTSCP : 0));
	vcpu_set_virtual_apic(v, p->apic_page_pa);
	vcpu_set_apic_access(v, vm_apic_access_hpa(v->vm));
	vmcs_write(TPR_THRESHOLD, 0);
	vmcs_write(MSR_BITMAP, vmx_msr_bitmap_pa);
	vmcs_write(TSC_OFFSET, p->tsc_offset);
	/* The guest switches modes itself: it starts outside IA-32e mode. */
	vmcs_write(ENTRY_CTLS, vmcs_read(ENTRY_CTLS) & ~ENTRY_IA32E_MODE_GUEST);
	/* CR0: PG is ours to watch (EFER.LMA follows it); NE (and whatever else VMX fixes to 1
	 * outside PE/PG) is forced on in hardware and shown as the guest wrote it. CD and NW
	 * are the guest's only in the read shadow (pc_hw_cr0). */
	vmcs_write(CR0_GUEST_HOST_MASK,
	           (vmx_caps.cr0_fixed0 & ~(CR0_PE | CR0_PG)) | CR0_PG | CR0_CD | CR0_NW);
	vmcs_write(CR0_READ_SHADOW, CR0_PE | CR0_ET);
	/* CR4: every bit is ours: VMXE is forced on and hidden, PAE is watched (PDPTEs, long
	 * mode), and a feature bit CPUID hides must #GP (pc_cr4_allowed). */
	vmcs_write(CR4_GUEST_HOST_MASK, ~0ULL);
	vmcs_write(CR4_READ_SHADOW, 0);
}

static void common_state(void)
{
	vcpu_set_segment(GUEST_LDTR_SEL, 0, 0, 0, AR_UNUSABLE);
	vcpu_set_segment(GUEST_TR_SEL, 0, 0, 0xffff, AR_TSS32_BUSY);
	vmcs_write(GUEST_GDTR_BASE, 0);
	vmcs_write(GUEST_GDTR_LIMIT, 0xffff);
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0xffff);
	vmcs_write(GUEST_CR3, 0);
	vmcs_write(GUEST_CR4, vmx_caps.cr4_fixed0);
	vmcs_write(GUEST_IA32_EFER, 0);
	vmcs_write(GUEST_RSP, 0);
	vcpu_reset_event_state();
}

/* The CR0 the hardware runs with for a guest value (unrestricted guest relaxes PE, PG).
 * Never CD or NW: VM entries and exits leave those two bits of the real CR0 as they are
 * (SDM Vol. 3C 27.3.2.1, 28.5.1), so a guest that could set them would turn the caches off
 * for the host and every later VM on that CPU. The guest sees its own in the read shadow;
 * its memory stays cached (EPT memory type WB) as under KVM without non-coherent DMA. */
u64 pc_hw_cr0(u64 guest)
{
	return (guest & ~(CR0_CD | CR0_NW)) | (vmx_caps.cr0_fixed0 & ~(CR0_PE | CR0_PG));
}

/* Multiboot's machine state (spec 3.2): 32-bit protected mode, flat 4 GiB segments, paging
 * off, IF=0, EAX = magic, EBX = the information's physical address. CR0 is 0x11 (PE, ET),
 * caches on, as SeaBIOS and GRUB leave it. Linux's 32-bit entry wants the same (CS 0x10,
 * DS = ES = SS 0x18, as boot.rst names __BOOT_CS and __BOOT_DS) with ESI = boot_params. */
static void multiboot_state(struct vcpu *v)
{
	struct pc_vm *pc = to_pc_vm(v->vm);

	vcpu_set_segment(GUEST_CS_SEL, 0x10, 0, 0xffffffff, AR_CODE32);
	vcpu_set_segment(GUEST_SS_SEL, 0x18, 0, 0xffffffff, AR_DATA32);
	vcpu_set_segment(GUEST_DS_SEL, 0x18, 0, 0xffffffff, AR_DATA32);
	vcpu_set_segment(GUEST_ES_SEL, 0x18, 0, 0xffffffff, AR_DATA32);
	vcpu_set_segment(GUEST_FS_SEL, 0x18, 0, 0xffffffff, AR_DATA32);
	vcpu_set_segment(GUEST_GS_SEL, 0x18, 0, 0xffffffff, AR_DATA32);
	vmcs_write(GUEST_CR0, pc_hw_cr0(CR0_PE | CR0_ET));
	vmcs_write(CR0_READ_SHADOW, CR0_PE | CR0_ET);
	vmcs_write(GUEST_RIP, pc->entry);
	/* ESP is undefined by the spec; kernels that call before setting their own stack
	 * still work under BIOS loaders, so give them a small one below 0x7c00 as well. */
	vmcs_write(GUEST_RSP, 0x7c00);
	v->regs.rax = pc->magic;
	v->regs.rbx = pc->info;
	if (pc->linux_boot) /* Linux's 32-bit boot protocol: the same state, ESI = boot_params, */
		v->regs = (struct guest_regs){ .rsi = pc->info }; /* EBP, EDI, EBX zero */
}

/* The state an AP starts in after INIT and SIPI with `vector`: real mode at vector:0. */
void pc_sipi_state(struct vcpu *v, int vector)
{
	memset(&v->regs, 0, sizeof(v->regs));
	vcpu_set_segment(GUEST_CS_SEL, (u16)(vector << 8), (u64)vector << 12, 0xffff, AR_CODE16);
	vcpu_set_segment(GUEST_SS_SEL, 0, 0, 0xffff, AR_DATA16);
	vcpu_set_segment(GUEST_DS_SEL, 0, 0, 0xffff, AR_DATA16);
	vcpu_set_segment(GUEST_ES_SEL, 0, 0, 0xffff, AR_DATA16);
	vcpu_set_segment(GUEST_FS_SEL, 0, 0, 0xffff, AR_DATA16);
	vcpu_set_segment(GUEST_GS_SEL, 0, 0, 0xffff, AR_DATA16);
	common_state();
	/* CR0 after INIT is 0x60000010 (SDM Vol. 3A 10.1.1): CD and NW set, which the guest
	 * clears itself as on a real CPU (only in the shadow: pc_hw_cr0). */
	vmcs_write(GUEST_CR0, pc_hw_cr0(CR0_CD | CR0_NW | CR0_ET));
	vmcs_write(CR0_READ_SHADOW, CR0_CD | CR0_NW | CR0_ET);
	vmcs_write(CR4_READ_SHADOW, 0);
	vmcs_write(ENTRY_CTLS, vmcs_read(ENTRY_CTLS) & ~ENTRY_IA32E_MODE_GUEST);
	vmcs_write(GUEST_RIP, 0);
}

void pc_setup_guest_state(struct vcpu *v)
{
	common_state();
	if (v->id == 0)
		multiboot_state(v);
	else
		pc_sipi_state(v, 0); /* replaced when the SIPI arrives */
}

static void report_json(struct vm *vm, const u16 *ports, const u64 *reads, const u64 *writes,
                        int n);

void pc_report_end(struct vm *vm)
{
	struct pc_vm *pc = to_pc_vm(vm);
	u16 ports[16];
	u64 reads[16], writes[16];
	int n;

	pcio_flush(&pc->io);
	n = pcio_unknown_ports(&pc->io, ports, reads, writes, 16);

	for (int i = 0; i < n; i++)
		printk("pc: VM '%s': unknown port 0x%x: %lu read(s), %lu write(s) "
		       "(reads all-ones, writes dropped)\n",
		       vm->name, ports[i], reads[i], writes[i]);
	if (pc->ended)
		printk("pc: VM '%s': guest exit: code %d by %s\n", vm->name, pc->exit_code,
		       pc->how);
	else if (pc->powered_off)
		printk("pc: VM '%s': guest powered off: every vCPU halted with interrupts off\n",
		       vm->name);
	else
		printk("pc: VM '%s': guest did not exit by itself: %s\n", vm->name,
		       vm->stopping ? vm->stop_reason : "no exit port written");
	pc_console_report(vm);
	report_json(vm, ports, reads, writes, n);
	pc_apf_report(vm);
}

/* The platform's counters as one @json line: how the guest ended, every unknown port it
 * used (reads, writes), unknown MSRs, unassigned-memory accesses, ignored APIC writes. */
static void report_json(struct vm *vm, const u16 *ports, const u64 *reads, const u64 *writes, int n)
{
	struct pc_vm *pc = to_pc_vm(vm);
	char buf[640] = "", how[96];
	size_t len = 0;
	for (int i = 0; i < n && len < sizeof(buf); i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s\"0x%x\":[%lu,%lu]", i ? "," : "",
		                ports[i], reads[i], writes[i]);
	printk("@json {\"pc\":\"%s\",\"platform\":\"%s\",\"kernel\":\"%s\",\"exit_code\":%d,"
	       "\"ended_by\":\"%s\",\"unknown_ports\":{%s},\"unknown_port_accesses\":%lu,"
	       "\"unknown_msrs\":%lu,\"unassigned_mmio\":%lu,\"apic_writes_ignored\":%lu}\n",
	       vm->name, vmx_settings.platform, pc->kernel_name, pc->ended ? pc->exit_code : -1,
	       json_safe(pc->ended ? pc->how : "", how, sizeof(how)), buf,
	       pcio_unknown_total(&pc->io), pc->msr_unknown, pc->mmio_unassigned, pc->apic_ignored);
}

/* The top spec->store_bytes of RAM start in a slow store (vmx/store.h): the VM was created
 * with the rest as slot 0 (vm_launch), and the store slot follows it. The kernel, its
 * information and modules go into slot 0; the memory map covers both. */
static int add_store(struct vm *vm, const struct pc_spec *spec)
{
	struct pc_vm *pc = to_pc_vm(vm);
	u64 low = ram_bytes(vm);
	int err;

	pc->kvm_pv = spec->kvm_pv;
	pc->pku = spec->pku;
	pc->ram = low + spec->store_bytes;
	if (!spec->store_bytes)
		return 0;
	err = vm_add_store_slot(vm, low, spec->store_bytes, vmx_settings.store_latency_us,
	                        vmx_settings.store_depth);
	if (err)
		return refuse(vm, err, "no memory for a %lu MiB slow store at gpa 0x%lx (error %d)",
		              spec->store_bytes >> 20, low, err);
	printk("pc: VM '%s': RAM 0x%lx-0x%lx starts in a slow store (latency %lu us, depth %u)%s\n",
	       vm->name, low, pc->ram, vmx_settings.store_latency_us, vmx_settings.store_depth,
	       spec->kvm_pv ? "; KVM's async page faults offered" : "");
	return 0;
}

int pc_vm_load(struct vm *vm, const struct pc_spec *spec)
{
	int err;

	if (!vmx_caps.unrestricted_apic)
		return refuse(vm, -ENODEV,
		              "this CPU lacks unrestricted guest or APIC "
		              "virtualization");
	if (!spec->image)
		return refuse(vm, -ENOENT,
		              "no boot module named '%s' (give it to GRUB as a "
		              "module)",
		              spec->name);
	if (spec->missing)
		return refuse(vm, -ENOENT, "no boot module named '%.*s' for the guest",
		              spec->missing_len, spec->missing);
	if (spec->too_many)
		return refuse(vm, -E2BIG, "more than %d guest modules", PC_MAX_MODS);
	if (vmx_msr_bitmap_pa == INVALID_HPA) /* pc_platform_init failed */
		return refuse(vm, -ENOMEM, "no host memory for the PC platform's shared pages");
	/* RAM is populated with huge pages by default (huge=), as a real guest's should be;
	 * before the load, which populates the kernel's pages. */
	if (vm_slot_set_huge(vm, 0, spec->page_level ? spec->page_level : vmx_settings.huge_level))
		return refuse(vm, -ENOMEM, "no memory for the RAM's huge-page state");
	err = add_store(vm, spec);
	return err ? err : pc_vm_setup(vm, spec);
}
