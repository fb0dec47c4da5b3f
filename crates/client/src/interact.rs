//! Interact routed over the replicas: one caller-facing envelope stream, one Interact stream
//! per replica underneath.
//!
//! A router task owns all the routing state, so nothing is locked per envelope. It renames
//! each envelope's `id` to a private tag (callers may reuse ids; tags never collide), sends
//! it to the lane (replica stream) it belongs to and restores the caller's id on the answer.
//! Every channel is bounded: a caller that stops reading stalls the lanes, which stop
//! reading their streams, which stops the servers (their window is full).

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::pb::environment_client::EnvironmentClient;
use crate::{ClientError, Inner, pb, replica_of, status_text, transport_failure};
use pb::env_request::Request as Rq;
use pb::env_response::Response as Rs;

/// Envelopes (or answers) each channel of a routed stream holds before its writer waits.
const BUFFER: usize = 64;

/// The sending half of a routed Interact stream; cheap to clone. The stream's requests end
/// when every clone is dropped; the answers still outstanding then arrive before the
/// receiver ends.
#[derive(Debug, Clone)]
pub struct InteractSender {
    tx: mpsc::Sender<pb::EnvRequest>,
}

impl InteractSender {
    /// Queues one envelope; waits while the stream is full (back-pressure). Fails only once
    /// the stream has ended, that is once its [`InteractReceiver`] was dropped.
    pub async fn send(&self, request: pb::EnvRequest) -> Result<(), ClientError> {
        self.tx
            .send(request)
            .await
            .map_err(|_| ClientError::StreamClosed)
    }
}

/// The receiving half of a routed Interact stream: the answers of every replica, merged.
/// Each envelope gets exactly one answer carrying its `id`; one session's answers arrive in
/// request order, different sessions' in any order. Also a [`tokio_stream::Stream`].
#[derive(Debug)]
pub struct InteractReceiver {
    rx: mpsc::Receiver<pb::EnvResponse>,
}

impl InteractReceiver {
    /// The next answer; `None` once the senders are dropped and every answer was delivered.
    pub async fn recv(&mut self) -> Option<pb::EnvResponse> {
        self.rx.recv().await
    }
}

impl tokio_stream::Stream for InteractReceiver {
    type Item = pb::EnvResponse;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Starts the router of a new routed stream.
pub(crate) fn open(inner: Arc<Inner>) -> (InteractSender, InteractReceiver) {
    let (tx, requests) = mpsc::channel(BUFFER);
    let (out, rx) = mpsc::channel(BUFFER);
    let (events_tx, events) = mpsc::channel(BUFFER);
    let router = Router {
        inner,
        out,
        events_tx: Some(events_tx),
        lanes: HashMap::new(),
        by_replica: HashMap::new(),
        pending: HashMap::new(),
        next_lane: 0,
        next_tag: 0,
    };
    tokio::spawn(router.run(requests, events));
    (InteractSender { tx }, InteractReceiver { rx })
}

/// What the lanes tell the router.
enum Event {
    Answer(u64, Box<pb::EnvResponse>),
    /// The lane's stream is over; `None` if the server ended it cleanly.
    Ended(u64, Option<pb::Status>),
}

/// One replica's Interact stream, as the router sees it.
struct Lane {
    replica: String,
    /// `None` once nothing more may be sent: the caller's requests ended, or the stream broke
    /// (envelopes for it then wait in `outstanding` for the lane's verdict).
    tx: Option<mpsc::Sender<pb::EnvRequest>>,
    /// Tags sent (or meant) to this lane and not answered, in send order.
    outstanding: BTreeSet<u64>,
}

/// An envelope on its way: the caller's id, and whether it is a reset (a reset on a lost
/// replica is UNAVAILABLE, to be tried again, not NOT_FOUND).
struct Pending {
    id: u64,
    reset: bool,
}

/// A reservation in a lane's channel that the router waits for while still serving answers.
type Reserve = Pin<
    Box<
        dyn Future<Output = Result<mpsc::OwnedPermit<pb::EnvRequest>, mpsc::error::SendError<()>>>
            + Send,
    >,
>;

/// An envelope waiting for room in its lane.
struct Held {
    lane: u64,
    tag: u64,
    request: pb::EnvRequest,
    reserve: Reserve,
}

/// The caller dropped the receiver: the routed stream is over.
struct Gone;

struct Router {
    inner: Arc<Inner>,
    out: mpsc::Sender<pb::EnvResponse>,
    /// Given to each new lane; dropped when the caller's requests end, so `events` ends once
    /// the last lane has.
    events_tx: Option<mpsc::Sender<Event>>,
    lanes: HashMap<u64, Lane>,
    /// The lane open to each replica.
    by_replica: HashMap<String, u64>,
    pending: HashMap<u64, Pending>,
    next_lane: u64,
    next_tag: u64,
}

impl Router {
    async fn run(
        mut self,
        mut requests: mpsc::Receiver<pb::EnvRequest>,
        mut events: mpsc::Receiver<Event>,
    ) {
        let mut held: Option<Held> = None;
        let mut accepting = true;
        loop {
            let idle = held.is_none();
            // Waiting for room in one lane must not stop answers: that lane may be full
            // because its server waits for us to read (see the module docs).
            let reserved = async {
                match held.as_mut() {
                    Some(h) => h.reserve.as_mut().await,
                    None => std::future::pending().await,
                }
            };
            let step = tokio::select! {
                biased;
                event = events.recv() => match event {
                    Some(event) => self.on_event(event, &mut held).await,
                    None => return,
                },
                permit = reserved => {
                    let h = held.take().expect("reserved only while an envelope is held");
                    self.deliver(h, permit.ok());
                    Ok(())
                }
                request = requests.recv(), if accepting && idle => match request {
                    Some(request) => self.route(request).await.map(|h| held = h),
                    None => {
                        accepting = false;
                        self.end_requests();
                        Ok(())
                    }
                },
            };
            if step.is_err() {
                return;
            }
        }
    }

