//! Shared by the `tests/fuzz_corpus.rs` of wire, capture and engine (included with
//! `#[path]`): replaying a target's committed corpus and regressions, and where to write
//! seeds for a fuzzing run (`HTTPTOP_FUZZ_SEEDS`, see `fuzz/README.md`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `fuzz/` of the repository, from a crate two levels below it.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every file of `fuzz/<kind>/<target>/`, sorted.
fn files(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).expect("corpus file");
            (p, b)
        })
        .collect();
    out.sort();
    out
}

/// Runs `f` on every input of the corpus (which must not be empty) and the regressions
/// of `target`.
pub fn replay(target: &str, f: impl Fn(&[u8])) {
    let corpus = files("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target} is empty or missing"
    );
    for (path, bytes) in corpus.into_iter().chain(files("regressions", target)) {
        eprintln!("{}", path.display());
        f(&bytes);
    }
}

/// `$HTTPTOP_FUZZ_SEEDS/<target>`, created, when seeds are asked for.
pub fn seeds_dir(target: &str) -> Option<PathBuf> {
    let dir = Path::new(&std::env::var_os("HTTPTOP_FUZZ_SEEDS")?).join(target);
    std::fs::create_dir_all(&dir).expect("seed directory");
    Some(dir)
}
