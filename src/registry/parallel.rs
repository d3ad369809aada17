//! Blob transfers on a few threads at once.

use std::sync::Mutex;

/// Runs `work` on every item with at most `threads` threads. After the
/// first failure no thread starts another item; that failure is returned.
pub fn for_each_parallel<T: Sync, E: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let queue = Mutex::new(items.iter());
    let failure: Mutex<Option<E>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(items.len()) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some(item) = next else { break };
                    if failure.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                        break;
                    }
                    if let Err(e) = work(item) {
                        failure
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_item_runs_once_and_the_failure_is_returned() {
        let seen = AtomicUsize::new(0);
        let items: Vec<usize> = (0..20).collect();
        for_each_parallel(&items, 4, |_| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok::<(), String>(())
        })
        .unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 20);
        let result = for_each_parallel(&items, 4, |i| if *i == 3 { Err(*i) } else { Ok(()) });
        assert_eq!(result, Err(3));
    }
}
