//! Finding `BIO_f_ssl`'s read and write functions in a libssl without debug symbols.
//!
//! An application that reads and writes through a `BIO_f_ssl` (`openssl s_server -WWW`,
//! programs built on `BIO_new_ssl_connect`) never calls the exported `SSL_read*` /
//! `SSL_write*`: OpenSSL 3's `bio_ssl.c` has static `ssl_read` / `ssl_write` (signature
//! `(BIO *b, char *buf, size_t size, size_t *done)`, returning 1 on success like the `_ex`
//! forms) that call the internal `ssl_read_internal` / `ssl_write_internal`. Those static
//! functions have no dynamic symbol, but the exported `BIO_f_ssl()` returns the address of
//! the `BIO_METHOD` that points at them:
//!
//! 1. `BIO_f_ssl`'s code is `[endbr64] lea rax, [rip + disp32]; ret` (x86-64), giving the
//!    method table's address;
//! 2. the table (`struct bio_method_st`: `int type` at 0, then pointers: `bwrite` at 16,
//!    `bread` at 32) lives in `.data.rel.ro` of a position-independent library, so its
//!    pointer slots are filled at load time by `R_X86_64_RELATIVE` relocations in
//!    `.rela.dyn`, whose addends are the functions' addresses; `type` must read
//!    `BIO_TYPE_SSL` (0x207), which checks the pattern was the right one;
//! 3. the addresses become file offsets through the program headers (`PT_LOAD`), which is
//!    what a uprobe is attached at.
//!
//! The probe then finds the `SSL*` from the `BIO*`: `bio_st.ptr` holds the `BIO_SSL`,
//! whose first member is the `SSL*`. `ptr`'s offset in `struct bio_st` is 64 in OpenSSL 3
//! (`libctx` was added before `method`) and 56 in 1.1.1; which one applies is chosen by the
//! library's `DT_SONAME` (`libssl.so.3` / `libssl.so.1.1`), anything else is refused.
//!
//! Pure and total: any bytes give a [`BioMethods`] or a [`BioError`], never a panic. Only
//! x86-64 is decoded; another architecture, another code shape or another layout is a
//! [`BioError`] and the caller goes on without these two probes (counted, logged once).

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader, Rela, SectionHeader, Sym};
use object::Endianness;

/// `BIO_TYPE_SSL` (`7 | BIO_TYPE_FILTER`).
const BIO_TYPE_SSL: u32 = 0x0207;
/// `struct bio_method_st`: offsets of `bwrite` and `bread`.
const BWRITE_AT: u64 = 16;
const BREAD_AT: u64 = 32;

/// Where to attach the two `BIO_f_ssl` probes in one library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BioMethods {
    /// File offset of `bio_ssl.c`'s `ssl_read`.
    pub read: u64,
    /// File offset of `bio_ssl.c`'s `ssl_write`.
    pub write: u64,
    /// Offset of `ptr` in `struct bio_st` for this library's OpenSSL version.
    pub bio_ptr_offset: u32,
}

/// Why the `BIO_f_ssl` functions were not found (the rest of the probe works without them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BioError {
    /// Not a 64-bit little-endian x86-64 ELF file (or not ELF at all).
    #[error("not an x86-64 ELF library: {0}")]
    Unsupported(String),
    /// The ELF structures could not be read.
    #[error("malformed ELF: {0}")]
    Elf(String),
    /// `DT_SONAME` is not one whose `struct bio_st` layout is known.
    #[error("unknown OpenSSL version (SONAME {0:?}): struct bio_st layout unknown")]
    UnknownVersion(String),
    /// The library has no dynamic symbol `BIO_f_ssl`.
    #[error("no BIO_f_ssl symbol")]
    NoSymbol,
    /// `BIO_f_ssl`'s code or its method table is not the expected shape.
    #[error("BIO_f_ssl is not the expected code: {0}")]
    Pattern(&'static str),
}

fn elf_err(e: object::read::Error) -> BioError {
    BioError::Elf(e.to_string())
}

/// Reads `path` and finds its `BIO_f_ssl` functions.
pub fn resolve(path: &std::path::Path) -> Result<BioMethods, BioError> {
    let data = std::fs::read(path).map_err(|e| BioError::Elf(e.to_string()))?;
    resolve_bytes(&data)
}

