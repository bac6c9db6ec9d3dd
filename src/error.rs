//! How errors reach the operator: one line, causes joined, repeats left out; and the exit
//! codes besides 0 and 1.

/// A model the gate did not publish: a result, not a fault, and not worth retrying.
pub const EXIT_GATE_FAILED: u8 = 3;

/// An error and its causes on one line, leaving out causes whose text the message before
/// already contains (object_store and DataFusion errors repeat their sources).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(text.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    #[test]
    fn causes_are_joined_once() {
        let e = Err::<(), _>(anyhow::anyhow!("disk full"))
            .context("cannot write x: disk full")
            .context("job heat")
            .unwrap_err();
        assert_eq!(
            super::error_chain(&e),
            "job heat: cannot write x: disk full"
        );
    }
}
