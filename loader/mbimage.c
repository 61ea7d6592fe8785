/*
 * Multiboot image parsing (see loader/mbimage.h for what is accepted and why). Three steps:
 * find a header (mb2 first, then mb1), turn the header or the ELF program headers into
 * segments, then validate the segments and the entry point against the guest's memory. Every
 * refusal goes through fail(), which writes one line for the user and returns the errno.
 */
#include "errno.h"
#include "lib.h"
#include "loader/mbimage.h"

#define ULL(v) ((unsigned long long)(v))

#define ELF_CLASS32     1
#define ELF_CLASS64     2
#define ELF_DATA_LSB    1
#define ET_EXEC         2
#define ET_DYN          3
#define EM_386          3
#define EM_X86_64       62
#define PT_LOAD         1
#define ELF32_EHDR_SIZE 52
#define ELF64_EHDR_SIZE 64
#define ELF32_PHDR_SIZE 32
#define ELF64_PHDR_SIZE 56

#define MB1_HDR_SIZE        12 /* magic, flags, checksum */
#define MB1_KLUDGE_HDR_SIZE 32 /* + header, load, load_end, bss_end and entry addresses */
#define MB2_HDR_SIZE        16 /* magic, architecture, header_length, checksum */
#define MB2_TAG_OPTIONAL    BIT(0)
#define MB2_INFO_TYPE_MAX   21 /* highest information tag type the spec (and GRUB) knows */
#define MB2_INFO_PROVIDED   (BIT(0) | BIT(1) | BIT(2) | BIT(3) | BIT(4) | BIT(6))

struct parse {
	const u8 *img;
	u64 size;
	u64 ram;
	gpa_t rlo, rhi;
	struct mb_image *out;
	char *err;
	size_t errlen;
	gpa_t elf_entry; /* ELF entry after virtual-to-physical translation */
	bool translated; /* elf_entry already moved by one segment */
};

/* The kludge addresses of mb1 (flags bit 16) and of the mb2 address tag. */
struct kludge {
	u32 header_addr, load_addr, load_end_addr, bss_end_addr;
};

