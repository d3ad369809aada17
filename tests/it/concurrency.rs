//! Two builds of one spec at once, sharing a cache: both succeed with the
//! same digest, and the shared cache stays whole.

use std::time::Duration;

use crate::crash::{Fixture, printed_digest};
use crate::support::check::{run_bounded, verify_cache, verify_layout};

#[test]
fn two_builds_sharing_a_cache_agree() {
    let fixture = Fixture::new(6 << 20, 1 << 20);
    let work = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for round in 0..3 {
        // A cold cache each round, so that both builds do every step at once.
        let cache = work.path().join(format!("cache-{round}"));
        let runs: Vec<_> = (0..2)
            .map(|n| {
                let out = work.path().join(format!("out-{round}-{n}"));
                let mut command = fixture.command(&cache, &out, &[]);
                std::thread::spawn(move || {
                    (run_bounded(&mut command, Duration::from_secs(300)), out)
                })
            })
            .collect();
        for run in runs {
            let (output, out) = run.join().unwrap();
            assert!(
                output.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            verify_layout(&out);
            digests.push(printed_digest(&output.stdout));
        }
        verify_cache(&cache);
    }
    digests.dedup();
    assert_eq!(digests.len(), 1, "builds disagree: {digests:?}");
}
