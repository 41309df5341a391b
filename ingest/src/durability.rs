//! Waiting for the in-process normaliser without polling. The normaliser
//! publishes the next offset it has read and the next offset durable in
//! the lake on watch channels; ingest (on a blocking thread) waits on the
//! channel, woken by each change, instead of sleeping and re-checking.

use crate::normaliser::state::Watermarks;
use crate::sink::{Offsets, SinkError};
use std::time::Duration;
use tokio::sync::watch;

/// True when every offset is below the next offset the marks record.
pub fn covers(marks: &Watermarks, offsets: &Offsets) -> bool {
    offsets.iter().all(|(k, off)| marks.get(k).is_some_and(|next| *next > *off))
}

/// Blocks until `marks` cover `offsets`, the normaliser stops (its sender
/// is dropped: an error at once, not after the timeout), or `timeout`.
/// Ingest calls this from `spawn_blocking` threads, which can block on the
/// runtime; outside any runtime it checks every 10 ms instead.
pub fn wait(marks: &watch::Receiver<Watermarks>, offsets: &Offsets, timeout: Duration) -> Result<(), SinkError> {
    if covers(&marks.borrow(), offsets) {
        return Ok(());
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return crate::sink::poll_until(|| covers(&marks.borrow(), offsets), timeout);
    };
    let mut rx = marks.clone();
    let waited = handle.block_on(async { tokio::time::timeout(timeout, rx.wait_for(|m| covers(m, offsets))).await.map(|r| r.is_ok()) });
    match waited {
        Ok(true) => Ok(()),
        Ok(false) => Err(SinkError::Lake("the normaliser stopped before the events were committed".into())),
        Err(_) => Err(SinkError::LakeTimeout(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(o: i64) -> Offsets {
        Offsets::from([(("t".to_string(), 0), o)])
    }

    #[test]
    fn woken_by_the_normaliser_not_by_a_clock() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (tx, rx) = watch::channel(Watermarks::new());
        let waiter = rt.spawn_blocking(move || wait(&rx, &offsets(41), Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(50));
        tx.send_modify(|m| {
            m.insert(("t".into(), 0), 41);
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "offset 41 is not durable until the next offset is 42");
        let started = std::time::Instant::now();
        tx.send_modify(|m| {
            m.insert(("t".into(), 0), 42);
        });
        rt.block_on(waiter).unwrap().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_stopped_normaliser_is_an_error_at_once_and_a_slow_one_times_out() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (tx, rx) = watch::channel(Watermarks::new());
        let rx2 = rx.clone();
        let waiter = rt.spawn_blocking(move || wait(&rx, &offsets(0), Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(50));
        let started = std::time::Instant::now();
        drop(tx);
        let err = rt.block_on(waiter).unwrap().unwrap_err();
        assert!(err.to_string().contains("normaliser stopped"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let err = rt.block_on(rt.spawn_blocking(move || wait(&rx2, &offsets(0), Duration::from_millis(100)))).unwrap().unwrap_err();
        assert!(matches!(err, SinkError::Lake(_) | SinkError::LakeTimeout(_)), "{err}");
        // Outside any runtime: the same answer by polling.
        let (_tx, rx) = watch::channel(Watermarks::from([(("t".to_string(), 0), 1)]));
        assert!(wait(&rx, &offsets(0), Duration::from_millis(10)).is_ok());
        assert!(matches!(wait(&rx, &offsets(5), Duration::from_millis(30)), Err(SinkError::LakeTimeout(_))));
    }
}
