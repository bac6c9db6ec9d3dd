//! What code this is: the crate version (recorded in every manifest and Parquet footer) and
//! the build's identity (a hash of the running executable: any rebuild with changed code —
//! a UDAF, the trainer, the writer — is another build), which workflow fingerprints include
//! so outputs follow the code that built them.

use std::sync::OnceLock;

pub const LIVEREC_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The first 16 hex digits of the SHA-256 of this process's executable (computed once).
pub fn build_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let Ok(exe) = std::env::current_exe() else {
            return format!("unknown-{LIVEREC_VERSION}");
        };
        let Ok(mut file) = std::fs::File::open(&exe) else {
            return format!("unknown-{LIVEREC_VERSION}");
        };
        let mut h = Sha256::new();
        if std::io::copy(&mut file, &mut h).is_err() {
            return format!("unknown-{LIVEREC_VERSION}");
        }
        hex::encode(&h.finalize()[..8])
    })
}
