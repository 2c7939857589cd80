//! Fault isolation of the items a stage loops over (recordings, products): a panic inside one
//! item's work becomes that item's failure, with the panic's message as its reason, and the
//! other items go on. Panics are bugs, never an input the code expects; this keeps a bug in
//! one file's path from losing a whole unit.
//!
//! Tests poison chosen items through [`POISON_ENV`]: the ids listed there (comma-separated)
//! panic inside their work, so that the isolation itself is tested end to end.

/// Environment variable with the item ids whose work panics (tests only).
pub const POISON_ENV: &str = "SOUNDSCAPE_TEST_PANIC_IDS";

/// Runs `work` for item `id`; a panic becomes `Err(message)`.
pub fn run_item<T>(id: &str, work: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poison_point(id);
        work()
    }))
    .map_err(|payload| panic_message(payload.as_ref()))
}

/// The reason written for an item whose work panicked.
pub fn panic_reason(subject: &str, message: &str) -> String {
    format!("{subject}: internal error: {message} (a bug: please report it with this file)")
}

/// Panics when `id` is listed in [`POISON_ENV`] (for work that [`run_item`] cannot wrap,
/// such as a future that is caught by the caller).
pub fn poison_point(id: &str) {
    if let Ok(ids) = std::env::var(POISON_ENV) {
        if ids.split(',').any(|p| p == id) {
            panic!("test hook {POISON_ENV}: poisoned item {id}");
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic without a message".into()
    }
}

/// Runs the work of one recording so that a panic inside it fails that recording alone: the
/// outcome says `failed` with the panic's message, and there is no result.
pub fn run_recording<T>(
    rec: &crate::Recording,
    work: impl FnOnce() -> (crate::Outcome, Option<T>),
) -> (crate::Outcome, Option<T>) {
    let t0 = std::time::Instant::now();
    run_item(&rec.id, work).unwrap_or_else(|message| {
        let mut o = crate::Outcome::start(rec);
        o.status = crate::Status::Failed;
        o.reason = Some(panic_reason(&rec.path.display().to_string(), &message));
        o.seconds = t0.elapsed().as_secs_f64();
        tracing::error!(recording = %rec.id, "{}", o.reason.as_deref().unwrap_or_default());
        (o, None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_items_error() {
        assert_eq!(run_item("a", || 7), Ok(7));
        let e = run_item("b", || -> u8 { panic!("index out of bounds: {}", 3) }).unwrap_err();
        assert_eq!(e, "index out of bounds: 3");
        let e = run_item("c", || -> u8 { std::panic::panic_any(5u8) }).unwrap_err();
        assert_eq!(e, "panic without a message");
    }
}
