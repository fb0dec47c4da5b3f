//! The fuzzing harness: raw bytes decoded as a Reset or Step request and handled by the real
//! service code in process, with no network. `fuzz/` drives it under libFuzzer (nightly), and a
//! stable proptest in `tests/harness.rs` drives it in CI, so the harness cannot rot.

use std::sync::Arc;

use medgym_env::World;
use medgym_proto::v1 as pb;
use prost::Message;

use crate::clients::Caller;
use crate::{Config, ServerError, Service};

/// What one input did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The bytes are not a message of the chosen type.
    Undecodable,
    /// The request was handled and answered.
    Answered,
    /// The request was handled and refused with this gRPC code.
    Refused(tonic::Code),
}

/// A service with one live session that step inputs are aimed at, so that most of them reach
/// the environment instead of stopping at "unknown session".
#[derive(Debug)]
pub struct Harness {
    service: Service,
    session: String,
}

impl Harness {
    /// A harness over `world`, with the default configuration.
    pub fn new(world: Arc<World>) -> Self {
        let service = Service::new(world, Config::default());
        let session = Self::open(&service);
        Harness { service, session }
    }

    fn open(service: &Service) -> String {
        let reset = pb::ResetRequest {
            seed: Some(0),
            ..Default::default()
        };
        // The default reset of the embedded knowledge cannot fail; if it does, the harness is
        // broken, not the input.
        service
            .do_reset(reset, &Caller::default())
            .expect("the harness's own reset")
            .session_id
    }

    /// Handles one input. The first byte chooses what the rest is: 0 mod 3 a ResetRequest,
    /// 1 a StepRequest on the live session (its session id is replaced), 2 a StepRequest as
    /// given (usually an unknown session). Panics only if the service does.
    pub fn run(&mut self, data: &[u8]) -> Outcome {
        let Some((&selector, body)) = data.split_first() else {
            return Outcome::Undecodable;
        };
        let caller = Caller::default();
        let result: Result<(), ServerError> = match selector % 3 {
            0 => match pb::ResetRequest::decode(body) {
                Ok(r) => self.service.do_reset(r, &caller).map(|r| {
                    // Close at once, so a long run never fills the session store.
                    let _ = self.service.sessions().remove(&r.session_id);
                }),
                Err(_) => return Outcome::Undecodable,
            },
            k => match pb::StepRequest::decode(body) {
                Ok(mut r) => {
                    if k == 1 {
                        r.session_id.clone_from(&self.session);
                    }
                    let autoreset = selector & 0x80 != 0;
                    self.service.do_step(r, autoreset, &caller).map(drop)
                }
                Err(_) => return Outcome::Undecodable,
            },
        };
        // A finished episode refuses further steps: start another so later inputs reach it.
        if let Ok(s) = self.service.sessions().get(&self.session)
            && s.lock().env.done()
        {
            let _ = self.service.sessions().remove(&self.session);
            self.session = Self::open(&self.service);
        }
        match result {
            Ok(()) => Outcome::Answered,
            Err(e) => Outcome::Refused(e.code()),
        }
    }
}