/// Finds the `BIO_f_ssl` functions in the bytes of a libssl file.
pub fn resolve_bytes(data: &[u8]) -> Result<BioMethods, BioError> {
    let header = elf::FileHeader64::<Endianness>::parse(data)
        .map_err(|e| BioError::Unsupported(e.to_string()))?;
    let endian = header.endian().map_err(elf_err)?;
    if header.e_machine(endian) != elf::EM_X86_64 || endian != Endianness::Little {
        return Err(BioError::Unsupported(format!(
            "machine {}",
            header.e_machine(endian)
        )));
    }
    let segments = header.program_headers(endian, data).map_err(elf_err)?;
    let sections = header.sections(endian, data).map_err(elf_err)?;
    // A virtual address as (file offset, executable) through the PT_LOAD segments.
    let to_file = |vaddr: u64| -> Option<(u64, bool)> {
        segments
            .iter()
            .filter(|p| p.p_type(endian) == elf::PT_LOAD)
            .find(|p| {
                let start = p.p_vaddr(endian);
                vaddr >= start && vaddr - start < p.p_filesz(endian)
            })
            .map(|p| {
                (
                    vaddr - p.p_vaddr(endian) + p.p_offset(endian),
                    p.p_flags(endian) & elf::PF_X != 0,
                )
            })
    };
    let bytes_at = |vaddr: u64, len: usize| -> Option<&[u8]> {
        let (off, _) = to_file(vaddr)?;
        let off = usize::try_from(off).ok()?;
        data.get(off..off.checked_add(len)?)
    };

    // The version, by SONAME.
    let (dyns, strtab) = sections
        .dynamic(endian, data)
        .map_err(elf_err)?
        .ok_or(BioError::Pattern("no dynamic section"))?;
    let strings = sections.strings(endian, data, strtab).map_err(elf_err)?;
    let soname = dyns
        .iter()
        .find(|d| d.d_tag(endian) == u64::from(elf::DT_SONAME))
        .and_then(|d| strings.get(u32::try_from(d.d_val(endian)).ok()?).ok())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_default();
    let bio_ptr_offset = match soname.as_str() {
        s if s.starts_with("libssl.so.3") => 64,
        "libssl.so.1.1" => 56,
        _ => return Err(BioError::UnknownVersion(soname)),
    };

    // BIO_f_ssl's address.
    let symbols = sections
        .symbols(endian, data, elf::SHT_DYNSYM)
        .map_err(elf_err)?;
    let sym = symbols
        .iter()
        .find(|s| {
            s.st_shndx(endian) != elf::SHN_UNDEF
                && s.name(endian, symbols.strings()) == Ok(b"BIO_f_ssl".as_slice())
        })
        .ok_or(BioError::NoSymbol)?;
    let func = sym.st_value(endian);
    let code = bytes_at(func, 16).ok_or(BioError::Pattern("code outside the file"))?;
    let (skip, code) = match code.strip_prefix(&[0xf3, 0x0f, 0x1e, 0xfa]) {
        Some(rest) => (4u64, rest), // endbr64
        None => (0, code),
    };
    // lea rax, [rip + disp32] ; ret
    let [0x48, 0x8d, 0x05, d0, d1, d2, d3, 0xc3, ..] = *code else {
        return Err(BioError::Pattern("not `lea rax, [rip+disp]; ret`"));
    };
    let disp = i64::from(i32::from_le_bytes([d0, d1, d2, d3]));
    let table = func.wrapping_add(skip + 7).wrapping_add_signed(disp);
    let ty = bytes_at(table, 4).ok_or(BioError::Pattern("method table outside the file"))?;
    if u32::from_le_bytes([ty[0], ty[1], ty[2], ty[3]]) != BIO_TYPE_SSL {
        return Err(BioError::Pattern("method table type is not BIO_TYPE_SSL"));
    }

    // The relocations filling the table's bwrite and bread slots.
    let (mut write, mut read) = (None, None);
    for (_, section) in sections.enumerate() {
        let Some((relas, _)) = section.rela(endian, data).map_err(elf_err)? else {
            continue;
        };
        for r in relas {
            if r.r_type(endian, false) != elf::R_X86_64_RELATIVE {
                continue;
            }
            let at = r.r_offset(endian);
            let target = r.r_addend(endian) as u64;
            if at == table.wrapping_add(BWRITE_AT) {
                write = Some(target);
            } else if at == table.wrapping_add(BREAD_AT) {
                read = Some(target);
            }
        }
    }
    let code_offset = |vaddr: Option<u64>| -> Result<u64, BioError> {
        match vaddr.and_then(to_file) {
            Some((off, true)) => Ok(off),
            Some((_, false)) => Err(BioError::Pattern("method is not in an executable segment")),
            None => Err(BioError::Pattern("no relocation fills the method slot")),
        }
    };
    Ok(BioMethods {
        read: code_offset(read)?,
        write: code_offset(write)?,
        bio_ptr_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    const HOST_LIBSSL: &str = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

    /// Symbols and addresses of the instructions `objdump` shows at `offset` (to cross-check
    /// with an independent reader).
    fn objdump_at(lib: &str, offset: u64) -> Option<String> {
        let out = Command::new("objdump")
            .args(["-d", "--no-show-raw-insn"])
            .arg(format!("--start-address={offset:#x}"))
            .arg(format!("--stop-address={:#x}", offset + 128))
            .arg(lib)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    #[test]
    fn finds_bio_ssl_read_and_write_in_the_hosts_libssl() {
        if !Path::new(HOST_LIBSSL).exists() || !cfg!(target_arch = "x86_64") {
            eprintln!("skipped: no {HOST_LIBSSL} on x86-64");
            return;
        }
        let m = resolve(Path::new(HOST_LIBSSL)).expect("Debian 12's libssl.so.3 has the pattern");
        assert_eq!(m.bio_ptr_offset, 64);
        assert_ne!(m.read, m.write);
        // Both are functions of libssl's text, neither an exported one.
        let text = Command::new("nm")
            .args(["-D", "--defined-only", HOST_LIBSSL])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        if let Ok(text) = text {
            for a in [m.read, m.write] {
                let hex = format!("{a:016x}");
                assert!(!text.contains(&hex), "{hex} is an exported symbol");
            }
        }
        // objdump (binutils) agrees that each starts code calling BIO_get_data, then
        // SSL_get_error, as bio_ssl.c's ssl_read/ssl_write do.
        for a in [m.read, m.write] {
            if let Some(dis) = objdump_at(HOST_LIBSSL, a) {
                let data = dis.find("<BIO_get_data@plt>").expect("BIO_get_data called");
                let error = dis
                    .find("<SSL_get_error@plt>")
                    .expect("SSL_get_error called");
                assert!(data < error, "{dis}");
            }
        }
    }

    #[test]
    fn other_files_are_errors_not_panics() {
        assert!(matches!(
            resolve_bytes(b"not an elf"),
            Err(BioError::Unsupported(_))
        ));
        // The test binary itself: an x86-64 ELF without a libssl SONAME.
        let me = std::env::current_exe().expect("exe");
        let data = std::fs::read(me).expect("read");
        assert!(resolve_bytes(&data).is_err());
        if Path::new(HOST_LIBSSL).exists() && cfg!(target_arch = "x86_64") {
            let lib = std::fs::read(HOST_LIBSSL).expect("read");
            // Every truncation, at a coarse stride: an error, never a panic.
            for cut in (0..lib.len()).step_by(4093) {
                let _ = resolve_bytes(&lib[..cut]);
            }
            // Bytes flipped in the regions the resolver reads.
            let mut bad = lib.clone();
            for b in bad.iter_mut().take(4096) {
                *b ^= 0x5a;
            }
            let _ = resolve_bytes(&bad);
            // libcrypto: no BIO_f_ssl.
            let crypto = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";
            if Path::new(crypto).exists() {
                let e = resolve(Path::new(crypto)).expect_err("libcrypto");
                assert!(matches!(e, BioError::UnknownVersion(_)), "{e}");
            }
        }
    }

    /// `struct bio_st`'s `ptr` at 64 in OpenSSL 3 is what the exported `BIO_get_data`
    /// reads (`mov rax, [rdi + 0x40]; ret`), checked on the host's libcrypto.
    #[test]
    fn bio_ptr_offset_matches_the_hosts_bio_get_data() {
        let crypto = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";
        if !Path::new(crypto).exists() || !cfg!(target_arch = "x86_64") {
            eprintln!("skipped: no {crypto} on x86-64");
            return;
        }
        let out = Command::new("objdump")
            .args(["-d", "--no-show-raw-insn", crypto])
            .output();
        let Ok(out) = out else {
            eprintln!("skipped: no objdump");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let body: Vec<&str> = text
            .split("<BIO_get_data@@OPENSSL_3.0.0>:\n")
            .nth(1)
            .expect("BIO_get_data in libcrypto")
            .lines()
            .take(3)
            .collect();
        assert!(
            body.iter().any(|l| l.contains("mov    0x40(%rdi),%rax")),
            "{body:?}"
        );
    }
}
