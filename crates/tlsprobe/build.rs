//! Compiles `bpf/tlsprobe.bpf.c` to a BPF ELF object with clang (Debian: `clang`, and
//! `libbpf-dev` for `<bpf/bpf_helpers.h>`). The object is embedded in the crate by
//! `include_bytes!`; no kernel BTF is needed at build time (the C source declares the few
//! kernel fields it reads with CO-RE attributes, relocated at load time).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "bpf/tlsprobe.bpf.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("tlsprobe.bpf.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    // bpf_tracing.h's PT_REGS_* macros need the target architecture; <asm/...> headers live
    // under the multiarch include directory.
    let (target_arch, multiarch) = match arch.as_str() {
        "x86_64" => ("x86", "x86_64-linux-gnu"),
        "aarch64" => ("arm64", "aarch64-linux-gnu"),
        "riscv64" => ("riscv", "riscv64-linux-gnu"),
        "s390x" => ("s390", "s390x-linux-gnu"),
        "powerpc64" => ("powerpc", "powerpc64le-linux-gnu"),
        other => panic!("httptop-tlsprobe: no BPF build settings for target arch {other:?}"),
    };
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-D__TARGET_ARCH_{target_arch}"))
        .arg(format!("-I/usr/include/{multiarch}"))
        .args(["-c", src, "-o"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "httptop-tlsprobe: `{clang}` failed ({s}) compiling {src}; it needs the BPF headers: \
             apt-get install clang libbpf-dev"
        ),
        Err(e) => panic!(
            "httptop-tlsprobe: cannot run `{clang}` ({e}): the eBPF probe is compiled by clang; \
             apt-get install clang libbpf-dev (or set CLANG=/path/to/clang)"
        ),
    }
}
