//! Where to attach: libssl's internal read and write functions, found from the exported ones.
//!
//! OpenSSL (1.1.1 and 3.x) funnels every plaintext read and write through two internal
//! functions: `SSL_read` and `SSL_read_ex` both call `ssl_read_internal(s, buf, num,
//! &readbytes)`, `SSL_write` and `SSL_write_ex` call `ssl_write_internal(s, buf, num,
//! &written)`, and so does the `BIO_f_ssl` filter (`openssl s_server -WWW`, programs that
//! read through a BIO chain), which calls them without going through any exported function.
//! Probing the two internal functions therefore sees every call once, BIO users included.
//! They have the `_ex` signature, so the `_ex` programs serve them.
//!
//! It is also much cheaper here: the exported functions begin with `sub $n,%rsp`, which the
//! kernel can only execute out of line by single-stepping it (a second trap, `#DB`, per
//! call, the dearest part of a uprobe on this VM), while the internal ones begin with `push
//! %reg`, which x86 uprobes emulate (one trap).
//!
//! The internal functions are local symbols, absent from a stripped library. Their
//! addresses are read from the code: the first near `call` of each exported function,
//! decoded with `iced-x86` (a maintained, pure-Rust x86 decoder; writing a decoder by hand
//! would be the fragile part). The answer is kept only when it is consistent: `SSL_read`
//! and `SSL_read_ex` call the same function, `SSL_write` and `SSL_write_ex` call the same
//! other one, both inside the library's code. Anything else (another architecture, another
//! compiler's layout, an error path placed first) yields `None` and the caller probes the
//! four exported functions as before, which sees everything but BIO users.

use object::{Object, ObjectSection, ObjectSymbol};
use std::path::Path;

/// File offsets (what a uprobe is attached at) of the two internal functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Internal {
    /// `ssl_read_internal`.
    pub read: u64,
    /// `ssl_write_internal`.
    pub write: u64,
}

/// Bytes of an exported function decoded at most looking for its first call.
const SCAN_BYTES: usize = 96;

/// Finds the internal read and write functions of the libssl at `path`; `None` when the
/// file is not an x86-64 ELF or the code does not show them unambiguously.
pub fn find(path: &Path) -> Option<Internal> {
    let data = std::fs::read(path).ok()?;
    find_in(&data)
}

/// [`find`] on the file's bytes.
pub fn find_in(data: &[u8]) -> Option<Internal> {
    let file = object::File::parse(data).ok()?;
    if file.architecture() != object::Architecture::X86_64 {
        return None;
    }
    let target = |name: &str| -> Option<u64> {
        let sym = file
            .dynamic_symbols()
            .find(|s| s.name() == Ok(name) && s.is_definition())?;
        let (bytes, addr) = code_at(&file, data, sym.address(), SCAN_BYTES)?;
        first_call(bytes, addr)
    };
    let read = target("SSL_read")?;
    let write = target("SSL_write")?;
    if read == write || target("SSL_read_ex")? != read || target("SSL_write_ex")? != write {
        return None;
    }
    Some(Internal {
        read: file_offset(&file, read)?,
        write: file_offset(&file, write)?,
    })
}

/// Up to `len` bytes of code at virtual address `addr` (fewer at the end of its section).
fn code_at<'d>(
    file: &object::File<'d>,
    data: &'d [u8],
    addr: u64,
    len: usize,
) -> Option<(&'d [u8], u64)> {
    let section = file.sections().find(|s| {
        s.kind() == object::SectionKind::Text
            && addr >= s.address()
            && addr - s.address() < s.size()
    })?;
    let (start, size) = section.file_range()?;
    let skip = addr - section.address();
    let from = usize::try_from(start.checked_add(skip)?).ok()?;
    let end = usize::try_from(start.checked_add(size)?).ok()?;
    let to = end.min(from.checked_add(len)?).min(data.len());
    Some((data.get(from..to)?, addr))
}

/// The target of the first near call in `code` (at virtual address `addr`); `None` when a
/// return or an unconditional jump comes first (the function's main path was not found).
fn first_call(code: &[u8], addr: u64) -> Option<u64> {
    use iced_x86::{Decoder, DecoderOptions, FlowControl, OpKind};
    let mut decoder = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    while decoder.can_decode() {
        let insn = decoder.decode();
        if insn.is_invalid() {
            return None;
        }
        match insn.flow_control() {
            FlowControl::Call if insn.op0_kind() == OpKind::NearBranch64 => {
                return Some(insn.near_branch_target());
            }
            FlowControl::Call
            | FlowControl::IndirectCall
            | FlowControl::Return
            | FlowControl::UnconditionalBranch
            | FlowControl::IndirectBranch
            | FlowControl::Interrupt
            | FlowControl::Exception => return None,
            FlowControl::Next | FlowControl::ConditionalBranch | FlowControl::XbeginXabortXend => {}
        }
    }
    None
}

/// The file offset of code at virtual address `addr` (what `perf_event_open` wants).
fn file_offset(file: &object::File<'_>, addr: u64) -> Option<u64> {
    let section = file.sections().find(|s| {
        s.kind() == object::SectionKind::Text
            && addr >= s.address()
            && addr - s.address() < s.size()
    })?;
    let (start, _) = section.file_range()?;
    start.checked_add(addr - section.address())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_first_is_found_and_a_return_first_is_not() {
        // sub $0x18,%rsp; test %edx,%edx; js +0; call rel32 (to 0x1000 + 11 + 0x100)
        let code = [
            0x48, 0x83, 0xec, 0x18, 0x85, 0xd2, 0x78, 0x00, 0xe8, 0x00, 0x01, 0x00, 0x00,
        ];
        assert_eq!(first_call(&code, 0x1000), Some(0x1000 + 13 + 0x100));
        // ret; call
        let code = [0xc3, 0xe8, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(first_call(&code, 0x1000), None);
        // cut short inside the call: nothing
        assert_eq!(first_call(&[0xe8, 0x00], 0x1000), None);
    }

    #[test]
    fn garbage_is_no_answer() {
        assert_eq!(find_in(b""), None);
        assert_eq!(find_in(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]), None);
        assert_eq!(find_in(&vec![0xff; 4096]), None);
    }

    /// On this host's libssl (Debian 12: OpenSSL 3.0), the internal functions exist, differ,
    /// and each begins with a push the kernel emulates.
    #[test]
    fn the_hosts_libssl_shows_its_internal_functions() {
        let path = Path::new("/usr/lib/x86_64-linux-gnu/libssl.so.3");
        if !path.exists() || std::env::consts::ARCH != "x86_64" {
            eprintln!("skipped: no x86-64 /usr/lib/x86_64-linux-gnu/libssl.so.3");
            return;
        }
        let data = std::fs::read(path).unwrap();
        let found = find_in(&data).expect("ssl_read_internal and ssl_write_internal");
        assert_ne!(found.read, found.write);
        for off in [found.read, found.write] {
            let at = usize::try_from(off).unwrap();
            // push %r12..%r15 (41 54..57) or push %rbx/%rbp (53/55)
            let b = &data[at..at + 2];
            assert!(
                (b[0] == 0x41 && (0x50..=0x57).contains(&b[1])) || (0x50..=0x57).contains(&b[0]),
                "internal function at {off:#x} begins with {b:02x?}"
            );
        }
    }
}
