//! A small ELF reader: just what seed assembly (forge-build's `seed`) needs
//! to find a program's shared libraries.
//!
//! [`ElfInfo::parse`] reads ELF32 and ELF64 files of either byte order from
//! a byte slice and returns the identity of the object (class, byte order,
//! machine, type) and its dynamic-linking facts: the program interpreter
//! (`PT_INTERP`, e.g. `/lib64/ld-linux-x86-64.so.2`), the libraries it needs
//! (`DT_NEEDED`, in file order), its search paths (`DT_RUNPATH`,
//! `DT_RPATH`) and its own name (`DT_SONAME`).
//!
//! Only program headers are read, as the dynamic loader does: section headers
//! may be stripped. The dynamic section is found through `PT_DYNAMIC`, and
//! its string table (`DT_STRTAB`, a virtual address) is mapped to a file
//! offset through the `PT_LOAD` segments.
//!
//! The reader is meant for untrusted bytes: every offset and size is checked
//! with overflow-free arithmetic, garbage is an [`ElfError`] (never a panic),
//! and the work is bounded by the input's size and the fixed limits below.

use thiserror::Error;

/// Most program headers read (the field is 16 bits; `PN_XNUM` extended
/// counts are not followed).
const MAX_PHDRS: usize = 0xffff;
/// Most dynamic entries read from one `PT_DYNAMIC` segment.
const MAX_DYN_ENTRIES: usize = 1 << 16;
/// Longest string (interpreter, library name, search path) accepted.
pub const MAX_STRING: usize = 4096;
/// Most `DT_NEEDED` entries kept.
const MAX_NEEDED: usize = 4096;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;

const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// `EM_*` machine numbers that have names in messages and multiarch
/// triplets in forge-build's library search (`seed::resolve`).
pub mod machine {
    /// Intel 80386.
    pub const I386: u16 = 3;
    /// ARM (32-bit).
    pub const ARM: u16 = 40;
    /// AMD x86-64.
    pub const X86_64: u16 = 62;
    /// ARM 64-bit.
    pub const AARCH64: u16 = 183;
    /// RISC-V.
    pub const RISCV: u16 = 243;
    /// PowerPC 64-bit.
    pub const PPC64: u16 = 21;
    /// IBM S/390.
    pub const S390: u16 = 22;
}

/// 32- or 64-bit object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum ElfClass {
    /// `ELFCLASS32`.
    Elf32,
    /// `ELFCLASS64`.
    Elf64,
}

/// Byte order of the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Endian {
    /// `ELFDATA2LSB`.
    Little,
    /// `ELFDATA2MSB`.
    Big,
}

/// What the reader found in an ELF file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ElfInfo {
    /// 32- or 64-bit.
    pub class: ElfClass,
    /// Byte order.
    pub endian: Endian,
    /// `e_machine` (see [`machine`]).
    pub machine: u16,
    /// `e_type`: 2 executable, 3 shared object (or PIE), 1 relocatable.
    pub kind: u16,
    /// The program interpreter (`PT_INTERP`), without its NUL.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` names, in the order the file lists them.
    pub needed: Vec<String>,
    /// `DT_RUNPATH`, as written (colon-separated, may use `$ORIGIN`).
    pub runpath: Option<String>,
    /// `DT_RPATH`, as written.
    pub rpath: Option<String>,
    /// `DT_SONAME`.
    pub soname: Option<String>,
}

/// Why bytes could not be read as ELF. Offsets are file offsets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ElfError {
    /// The file does not start with `\x7fELF`.
    #[error("not an ELF file (no \\x7fELF magic)")]
    NotElf,
    /// `EI_CLASS` is neither 1 nor 2.
    #[error("unknown ELF class {0} (expected 1 for 32-bit or 2 for 64-bit)")]
    BadClass(u8),
    /// `EI_DATA` is neither 1 nor 2.
    #[error("unknown ELF byte order {0} (expected 1 for little or 2 for big endian)")]
    BadEndian(u8),
    /// A structure runs past the end of the file.
    #[error(
        "truncated ELF file: {what} at offset {offset} needs {len} bytes, the file has {size}"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// How many bytes it needs.
        len: u64,
        /// The file's size.
        size: u64,
    },
    /// A header field has an impossible value.
    #[error("malformed ELF file: {0}")]
    Malformed(String),
    /// A string is not NUL-terminated within its table or the length limit.
    #[error("unterminated or overlong string at offset {offset} (limit {MAX_STRING} bytes)")]
    BadString {
        /// Where the string starts.
        offset: u64,
    },
    /// A string is not UTF-8.
    #[error("string at offset {offset} is not UTF-8")]
    NotUtf8 {
        /// Where the string starts.
        offset: u64,
    },
    /// `DT_STRTAB` points at no loaded segment.
    #[error("the dynamic string table address {addr:#x} is not inside any PT_LOAD segment")]
    Unmapped {
        /// The virtual address.
        addr: u64,
    },
}

