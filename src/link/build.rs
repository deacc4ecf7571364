//! Link layout of the release `cosmospark` executable for x86_64 Linux with glibc, where rustc
//! links with its bundled lld. Two linker options keep `serve`'s idle memory down (see
//! docs/benchmarks.md, "What holds memory at idle in `serve`"):
//! - `--symbol-ordering-file=src/link/hot-symbols.txt`: the functions `serve` runs at start and per
//!   invocation (recorded by `src/link/record-hot-symbols.sh`) are placed together at the start of
//!   the text, so they occupy a few contiguous pages instead of dozens of scattered ones;
//! - `-z pack-relative-relocs` (DT_RELR, glibc 2.36 or later): the loader reads a few KB of
//!   relocations instead of a 1.5 MB table. Only when the build machine's glibc supports it, as
//!   the executable then needs glibc 2.36 to start.
//!
//! Other targets (the musl deploy build included) and debug builds link as before.

use std::path::Path;
use std::process::Command;

const ORDER_FILE: &str = "src/link/hot-symbols.txt";

fn main() {
    println!("cargo::rerun-if-changed=src/link/build.rs");
    println!("cargo::rerun-if-changed={ORDER_FILE}");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("TARGET") != "x86_64-unknown-linux-gnu" || var("PROFILE") != "release" {
        return;
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER_FILE);
    if order.is_file() {
        println!(
            "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Symbols renamed since the file was recorded are skipped, not reported one by one.
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    if var("HOST") == var("TARGET") && host_glibc_at_least(2, 36) {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the build machine's glibc (`getconf GNU_LIBC_VERSION`: `glibc 2.36`) is at least
/// `major.minor`; false when it cannot be read.
fn host_glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(found_major), Some(found_minor)) => (found_major, found_minor) >= (major, minor),
        _ => false,
    }
}