    /// The caller's requests are over: close every lane's stream (each ends once its server
    /// has answered) and stop handing out event senders.
    fn end_requests(&mut self) {
        self.events_tx = None;
        for lane in self.lanes.values_mut() {
            lane.tx = None;
        }
    }

    /// Sends `request` where it belongs, answers it at once if it can go nowhere, or returns
    /// it held if its lane is full.
    async fn route(&mut self, mut request: pb::EnvRequest) -> Result<Option<Held>, Gone> {
        let tag = self.next_tag;
        self.next_tag += 1;
        let id = request.id;
        let (lane, reset) = match &request.request {
            Some(Rq::Reset(_)) => {
                let live = self.inner.live();
                if live.is_empty() {
                    let reason = ClientError::NoReplica(self.inner.failures()).to_string();
                    return self.answer_error(id, Code::Unavailable, reason).await;
                }
                let next = self
                    .inner
                    .next
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (replica, client) = live[next % live.len()].clone();
                (self.lane_for(&replica, client), true)
            }
            Some(Rq::Step(pb::StepRequest { session_id, .. }))
            | Some(Rq::Close(pb::CloseRequest { session_id })) => {
                // A session's envelopes stay on the lane already serving its replica, even a
                // broken one: they are answered after the ones before them.
                match replica_of(session_id).and_then(|r| self.by_replica.get(r)) {
                    Some(&lane) => (lane, false),
                    None => match self.inner.owner(session_id) {
                        Ok((replica, client)) => (self.lane_for(&replica, client), false),
                        Err(e) => {
                            return self.answer_error(id, Code::NotFound, e.to_string()).await;
                        }
                    },
                }
            }
            None => {
                let reason = "the envelope has no request".to_string();
                return self.answer_error(id, Code::InvalidArgument, reason).await;
            }
        };
        self.pending.insert(tag, Pending { id, reset });
        request.id = tag;
        let Some(l) = self.lanes.get_mut(&lane) else {
            unreachable!("lanes are looked up or opened just above");
        };
        let Some(tx) = &l.tx else {
            l.outstanding.insert(tag);
            return Ok(None);
        };
        match tx.try_send(request) {
            Ok(()) => {
                l.outstanding.insert(tag);
                Ok(None)
            }
            Err(mpsc::error::TrySendError::Full(request)) => Ok(Some(Held {
                lane,
                tag,
                request,
                reserve: Box::pin(tx.clone().reserve_owned()),
            })),
            // The stream broke: the envelope waits for the lane's verdict.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                l.outstanding.insert(tag);
                l.tx = None;
                Ok(None)
            }
        }
    }

    /// Sends a held envelope into the room reserved for it (`None`: its lane's stream broke,
    /// so it waits for the lane's verdict with the others).
    fn deliver(&mut self, held: Held, permit: Option<mpsc::OwnedPermit<pb::EnvRequest>>) {
        let Some(lane) = self.lanes.get_mut(&held.lane) else {
            return;
        };
        lane.outstanding.insert(held.tag);
        match permit {
            Some(permit) => {
                permit.send(held.request);
            }
            None => lane.tx = None,
        }
    }

    /// The lane open to `replica`, opened (with its stream task) if there is none.
    fn lane_for(&mut self, replica: &str, client: EnvironmentClient<Channel>) -> u64 {
        if let Some(&key) = self.by_replica.get(replica) {
            return key;
        }
        let key = self.next_lane;
        self.next_lane += 1;
        let (tx, rx) = mpsc::channel(BUFFER);
        let events = self
            .events_tx
            .clone()
            .expect("envelopes are routed only while the caller's requests last");
        tokio::spawn(serve_lane(
            Arc::clone(&self.inner),
            key,
            replica.to_string(),
            client,
            rx,
            events,
        ));
        self.lanes.insert(
            key,
            Lane {
                replica: replica.to_string(),
                tx: Some(tx),
                outstanding: BTreeSet::new(),
            },
        );
        self.by_replica.insert(replica.to_string(), key);
        key
    }