/// Whether `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Class, byte order and machine of an ELF file, from its first 20 bytes.
pub fn identity(head: &[u8]) -> Result<(ElfClass, Endian, u16), ElfError> {
    if !is_elf(head) {
        return Err(ElfError::NotElf);
    }
    let ident = head.get(..20).ok_or(ElfError::Truncated {
        what: "ELF header",
        offset: 0,
        len: 20,
        size: head.len() as u64,
    })?;
    let class = match ident[4] {
        1 => ElfClass::Elf32,
        2 => ElfClass::Elf64,
        c => return Err(ElfError::BadClass(c)),
    };
    let endian = match ident[5] {
        1 => Endian::Little,
        2 => Endian::Big,
        d => return Err(ElfError::BadEndian(d)),
    };
    let m = [ident[18], ident[19]];
    let machine = match endian {
        Endian::Little => u16::from_le_bytes(m),
        Endian::Big => u16::from_be_bytes(m),
    };
    Ok((class, endian, machine))
}

/// Bounds-checked, byte-order-aware reads from the file.
struct Reader<'a> {
    data: &'a [u8],
    endian: Endian,
    class: ElfClass,
}

impl<'a> Reader<'a> {
    fn bytes(&self, what: &'static str, offset: u64, len: u64) -> Result<&'a [u8], ElfError> {
        let size = self.data.len() as u64;
        let end = offset.checked_add(len).filter(|&e| e <= size);
        match end {
            // Both fit in usize: they are at most the slice's length.
            Some(end) => Ok(&self.data[offset as usize..end as usize]),
            None => Err(ElfError::Truncated {
                what,
                offset,
                len,
                size,
            }),
        }
    }

    fn u16(&self, what: &'static str, offset: u64) -> Result<u16, ElfError> {
        let b = self.bytes(what, offset, 2)?;
        let a = [b[0], b[1]];
        Ok(match self.endian {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        })
    }

    fn u32(&self, what: &'static str, offset: u64) -> Result<u32, ElfError> {
        let b = self.bytes(what, offset, 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(match self.endian {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        })
    }

    fn u64(&self, what: &'static str, offset: u64) -> Result<u64, ElfError> {
        let b = self.bytes(what, offset, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(match self.endian {
            Endian::Little => u64::from_le_bytes(a),
            Endian::Big => u64::from_be_bytes(a),
        })
    }

    /// A word: 4 bytes in ELF32, 8 in ELF64 (addresses, offsets, sizes).
    fn word(&self, what: &'static str, offset: u64) -> Result<u64, ElfError> {
        match self.class {
            ElfClass::Elf32 => self.u32(what, offset).map(u64::from),
            ElfClass::Elf64 => self.u64(what, offset),
        }
    }

    /// A NUL-terminated string starting at `offset`, not past `limit`.
    fn cstr(&self, offset: u64, limit: u64) -> Result<String, ElfError> {
        let size = self.data.len() as u64;
        let limit = limit
            .min(size)
            .min(offset.saturating_add(MAX_STRING as u64 + 1));
        if offset >= limit {
            return Err(ElfError::BadString { offset });
        }
        let window = &self.data[offset as usize..limit as usize];
        let nul = window
            .iter()
            .position(|&b| b == 0)
            .ok_or(ElfError::BadString { offset })?;
        String::from_utf8(window[..nul].to_vec()).map_err(|_| ElfError::NotUtf8 { offset })
    }
}

/// One program header, the fields this reader uses.
#[derive(Debug, Clone, Copy)]
struct Phdr {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

impl ElfInfo {
    /// Reads the ELF header, program headers and dynamic section of `data`.
    pub fn parse(data: &[u8]) -> Result<ElfInfo, ElfError> {
        if !is_elf(data) {
            return Err(ElfError::NotElf);
        }
        let (class, endian, machine) = identity(data)?;
        let r = Reader {
            data,
            endian,
            class,
        };
        let kind = r.u16("e_type", 16)?;
        let (phoff, phentsize, phnum) = match class {
            ElfClass::Elf32 => (
                u64::from(r.u32("e_phoff", 28)?),
                r.u16("e_phentsize", 42)?,
                r.u16("e_phnum", 44)?,
            ),
            ElfClass::Elf64 => (
                r.u64("e_phoff", 32)?,
                r.u16("e_phentsize", 54)?,
                r.u16("e_phnum", 56)?,
            ),
        };
        let min_phentsize: u16 = match class {
            ElfClass::Elf32 => 32,
            ElfClass::Elf64 => 56,
        };
        let mut info = ElfInfo {
            class,
            endian,
            machine,
            kind,
            interpreter: None,
            needed: Vec::new(),
            runpath: None,
            rpath: None,
            soname: None,
        };
        if phnum == 0 {
            // A relocatable object or a file with no segments: nothing to load.
            return Ok(info);
        }
        if phentsize < min_phentsize {
            return Err(ElfError::Malformed(format!(
                "program header entries are {phentsize} bytes; at least {min_phentsize} expected"
            )));
        }
        let phdrs = read_phdrs(&r, phoff, phentsize, usize::from(phnum).min(MAX_PHDRS))?;

        if let Some(p) = phdrs.iter().find(|p| p.kind == PT_INTERP) {
            r.bytes("PT_INTERP segment", p.offset, p.filesz)?;
            info.interpreter = Some(r.cstr(p.offset, p.offset.saturating_add(p.filesz))?);
        }
        if let Some(dynamic) = phdrs.iter().find(|p| p.kind == PT_DYNAMIC) {
            read_dynamic(&r, dynamic, &phdrs, &mut info)?;
        }
        Ok(info)
    }

    /// `DT_RUNPATH` if present, else `DT_RPATH`, split at `:` (empty
    /// entries dropped): the object's own search path, before ld.so.conf.
    /// (`DT_RPATH` is ignored by the loader when `DT_RUNPATH` exists.)
    pub fn search_path(&self) -> Vec<&str> {
        self.runpath
            .as_deref()
            .or(self.rpath.as_deref())
            .map(|s| s.split(':').filter(|p| !p.is_empty()).collect())
            .unwrap_or_default()
    }
}

fn read_phdrs(r: &Reader<'_>, phoff: u64, entsize: u16, n: usize) -> Result<Vec<Phdr>, ElfError> {
    let entsize = u64::from(entsize);
    let total = entsize.saturating_mul(n as u64);
    r.bytes("program header table", phoff, total)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let at = phoff + i * entsize; // in bounds: checked above
        let p = match r.class {
            ElfClass::Elf32 => Phdr {
                kind: r.u32("p_type", at)?,
                offset: u64::from(r.u32("p_offset", at + 4)?),
                vaddr: u64::from(r.u32("p_vaddr", at + 8)?),
                filesz: u64::from(r.u32("p_filesz", at + 16)?),
            },
            ElfClass::Elf64 => Phdr {
                kind: r.u32("p_type", at)?,
                offset: r.u64("p_offset", at + 8)?,
                vaddr: r.u64("p_vaddr", at + 16)?,
                filesz: r.u64("p_filesz", at + 32)?,
            },
        };
        out.push(p);
    }
    Ok(out)
}

/// Maps a virtual address to a file offset through the `PT_LOAD` segments.
fn vaddr_to_offset(phdrs: &[Phdr], addr: u64) -> Option<(u64, u64)> {
    phdrs
        .iter()
        .filter(|p| p.kind == PT_LOAD)
        .find(|p| addr >= p.vaddr && addr - p.vaddr < p.filesz)
        .map(|p| {
            let delta = addr - p.vaddr;
            // The bytes left in this segment after `addr`.
            (p.offset.saturating_add(delta), p.filesz - delta)
        })
}

fn read_dynamic(
    r: &Reader<'_>,
    dynamic: &Phdr,
    phdrs: &[Phdr],
    info: &mut ElfInfo,
) -> Result<(), ElfError> {
    let entsize: u64 = match r.class {
        ElfClass::Elf32 => 8,
        ElfClass::Elf64 => 16,
    };
    let avail = r.data.len() as u64;
    if dynamic.offset > avail {
        return Err(ElfError::Truncated {
            what: "PT_DYNAMIC segment",
            offset: dynamic.offset,
            len: dynamic.filesz,
            size: avail,
        });
    }
    let count = (dynamic.filesz.min(avail - dynamic.offset) / entsize).min(MAX_DYN_ENTRIES as u64);
    let mut strtab = None;
    let mut strsz = None;
    // (tag, string offset) pairs, resolved once the string table is known.
    let mut strings: Vec<(u64, u64)> = Vec::new();
    for i in 0..count {
        let at = dynamic.offset + i * entsize;
        let tag = r.word("d_tag", at)?;
        let val = r.word("d_val", at + entsize / 2)?;
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(val),
            DT_STRSZ => strsz = Some(val),
            DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH if strings.len() < MAX_NEEDED + 3 => {
                strings.push((tag, val));
            }
            _ => {}
        }
    }
    if strings.is_empty() {
        return Ok(());
    }
    let Some(strtab) = strtab else {
        return Err(ElfError::Malformed(
            "the dynamic section names strings but has no DT_STRTAB".into(),
        ));
    };
    let (table_off, mapped_len) =
        vaddr_to_offset(phdrs, strtab).ok_or(ElfError::Unmapped { addr: strtab })?;
    let table_len = strsz.map_or(mapped_len, |s| s.min(mapped_len));
    let table_end = table_off.saturating_add(table_len);
    for (tag, off) in strings {
        if off >= table_len {
            return Err(ElfError::Malformed(format!(
                "dynamic string offset {off} is past the string table's {table_len} bytes"
            )));
        }
        let s = r.cstr(table_off.saturating_add(off), table_end)?;
        match tag {
            DT_NEEDED => {
                if info.needed.len() < MAX_NEEDED {
                    info.needed.push(s);
                }
            }
            DT_SONAME => info.soname = Some(s),
            DT_RPATH => info.rpath = Some(s),
            _ => info.runpath = Some(s),
        }
    }
    Ok(())
}

impl ElfInfo {
    /// Writes a minimal ELF file that [`ElfInfo::parse`] reads back as
    /// `self`: one `PT_LOAD` over the whole file, `PT_INTERP` when there is
    /// an interpreter, and `PT_DYNAMIC` when there are dynamic strings. No
    /// code: it is for tests and fuzzing seeds, not for running.
    ///
    /// Strings must not contain NUL (they could not be read back).
    pub fn to_bytes(&self) -> Vec<u8> {
        let wide = self.class == ElfClass::Elf64;
        let (ehsize, phentsize, dynent) = if wide { (64, 56, 16) } else { (52, 32, 8) };
        let mut dynstr = vec![0u8];
        let mut entries: Vec<(u64, u64)> = Vec::new();
        let mut add = |tag: u64, s: &str, dynstr: &mut Vec<u8>| {
            entries.push((tag, dynstr.len() as u64));
            dynstr.extend_from_slice(s.as_bytes());
            dynstr.push(0);
        };
        for n in &self.needed {
            add(DT_NEEDED, n, &mut dynstr);
        }
        for (tag, s) in [
            (DT_SONAME, &self.soname),
            (DT_RPATH, &self.rpath),
            (DT_RUNPATH, &self.runpath),
        ] {
            if let Some(s) = s {
                add(tag, s, &mut dynstr);
            }
        }
        let has_dyn = !entries.is_empty();
        let nph = 1 + usize::from(self.interpreter.is_some()) + usize::from(has_dyn);
        let interp_off = ehsize + nph * phentsize;
        let interp_len = self.interpreter.as_ref().map_or(0, |s| s.len() + 1);
        let dynstr_off = interp_off + interp_len;
        let dyn_off = (dynstr_off + dynstr.len()).next_multiple_of(8);
        if has_dyn {
            entries.push((DT_STRTAB, dynstr_off as u64));
            entries.push((DT_STRSZ, dynstr.len() as u64));
            entries.push((DT_NULL, 0));
        }
        let dyn_len = entries.len() * dynent;
        let total = dyn_off + dyn_len;

        let mut out = Vec::with_capacity(total);
        let put16 = |out: &mut Vec<u8>, v: u16| match self.endian {
            Endian::Little => out.extend(v.to_le_bytes()),
            Endian::Big => out.extend(v.to_be_bytes()),
        };
        let put32 = |out: &mut Vec<u8>, v: u32| match self.endian {
            Endian::Little => out.extend(v.to_le_bytes()),
            Endian::Big => out.extend(v.to_be_bytes()),
        };
        let put64 = |out: &mut Vec<u8>, v: u64| match self.endian {
            Endian::Little => out.extend(v.to_le_bytes()),
            Endian::Big => out.extend(v.to_be_bytes()),
        };
        // Sizes here are small; truncation to 32 bits cannot happen for
        // inputs that fit in memory as ELF32 anyway.
        let word = |out: &mut Vec<u8>, v: u64| {
            if wide {
                put64(out, v);
            } else {
                put32(out, v as u32);
            }
        };
        out.extend(b"\x7fELF");
        out.push(if wide { 2 } else { 1 });
        out.push(if self.endian == Endian::Little { 1 } else { 2 });
        out.push(1); // EV_CURRENT
        out.resize(16, 0);
        put16(&mut out, self.kind);
        put16(&mut out, self.machine);
        put32(&mut out, 1); // e_version
        word(&mut out, 0); // e_entry
        word(&mut out, ehsize as u64); // e_phoff
        word(&mut out, 0); // e_shoff
        put32(&mut out, 0); // e_flags
        put16(&mut out, ehsize as u16);
        put16(&mut out, phentsize as u16);
        put16(&mut out, nph as u16);
        put16(&mut out, 0); // e_shentsize
        put16(&mut out, 0); // e_shnum
        put16(&mut out, 0); // e_shstrndx
        let phdr = |out: &mut Vec<u8>, kind: u32, off: usize, len: usize| {
            put32(out, kind);
            if wide {
                put32(out, 5); // p_flags
            }
            word(out, off as u64); // p_offset
            word(out, off as u64); // p_vaddr
            word(out, off as u64); // p_paddr
            word(out, len as u64); // p_filesz
            word(out, len as u64); // p_memsz
            if !wide {
                put32(out, 5);
            }
            word(out, 8); // p_align
        };
        phdr(&mut out, PT_LOAD, 0, total);
        if self.interpreter.is_some() {
            phdr(&mut out, PT_INTERP, interp_off, interp_len);
        }
        if has_dyn {
            phdr(&mut out, PT_DYNAMIC, dyn_off, dyn_len);
        }
        if let Some(interp) = &self.interpreter {
            out.extend(interp.as_bytes());
            out.push(0);
        }
        out.extend(&dynstr);
        out.resize(dyn_off, 0);
        for (tag, val) in entries {
            word(&mut out, tag);
            word(&mut out, val);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_and_short_input() {
        assert_eq!(ElfInfo::parse(b""), Err(ElfError::NotElf));
        assert_eq!(ElfInfo::parse(b"#!/bin/sh\n"), Err(ElfError::NotElf));
        assert!(matches!(
            ElfInfo::parse(b"\x7fELF"),
            Err(ElfError::Truncated { .. })
        ));
        let mut h = b"\x7fELF".to_vec();
        h.extend([3, 1, 1]);
        h.resize(64, 0);
        assert_eq!(ElfInfo::parse(&h), Err(ElfError::BadClass(3)));
    }

    /// Found by the `elf` fuzz target: a PT_LOAD whose file offset is near
    /// `u64::MAX` overflowed the string table offset.
    #[test]
    fn regression_string_table_offset_overflow() {
        let info = ElfInfo {
            class: ElfClass::Elf64,
            endian: Endian::Little,
            machine: machine::X86_64,
            kind: 3,
            interpreter: None,
            needed: vec!["libc.so.6".into()],
            runpath: None,
            rpath: None,
            soname: None,
        };
        let mut bytes = info.to_bytes();
        // The first program header (PT_LOAD) starts at 64; p_offset at +8.
        bytes[72..80].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
        assert!(matches!(
            ElfInfo::parse(&bytes),
            Err(ElfError::BadString { .. })
        ));
    }

    #[test]
    fn a_header_without_segments_is_a_plain_object() {
        let mut h = b"\x7fELF".to_vec();
        h.extend([2, 1, 1]);
        h.resize(64, 0);
        h[16] = 1; // ET_REL
        h[18] = 62;
        let info = ElfInfo::parse(&h).expect("valid header");
        assert_eq!(info.class, ElfClass::Elf64);
        assert_eq!(info.machine, machine::X86_64);
        assert_eq!(info.kind, 1);
        assert!(info.needed.is_empty() && info.interpreter.is_none());
    }
}
