//! SIGINT and SIGTERM. A command stops cleanly when one arrives: work in flight is dropped
//! (staged partitions are abandoned, never committed), a workflow records its state as
//! interrupted and releases its lock, and the process exits with 130 (SIGINT) or 143
//! (SIGTERM), as shells and schedulers expect.

use std::sync::OnceLock;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// The error a command stopped by a signal ends with.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {}; nothing in flight was committed", .0.name())]
pub struct Interrupted(pub Signal);

static RECEIVED: OnceLock<watch::Receiver<Option<Signal>>> = OnceLock::new();

/// Starts listening for SIGINT and SIGTERM (once per process, inside the runtime).
pub fn install() -> std::io::Result<()> {
    if RECEIVED.get().is_some() {
        return Ok(());
    }
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (tx, rx) = watch::channel(None);
    if RECEIVED.set(rx).is_err() {
        return Ok(());
    }
    tokio::spawn(async move {
        loop {
            let got = tokio::select! {
                _ = interrupt.recv() => Signal::Interrupt,
                _ = terminate.recv() => Signal::Terminate,
            };
            tracing::warn!("received {}: stopping", got.name());
            let _ = tx.send(Some(got));
        }
    });
    Ok(())
}

/// The first signal received so far, if any.
pub fn pending() -> Option<Signal> {
    RECEIVED.get().and_then(|rx| *rx.borrow())
}

/// Resolves when a signal arrives (never, when none is installed).
pub async fn received() -> Signal {
    let Some(rx) = RECEIVED.get() else {
        return std::future::pending().await;
    };
    let mut rx = rx.clone();
    loop {
        if let Some(s) = *rx.borrow_and_update() {
            return s;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}