    async fn on_event(&mut self, event: Event, held: &mut Option<Held>) -> Result<(), Gone> {
        match event {
            Event::Answer(key, mut answer) => {
                let Some(lane) = self.lanes.get_mut(&key) else {
                    return Ok(());
                };
                lane.outstanding.remove(&answer.id);
                let Some(pending) = self.pending.remove(&answer.id) else {
                    tracing::warn!(
                        replica = lane.replica,
                        tag = answer.id,
                        "answer to no envelope sent"
                    );
                    return Ok(());
                };
                // As for a unary reset: a process restarted at the same address is a new
                // replica, learnt from the session it issued.
                if let Some(Rs::Reset(r)) = &answer.response
                    && let Some(owner) = replica_of(&r.session_id)
                    && owner != lane.replica
                {
                    self.inner.rename(&lane.replica, owner);
                    // The same stream serves the new id: its sessions' envelopes must find it.
                    if self.by_replica.get(&lane.replica) == Some(&key) {
                        self.by_replica.remove(&lane.replica);
                    }
                    self.by_replica.insert(owner.to_string(), key);
                    lane.replica = owner.to_string();
                }
                answer.id = pending.id;
                self.out.send(*answer).await.map_err(|_| Gone)
            }
            Event::Ended(key, error) => {
                let Some(lane) = self.lanes.remove(&key) else {
                    return Ok(());
                };
                if self.by_replica.get(&lane.replica) == Some(&key) {
                    self.by_replica.remove(&lane.replica);
                }
                let mut outstanding = lane.outstanding;
                // An envelope still waiting for room in this lane will never get it.
                if held.as_ref().is_some_and(|h| h.lane == key) {
                    outstanding.insert(held.take().map_or(0, |h| h.tag));
                }
                let error = error.unwrap_or_else(|| pb::Status {
                    code: Code::Unavailable as i32,
                    message: format!(
                        "replica {} ended the Interact stream before answering",
                        lane.replica
                    ),
                });
                for tag in outstanding {
                    let Some(pending) = self.pending.remove(&tag) else {
                        continue;
                    };
                    let mut status = error.clone();
                    if pending.reset && status.code == Code::NotFound as i32 {
                        status.code = Code::Unavailable as i32;
                    }
                    let answer = pb::EnvResponse {
                        id: pending.id,
                        response: Some(Rs::Error(status)),
                    };
                    self.out.send(answer).await.map_err(|_| Gone)?;
                }
                Ok(())
            }
        }
    }

    async fn answer_error(
        &mut self,
        id: u64,
        code: Code,
        message: String,
    ) -> Result<Option<Held>, Gone> {
        let answer = pb::EnvResponse {
            id,
            response: Some(Rs::Error(pb::Status {
                code: code as i32,
                message,
            })),
        };
        self.out.send(answer).await.map_err(|_| Gone)?;
        Ok(None)
    }
}

/// Runs one replica's Interact stream: forwards its answers to the router, then reports how
/// it ended. A stream that broke on the way makes the replica's sessions NOT_FOUND only if
/// the replica no longer answers as itself (as for unary calls), else its outstanding
/// envelopes are UNAVAILABLE and may be sent again.
async fn serve_lane(
    inner: Arc<Inner>,
    key: u64,
    replica: String,
    mut client: EnvironmentClient<Channel>,
    requests: mpsc::Receiver<pb::EnvRequest>,
    events: mpsc::Sender<Event>,
) {
    let request = inner.requester.authorized(ReceiverStream::new(requests));
    let failure = match client.interact(request).await {
        Ok(response) => {
            let mut answers = response.into_inner();
            loop {
                match answers.message().await {
                    Ok(Some(answer)) => {
                        if events
                            .send(Event::Answer(key, Box::new(answer)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(None) => break None,
                    Err(status) => break Some(status),
                }
            }
        }
        Err(status) => Some(status),
    };
    let verdict = match failure {
        None => None,
        Some(status) if broke_on_the_way(&status) => {
            Some(match inner.after_failure(&replica, client, &status).await {
                Ok(retryable) => pb::Status {
                    code: Code::Unavailable as i32,
                    message: retryable.message().to_string(),
                },
                Err(reason) => pb::Status {
                    code: Code::NotFound as i32,
                    message: reason,
                },
            })
        }
        Some(status) => Some(status_of(&status)),
    };
    let _ = events.send(Event::Ended(key, verdict)).await;
}

/// Whether a stream failed on the way rather than in the server. Besides what unary calls
/// see, a connection cut under a streaming body fails with UNKNOWN and a hyper body error as
/// its source; a status the server sent has no source, so any source means a local failure,
/// and at worst costs one probe.
fn broke_on_the_way(s: &Status) -> bool {
    transport_failure(s) || std::error::Error::source(s).is_some()
}

fn status_of(s: &Status) -> pb::Status {
    pb::Status {
        code: s.code() as i32,
        message: status_text(s),
    }
}
