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
    for rel in files {
        let abs = root.join(&rel);
        writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("project_files.rs");
    std::fs::write(out, code).unwrap();
}
