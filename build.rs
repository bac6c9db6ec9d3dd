//! Embeds the declarative project files (jobs/, sql/, workflows/) into the binary, so a
//! deployed `liverec` needs no checkout; `LIVEREC_HOME` can point at a directory to use
//! edited copies without rebuilding.

use std::fmt::Write as _;
use std::path::Path;

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, root, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("toml" | "sql")
        ) {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push(rel);
        }
    }
}

fn main() {
    // Read at run time: a build-script binary compiled for another checkout of the same
    // package (a shared CARGO_TARGET_DIR) may be reused, and `env!` would name that one.
    let root_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&root_dir);
    let mut files = Vec::new();
    for dir in ["jobs", "sql", "workflows"] {
        println!("cargo:rerun-if-changed={dir}");
        walk(&root.join(dir), root, &mut files);
    }
    let mut code = String::from("pub static FILES: &[(&str, &str)] = &[\n");
    // The contents, not `include_str!` of absolute paths: with a shared target directory the
    // generated file outlives its checkout (cargo may keep it when another clone's files are
    // older than the last build), and paths into a deleted clone then fail the build.
    for rel in files {
        let text = std::fs::read_to_string(root.join(&rel)).unwrap();
        writeln!(code, "    ({rel:?}, {text:?}),").unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("project_files.rs");
    std::fs::write(out, code).unwrap();
}
