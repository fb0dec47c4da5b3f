//! Raw bytes decoded as a ResetRequest or StepRequest and handled by the real service code,
//! in process. The harness (and what the first byte selects) is
//! `medgym_server::harness::Harness`; `crates/server/tests/harness.rs` runs it on stable.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use medgym_server::harness::Harness;

fn harness() -> &'static Mutex<Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| {
        let world = medgym_env::World::embedded().expect("embedded knowledge");
        Mutex::new(Harness::new(Arc::new(world)))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut h = harness().lock().unwrap_or_else(|e| e.into_inner());
    h.run(data);
});
