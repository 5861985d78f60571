//! Finding `libssl` the way the dynamic linker does: `/etc/ld.so.cache`.
//!
//! [`parse`] is pure and total over arbitrary bytes (a damaged cache gives fewer or no
//! entries, never a panic). Formats read: glibc's "new" format (`glibc-ld.so.cache1.1`,
//! the only one glibc ≥ 2.32 writes) alone or after the old `ld.so-1.7.0` table. String
//! offsets of the new format are relative to its own header.

use std::path::{Path, PathBuf};

const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_HEADER: usize = 16;
const OLD_ENTRY: usize = 12;
/// At most this many entries are read from a cache (a real one has hundreds).
pub const MAX_ENTRIES: usize = 1 << 16;

/// The sonames of OpenSSL's libssl this probe knows (3.x, 1.1.x).
pub const LIBSSL_SONAMES: &[&str] = &["libssl.so.3", "libssl.so.1.1"];

/// One `soname -> path` entry of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The glibc flags word: low byte the library kind (3 = ELF libc6), next byte the ABI.
    pub flags: u32,
    /// The soname, e.g. `libssl.so.3`.
    pub soname: String,
    /// Where the library file is.
    pub path: PathBuf,
}

impl Entry {
    /// An ELF libc6 library for the architecture this crate was built for (as ld.so checks).
    pub fn is_native(&self) -> bool {
        let kind_ok = self.flags & 0xff == 0x03;
        let abi = self.flags & 0xff00;
        let abi_ok = if cfg!(target_arch = "x86_64") {
            abi == 0x0300
        } else if cfg!(target_arch = "aarch64") {
            abi == 0x0a00
        } else {
            true
        };
        kind_ok && abi_ok
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn cstr_at(b: &[u8], at: usize) -> Option<&str> {
    let rest = b.get(at..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// Every entry of a cache file's bytes (new format), in file order.
pub fn parse(bytes: &[u8]) -> Vec<Entry> {
    let start = if bytes.starts_with(NEW_MAGIC) {
        0
    } else if bytes.starts_with(OLD_MAGIC) {
        // Old table first, then the new header aligned to 8.
        let Some(n) = u32_at(bytes, 12) else {
            return Vec::new();
        };
        let Some(end) = (n as usize)
            .checked_mul(OLD_ENTRY)
            .and_then(|x| x.checked_add(OLD_HEADER))
        else {
            return Vec::new();
        };
        let aligned = (end + 7) & !7;
        match bytes.get(aligned..) {
            Some(rest) if rest.starts_with(NEW_MAGIC) => aligned,
            _ => return Vec::new(),
        }
    } else {
        return Vec::new();
    };
    let new = &bytes[start..];
    let Some(nlibs) = u32_at(new, 20) else {
        return Vec::new();
    };
    let nlibs = (nlibs as usize).min(MAX_ENTRIES);
    let mut out = Vec::new();
    for i in 0..nlibs {
        let at = NEW_HEADER + i * NEW_ENTRY;
        let (Some(flags), Some(key), Some(value)) =
            (u32_at(new, at), u32_at(new, at + 4), u32_at(new, at + 8))
        else {
            break;
        };
        let (Some(soname), Some(path)) = (cstr_at(new, key as usize), cstr_at(new, value as usize))
        else {
            continue;
        };
        out.push(Entry {
            flags,
            soname: soname.to_string(),
            path: PathBuf::from(path),
        });
    }
    out
}

/// The native libssl paths in a cache's entries, one per distinct soname, cache order
/// (ld.so's preference order), duplicates removed.
pub fn libssl_paths(entries: &[Entry]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for soname in LIBSSL_SONAMES {
        if let Some(e) = entries
            .iter()
            .find(|e| e.soname == *soname && e.is_native())
        {
            if !out.contains(&e.path) {
                out.push(e.path.clone());
            }
        }
    }
    out
}

/// The libssl libraries the dynamic linker would load on this host, from `cache`
/// (normally `/etc/ld.so.cache`), each canonicalised (symlinks resolved) and deduplicated.
pub fn find_libssl(cache: &Path) -> std::io::Result<Vec<PathBuf>> {
    let bytes = std::fs::read(cache)?;
    let mut out: Vec<PathBuf> = Vec::new();
    for p in libssl_paths(&parse(&bytes)) {
        let real = std::fs::canonicalize(&p).unwrap_or(p);
        if !out.contains(&real) {
            out.push(real);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new-format cache with the given (flags, soname, path) entries.
    fn cache(entries: &[(u32, &str, &str)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let strings_at = NEW_HEADER + entries.len() * NEW_ENTRY;
        let mut table = Vec::new();
        for (flags, key, value) in entries {
            let k = strings_at + strings.len();
            strings.extend_from_slice(key.as_bytes());
            strings.push(0);
            let v = strings_at + strings.len();
            strings.extend_from_slice(value.as_bytes());
            strings.push(0);
            table.extend_from_slice(&flags.to_ne_bytes());
            table.extend_from_slice(&(k as u32).to_ne_bytes());
            table.extend_from_slice(&(v as u32).to_ne_bytes());
            table.extend_from_slice(&[0u8; 12]);
        }
        let mut b = NEW_MAGIC.to_vec();
        b.extend_from_slice(&(entries.len() as u32).to_ne_bytes());
        b.extend_from_slice(&(strings.len() as u32).to_ne_bytes());
        b.resize(NEW_HEADER, 0);
        b.extend_from_slice(&table);
        b.extend_from_slice(&strings);
        b
    }

    #[test]
    fn finds_native_libssl_in_cache_order() {
        let native = if cfg!(target_arch = "aarch64") {
            0x0a03
        } else {
            0x0303
        };
        let b = cache(&[
            (0x0003, "libssl.so.3", "/usr/lib32/libssl.so.3"), // 32-bit: skipped on x86_64
            (native, "libssl3.so", "/lib/libssl3.so"),         // NSS, not OpenSSL
            (native, "libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3"),
            (native, "libssl.so.1.1", "/opt/old/libssl.so.1.1"),
            (native, "libssl.so.3", "/second/libssl.so.3"),
        ]);
        let entries = parse(&b);
        assert_eq!(entries.len(), 5);
        let paths = libssl_paths(&entries);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                paths,
                vec![
                    PathBuf::from("/lib/x86_64-linux-gnu/libssl.so.3"),
                    PathBuf::from("/opt/old/libssl.so.1.1")
                ]
            );
        }
    }

    #[test]
    fn old_format_prefix_is_skipped() {
        let new = cache(&[(0x0303, "libssl.so.3", "/x/libssl.so.3")]);
        let mut b = OLD_MAGIC.to_vec();
        b.push(0);
        b.extend_from_slice(&1u32.to_ne_bytes());
        b.extend_from_slice(&[0u8; OLD_ENTRY]);
        while b.len() % 8 != 0 {
            b.push(0);
        }
        b.extend_from_slice(&new);
        assert_eq!(parse(&b).len(), 1);
        assert_eq!(parse(&b)[0].path, PathBuf::from("/x/libssl.so.3"));
    }

    #[test]
    fn damaged_caches_give_fewer_entries_never_panic() {
        let b = cache(&[
            (0x0303, "libssl.so.3", "/x/libssl.so.3"),
            (0x0303, "libcrypto.so.3", "/x/libcrypto.so.3"),
        ]);
        for cut in 0..b.len() {
            let e = parse(&b[..cut]);
            assert!(e.len() <= 2);
        }
        // Offsets pointing anywhere, a huge count.
        let mut evil = b.clone();
        evil[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
        evil[NEW_HEADER + 4..NEW_HEADER + 8].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(parse(&evil).len() <= 1);
        assert!(parse(b"").is_empty());
        assert!(parse(b"ld.so-1.7.0\0\xff\xff\xff\xff").is_empty());
    }

    /// The host's real cache, when it is there: libssl found matches what `ldconfig -p` says.
    #[test]
    fn host_cache_agrees_with_ldconfig() {
        let Ok(bytes) = std::fs::read("/etc/ld.so.cache") else {
            eprintln!("skipped: no /etc/ld.so.cache");
            return;
        };
        let Ok(out) = std::process::Command::new("ldconfig").arg("-p").output() else {
            eprintln!("skipped: no ldconfig");
            return;
        };
        let listing = String::from_utf8_lossy(&out.stdout);
        let entries = parse(&bytes);
        assert!(!entries.is_empty(), "a real cache has entries");
        // Every entry ldconfig prints is one we parsed (same soname and path).
        let mut checked = 0;
        for line in listing.lines().skip(1) {
            let Some((left, path)) = line.trim().split_once(" => ") else {
                continue;
            };
            let soname = left.split(' ').next().unwrap_or("");
            assert!(
                entries
                    .iter()
                    .any(|e| e.soname == soname && e.path == Path::new(path)),
                "ldconfig lists {soname} => {path}, the parser did not"
            );
            checked += 1;
        }
        assert_eq!(checked, entries.len());
        for p in libssl_paths(&entries) {
            assert!(listing.contains(&*p.to_string_lossy()));
        }
    }
}