static int fail(struct parse *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write the reason into p->err and return -code. */
static int fail(struct parse *p, int code, const char *fmt, ...)
{
	if (p->err && p->errlen) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return -code;
}

static u16 rd16(const u8 *b, u64 off)
{
	u16 v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static u32 rd32(const u8 *b, u64 off)
{
	u32 v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static u64 rd64(const u8 *b, u64 off)
{
	u64 v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* [a0, a1) and [b0, b1) share a byte. */
static bool overlaps(u64 a0, u64 a1, u64 b0, u64 b1)
{
	return a0 < b1 && b0 < a1;
}

static int add_segment(struct parse *p, gpa_t gpa, u64 file_off, u64 filesz, u64 memsz)
{
	struct mb_image *m = p->out;

	if (m->nsegs == MB_MAX_SEGMENTS)
		return fail(p, E2BIG, "more than %d loadable segments", MB_MAX_SEGMENTS);
	m->seg[m->nsegs++] = (struct mb_segment){ gpa, file_off, filesz, memsz };
	return 0;
}

/* ---- finding the header -------------------------------------------------------------------- */

/*
 * Find a complete header with a good checksum: `magic` at a multiple of `align` below `limit`,
 * hdr_size bytes (or the mb2 header_length) inside both the file and the first `limit` bytes.
 * Returns its offset, or -1; *bad_off is set to the first magic whose checksum failed.
 */
static s64 find_header(const struct parse *p, int version, s64 *bad_off)
{
	u64 limit = version == 1 ? MB1_SEARCH_BYTES : MB2_SEARCH_BYTES;
	u64 align = version == 1 ? 4 : 8, hdr = version == 1 ? MB1_HDR_SIZE : MB2_HDR_SIZE;
	u32 magic = version == 1 ? MB1_HEADER_MAGIC : MB2_HEADER_MAGIC;
	u64 end = MIN(limit, p->size);

	for (u64 off = 0; off + hdr <= end; off += align) {
		const u8 *h = p->img + off;
		u32 sum;

		if (rd32(h, 0) != magic)
			continue;
		if (version == 1)
			sum = magic + rd32(h, 4) + rd32(h, 8);
		else
			sum = magic + rd32(h, 4) + rd32(h, 8) + rd32(h, 12);
		if (sum == 0)
			return off;
		if (*bad_off < 0)
			*bad_off = off;
	}
	return -1;
}

/* ---- a.out kludge and ELF ------------------------------------------------------------------ */

/* One segment from the kludge addresses (QEMU's checks, same messages where it has them). */
static int load_kludge(struct parse *p, u64 hdr_off, const struct kludge *k)
{
	u64 file_off, filesz, memsz;

	p->out->format = "a.out kludge";
	if (k->header_addr < k->load_addr)
		return fail(p, EINVAL, "a.out kludge: header_addr 0x%x below load_addr 0x%x",
		            k->header_addr, k->load_addr);
	if (k->header_addr - k->load_addr > hdr_off)
		return fail(
			p, EINVAL,
			"a.out kludge: header_addr - load_addr = 0x%x but the header is at file "
			"offset 0x%llx",
			k->header_addr - k->load_addr, ULL(hdr_off));
	file_off = hdr_off - (k->header_addr - k->load_addr);
	if (k->load_end_addr && k->load_end_addr < k->load_addr)
		return fail(p, EINVAL, "a.out kludge: load_end_addr 0x%x below load_addr 0x%x",
		            k->load_end_addr, k->load_addr);
	filesz = k->load_end_addr ? k->load_end_addr - k->load_addr : p->size - file_off;
	memsz = filesz;
	if (k->bss_end_addr) {
		if (k->bss_end_addr < k->load_addr + filesz)
			return fail(p, EINVAL,
			            "a.out kludge: bss_end_addr 0x%x below the load end 0x%llx",
			            k->bss_end_addr, ULL(k->load_addr + filesz));
		memsz = k->bss_end_addr - k->load_addr;
	}
	return add_segment(p, k->load_addr, file_off, filesz, memsz);
}

struct elf {
	bool is64;
	u64 entry, phoff;
	u16 phentsize, phnum;
};

static int elf_header(struct parse *p, bool allow64, struct elf *e)
{
	const u8 *b = p->img;
	u16 type, machine;

	if (p->size < ELF32_EHDR_SIZE || memcmp(b,
	                                        "\x7f"
	                                        "ELF",
	                                        4) != 0)
		return fail(p, EINVAL,
		            "not an ELF file, and the multiboot header has no load "
		            "addresses (a.out kludge)");
	if (b[4] != ELF_CLASS32 && b[4] != ELF_CLASS64)
		return fail(p, EINVAL, "ELF class %u is neither 32 nor 64-bit", b[4]);
	if (b[5] != ELF_DATA_LSB)
		return fail(p, EINVAL, "ELF file is not little-endian");
	e->is64 = b[4] == ELF_CLASS64;
	if (e->is64 && !allow64)
		return fail(p, EINVAL,
		            "ELF64 image with a multiboot 1 header (QEMU refuses it too): "
		            "convert it to ELF32 (objcopy -O elf32-i386) or use multiboot 2");
	if (e->is64 && p->size < ELF64_EHDR_SIZE)
		return fail(p, EINVAL, "ELF64 header cut short (file of %llu bytes)", ULL(p->size));
	type = rd16(b, 16);
	machine = rd16(b, 18);
	if (type != ET_EXEC && type != ET_DYN)
		return fail(p, EINVAL, "ELF type %u is not an executable", type);
	if (machine != EM_386 && machine != EM_X86_64)
		return fail(p, EINVAL, "ELF machine %u is not x86 (3 or 62)", machine);
	e->entry = e->is64 ? rd64(b, 24) : rd32(b, 24);
	e->phoff = e->is64 ? rd64(b, 32) : rd32(b, 28);
	e->phentsize = rd16(b, e->is64 ? 54 : 42);
	e->phnum = rd16(b, e->is64 ? 56 : 44);
	if (e->phentsize < (e->is64 ? ELF64_PHDR_SIZE : ELF32_PHDR_SIZE))
		return fail(p, EINVAL, "ELF program header size %u too small", e->phentsize);
	if (e->phoff > p->size || (u64)e->phnum * e->phentsize > p->size - e->phoff)
		return fail(p, EINVAL,
		            "ELF program headers (%u at 0x%llx) past the end of the file", e->phnum,
		            ULL(e->phoff));
	return 0;
}

/* One PT_LOAD: a segment at p_paddr; translate e_entry if it lies in p_vaddr's range. */
static int elf_phdr(struct parse *p, const struct elf *e, const u8 *ph)
{
	u64 off, vaddr, paddr, filesz, memsz;

	if (rd32(ph, 0) != PT_LOAD)
		return 0;
	off = e->is64 ? rd64(ph, 8) : rd32(ph, 4);
	vaddr = e->is64 ? rd64(ph, 16) : rd32(ph, 8);
	paddr = e->is64 ? rd64(ph, 24) : rd32(ph, 12);
	filesz = e->is64 ? rd64(ph, 32) : rd32(ph, 16);
	memsz = e->is64 ? rd64(ph, 40) : rd32(ph, 20);
	if (!filesz && !memsz)
		return 0;
	/* QEMU's load_elf and GRUB: e_entry is virtual; enter at its physical alias. */
	if (vaddr != paddr && e->entry >= vaddr && e->entry - vaddr < memsz && !p->translated) {
		p->elf_entry = e->entry - vaddr + paddr;
		p->translated = true;
	}
	return add_segment(p, paddr, off, filesz, memsz);
}

static int load_elf(struct parse *p, bool allow64)
{
	struct elf e = { 0 };
	int err = elf_header(p, allow64, &e);

	if (err)
		return err;
	p->out->format = e.is64 ? "ELF64" : "ELF32";
	p->elf_entry = e.entry;
	for (u16 i = 0; i < e.phnum && !err; i++)
		err = elf_phdr(p, &e, p->img + e.phoff + (u64)i * e.phentsize);
	if (err)
		return err;
	if (!p->out->nsegs)
		return fail(p, EINVAL, "ELF file has no loadable segment");
	p->out->entry = p->elf_entry;
	return 0;
}

/* ---- multiboot 1 --------------------------------------------------------------------------- */

static int parse_mb1(struct parse *p, u64 off)
{
	const u8 *h = p->img + off;
	u32 flags = rd32(h, 4);
	struct kludge k;
	int err;

	p->out->version = 1;
	p->out->mb1_flags = flags;
	if (flags & MB1_HF_UNSUPPORTED)
		return fail(p, EINVAL,
		            "multiboot 1 header requires flags 0x%x that no boot loader "
		            "supports",
		            flags & MB1_HF_UNSUPPORTED);
	if (!(flags & MB1_HF_AOUT_KLUDGE))
		return load_elf(p, false);
	if (off + MB1_KLUDGE_HDR_SIZE > MIN(p->size, (u64)MB1_SEARCH_BYTES))
		return fail(p, EINVAL,
		            "multiboot 1 header at 0x%llx: its load addresses lie past "
		            "the first 8192 bytes or the end of the file",
		            ULL(off));
	k = (struct kludge){ rd32(h, 12), rd32(h, 16), rd32(h, 20), rd32(h, 24) };
	err = load_kludge(p, off, &k);
	p->out->entry = rd32(h, 28);
	return err;
}

/* ---- multiboot 2 --------------------------------------------------------------------------- */

struct mb2_tags {
	bool have_addr, have_entry;
	struct kludge addr;
	u32 entry;
};

static int mb2_info_request(struct parse *p, const u8 *t, u32 tsize, bool optional)
{
	for (u32 i = 8; i + 4 <= tsize; i += 4) {
		u32 type = rd32(t, i);

		if (type > MB2_INFO_TYPE_MAX) {
			if (optional)
				continue;
			return fail(p, EINVAL,
			            "multiboot 2 header requires information tag type %u, "
			            "which no boot loader knows",
			            type);
		}
		p->out->mb2_requested |= (u32)BIT(type);
		if (!(MB2_INFO_PROVIDED & BIT(type)))
			p->out->mb2_unprovided |= (u32)BIT(type);
	}
	p->out->mb2_wants_mmap = p->out->mb2_requested & BIT(6);
	return 0;
}

static const char *mb2_efi_tag_name(u16 type)
{
	switch (type) {
	case 7:
		return "EFI boot services";
	case 8:
		return "an EFI i386 entry point";
	case 9:
		return "an EFI amd64 entry point";
	default:
		return NULL;
	}
}

static int mb2_tag(struct parse *p, const u8 *t, struct mb2_tags *tags)
{
	u16 type = rd16(t, 0);
	bool optional = rd16(t, 2) & MB2_TAG_OPTIONAL;
	u32 tsize = rd32(t, 4);
	static const u8 min_size[] = { 8, 8, 24, 12, 12, 20, 8, 8, 12, 12, 24 };

	if (type < ARRAY_SIZE(min_size) && tsize < min_size[type])
		return fail(p, EINVAL, "multiboot 2 header tag %u: size %u too small", type, tsize);
	switch (type) {
	case 1:
		return mb2_info_request(p, t, tsize, optional);
	case 2:
		tags->have_addr = true;
		tags->addr = (struct kludge){ rd32(t, 8), rd32(t, 12), rd32(t, 16), rd32(t, 20) };
		return 0;
	case 3:
		tags->have_entry = true;
		tags->entry = rd32(t, 8);
		return 0;
	case 6:
		p->out->mb2_module_align = true;
		return 0;
	case 4:  /* console flags: the guest gets the serial port whatever it asks */
	case 5:  /* framebuffer: there is none, the guest must cope (GRUB without video) */
	case 10: /* relocatable: loaded at its link address, which it also accepts */
		return 0;
	}
	if (optional)
		return 0;
	if (mb2_efi_tag_name(type))
		return fail(p, EINVAL,
		            "multiboot 2 header requires %s (tag %u): eptvisor boots "
		            "guests without EFI",
		            mb2_efi_tag_name(type), type);
	return fail(p, EINVAL, "multiboot 2 header requires unknown tag type %u", type);
}

static int mb2_tags(struct parse *p, u64 off, u32 hlen, struct mb2_tags *tags)
{
	u64 end = off + hlen, t = off + MB2_HDR_SIZE;

	while (t + 8 <= end) {
		u32 tsize = rd32(p->img, t + 4);
		int err;

		if (tsize < 8 || tsize > end - t)
			return fail(p, EINVAL,
			            "multiboot 2 header tag at 0x%llx: size %u runs past "
			            "the header",
			            ULL(t), tsize);
		if (rd16(p->img, t) == 0)
			return 0;
		err = mb2_tag(p, p->img + t, tags);
		if (err)
			return err;
		t += ALIGN_UP((u64)tsize, 8);
	}
	return fail(p, EINVAL, "multiboot 2 header at 0x%llx has no end tag", ULL(off));
}

static int parse_mb2(struct parse *p, u64 off)
{
	u32 arch = rd32(p->img, off + 4), hlen = rd32(p->img, off + 8);
	struct mb2_tags tags = { 0 };
	int err;

	p->out->version = 2;
	if (arch != 0)
		return fail(p, EINVAL, "multiboot 2 header for architecture %u, not i386 (0)",
		            arch);
	if (hlen < MB2_HDR_SIZE || hlen > MIN(p->size, (u64)MB2_SEARCH_BYTES) - off)
		return fail(p, EINVAL,
		            "multiboot 2 header length %u runs past the first 32768 "
		            "bytes or the end of the file",
		            hlen);
	err = mb2_tags(p, off, hlen, &tags);
	if (err)
		return err;
	if (!tags.have_addr)
		err = load_elf(p, true);
	else if (!tags.have_entry)
		return fail(p, EINVAL, "multiboot 2 address tag without an entry address tag");
	else {
		/* load_addr -1: load from the file's first byte (header_addr - offset). */
		if (tags.addr.load_addr == 0xffffffffU)
			tags.addr.load_addr = tags.addr.header_addr - (u32)off;
		err = load_kludge(p, off, &tags.addr);
	}
	if (!err && tags.have_entry)
		p->out->entry = tags.entry;
	return err;
}

/* ---- validation ---------------------------------------------------------------------------- */

static void fmt_ram(char *buf, size_t len, u64 ram)
{
	if (ram && IS_ALIGNED(ram, 1ULL << 20))
		snprintf(buf, len, "%llu MiB", ULL(ram >> 20));
	else
		snprintf(buf, len, "0x%llx bytes", ULL(ram));
}

/* Each check of one segment on its own, in the order a user would fix them. */
static int check_segment(struct parse *p, int i)
{
	const struct mb_segment *s = &p->out->seg[i];
	u64 end = s->gpa + s->memsz;
	char ram[32];

	if (s->filesz > s->memsz)
		return fail(p, EINVAL,
		            "segment %d: file size 0x%llx larger than its memory size "
		            "0x%llx",
		            i, ULL(s->filesz), ULL(s->memsz));
	if (s->file_off > p->size || s->filesz > p->size - s->file_off)
		return fail(p, EINVAL,
		            "segment %d: 0x%llx file bytes at offset 0x%llx run past the "
		            "end of the file (0x%llx bytes)",
		            i, ULL(s->filesz), ULL(s->file_off), ULL(p->size));
	if (s->memsz > p->ram || end < s->gpa)
		return fail(p, E2BIG, "segment %d: absurd size 0x%llx at 0x%llx", i, ULL(s->memsz),
		            ULL(s->gpa));
	fmt_ram(ram, sizeof(ram), p->ram);
	if (end > p->ram)
		return fail(p, ERANGE, "segment %d [0x%llx,0x%llx) outside guest RAM (%s)", i,
		            ULL(s->gpa), ULL(end), ram);
	if (overlaps(s->gpa, end, MB_PC_HOLE_START, MB_PC_HOLE_END))
		return fail(p, ERANGE,
		            "segment %d [0x%llx,0x%llx) overlaps the PC hole "
		            "[0xa0000,0x100000)",
		            i, ULL(s->gpa), ULL(end));
	if (overlaps(s->gpa, end, p->rlo, p->rhi))
		return fail(p, ERANGE,
		            "segment %d [0x%llx,0x%llx) overlaps the range [0x%llx,0x%llx) "
		            "reserved for boot information and modules",
		            i, ULL(s->gpa), ULL(end), ULL(p->rlo), ULL(p->rhi));
	for (int j = 0; j < i; j++) {
		const struct mb_segment *o = &p->out->seg[j];

		if (overlaps(s->gpa, end, o->gpa, o->gpa + o->memsz))
			return fail(p, ERANGE,
			            "segment %d [0x%llx,0x%llx) overlaps segment %d "
			            "[0x%llx,0x%llx)",
			            i, ULL(s->gpa), ULL(end), j, ULL(o->gpa),
			            ULL(o->gpa + o->memsz));
	}
	return 0;
}

static int validate(struct parse *p)
{
	struct mb_image *m = p->out;
	bool entry_ok = false;

	m->lowest = ~0ULL;
	for (int i = 0; i < m->nsegs; i++) {
		const struct mb_segment *s = &m->seg[i];
		int err = check_segment(p, i);

		if (err)
			return err;
		if (!s->memsz)
			return fail(p, EINVAL, "segment %d at 0x%llx loads nothing", i,
			            ULL(s->gpa));
		m->lowest = MIN(m->lowest, s->gpa);
		m->highest_end = MAX(m->highest_end, s->gpa + s->memsz);
		entry_ok |= m->entry >= s->gpa && m->entry < s->gpa + s->memsz;
	}
	if (m->entry > 0xffffffffULL)
		return fail(p, ERANGE,
		            "entry point 0x%llx above 4 GiB (multiboot enters in 32-bit "
		            "mode)",
		            ULL(m->entry));
	if (!entry_ok)
		return fail(p, ERANGE, "entry point 0x%llx not inside any loaded segment",
		            ULL(m->entry));
	return 0;
}

/* ---- entry --------------------------------------------------------------------------------- */

static int parse_header(struct parse *p)
{
	s64 bad1 = -1, bad2 = -1;
	s64 off = find_header(p, 2, &bad2);

	if (off >= 0) {
		p->out->header_off = off;
		return parse_mb2(p, off);
	}
	off = find_header(p, 1, &bad1);
	if (off >= 0) {
		p->out->header_off = off;
		return parse_mb1(p, off);
	}
	if (bad2 >= 0)
		return fail(p, EINVAL, "multiboot 2 header at 0x%llx: bad checksum", ULL(bad2));
	if (bad1 >= 0)
		return fail(p, EINVAL, "multiboot 1 header at 0x%llx: bad checksum", ULL(bad1));
	return fail(p, ENOEXEC,
	            "no multiboot header in the first 8192 bytes (multiboot 1) or "
	            "32768 bytes (multiboot 2)");
}

int mb_image_parse(const u8 *img, u64 size, u64 ram_bytes, gpa_t reserved_lo, gpa_t reserved_hi,
                   struct mb_image *out, char *err, size_t errlen)
{
	struct parse p = { img, size, ram_bytes, reserved_lo, reserved_hi,
		           out, err,  errlen,    0,           false };
	int ret;

	if (err && errlen)
		err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (!img || !size)
		return fail(&p, ENOEXEC, "empty image");
	if (reserved_hi < reserved_lo)
		return fail(&p, EINVAL, "reserved range [0x%llx,0x%llx) is backwards",
		            ULL(reserved_lo), ULL(reserved_hi));
	ret = parse_header(&p);
	if (!ret)
		ret = validate(&p);
	return ret;
}
