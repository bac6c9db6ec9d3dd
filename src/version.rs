//! What code this is: the crate version, recorded in every manifest and Parquet footer.

pub const LIVEREC_VERSION: &str = env!("CARGO_PKG_VERSION");
