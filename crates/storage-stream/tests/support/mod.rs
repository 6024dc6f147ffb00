//! Test doubles: a recording store with the id-dedup semantics of every backend, a wrapper that
//! injects faults (fails N times writing nothing, writes then loses the acknowledgement —
//! an in-doubt error —, blocks, is slow, fails permanently), and
//! a `tracing` subscriber that captures events.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test crate that includes this module uses a different part of it"
)]

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use hotplex_storage_core::{
    ChatAppMessage, Result, StorageError, StoreReceipt, ValidationLimits, WriteOnlyStore,
    prepare_message, validate_message_with,
};
use hotplex_storage_stream::{StreamConfig, StreamMessageStore};
use tokio::sync::{Notify, watch};

/// A day: longer than any test runs.
pub const DAY: Duration = Duration::from_hours(24);

/// Long timeout and flush interval: nothing expires unless a test advances time on purpose.
pub fn cfg() -> StreamConfig {
    StreamConfig {
        timeout: DAY,
        flush_interval: DAY,
        ..StreamConfig::default()
    }
}

/// A stream store over a fresh [`FaultyStore`].
pub fn setup(config: StreamConfig) -> (Arc<FaultyStore>, StreamMessageStore) {
    let inner = FaultyStore::new();
    let streams = StreamMessageStore::new(inner.clone(), config).unwrap();
    (inner, streams)
}

/// Keeps every stored row; an id stored twice is `AlreadyStored` (the contract of every
/// backend). `store_batch` is all-or-nothing.
#[derive(Default)]
pub struct RecordingStore {
    rows: Mutex<(Vec<ChatAppMessage>, HashSet<String>)>,
}

impl RecordingStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn rows(&self) -> Vec<ChatAppMessage> {
        self.rows.lock().unwrap().0.clone()
    }

    pub fn len(&self) -> usize {
        self.rows.lock().unwrap().0.len()
    }

    pub fn contents(&self) -> Vec<String> {
        self.rows().into_iter().map(|m| m.content).collect()
    }

    /// Rows whose `metadata.stream_status` is `status`.
    pub fn with_status(&self, status: &str) -> Vec<ChatAppMessage> {
        self.rows()
            .into_iter()
            .filter(|m| m.metadata.get("stream_status").and_then(|v| v.as_str()) == Some(status))
            .collect()
    }

    fn write(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        let row = prepare_message(msg, &ValidationLimits::default(), Utc::now())?;
        let mut guard = self.rows.lock().unwrap();
        let (rows, ids) = &mut *guard;
        if !ids.insert(row.id.clone()) {
            return Ok(StoreReceipt::already_stored(row.id));
        }
        let id = row.id.clone();
        let mut row = row;
        row.seq = i64::try_from(rows.len()).unwrap() + 1;
        rows.push(row);
        Ok(StoreReceipt::stored(id))
    }

    fn write_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        for m in msgs {
            hotplex_storage_core::validate_message(m)?;
        }
        msgs.iter().map(|m| self.write(m)).collect()
    }
}

#[async_trait]
impl WriteOnlyStore for RecordingStore {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.write(msg)
    }
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.write(msg)
    }
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        self.write_batch(msgs)
    }
}

/// Wraps a [`RecordingStore`] and injects faults, each configurable at run time.
pub struct FaultyStore {
    pub recorder: Arc<RecordingStore>,
    calls: AtomicU64,
    fail_before: AtomicUsize,
    fail_after: AtomicUsize,
    permanent: AtomicBool,
    then_permanent: AtomicBool,
    delay_ms: AtomicU64,
    gate: watch::Sender<bool>,
    entered: AtomicU64,
    entered_changed: Notify,
    random: Mutex<Option<RandomFaults>>,
    permanent_left: AtomicUsize,
    injected: Mutex<InjectedFaults>,
}

/// Faults drawn at random for every call, from a seeded generator (deterministic on a
/// single-threaded runtime). Each rate is in percent of calls.
#[derive(Debug, Clone)]
pub struct RandomFaults {
    /// The generator's state (a 64-bit LCG).
    pub state: u64,
    /// Transient failure, nothing written.
    pub transient_pct: u64,
    /// Written, then the acknowledgement is lost (in doubt).
    pub lost_ack_pct: u64,
    /// Written, acknowledgement lost, then the next `permanent_calls` calls fail permanently.
    pub then_permanent_pct: u64,
    /// How many calls fail permanently after a "transient then permanent" fault.
    pub permanent_calls: usize,
}

impl RandomFaults {
    fn draw(&mut self) -> u64 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.state >> 33) % 100
    }
}

/// Faults injected so far, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InjectedFaults {
    pub transient: u64,
    pub lost_ack: u64,
    pub then_permanent: u64,
    pub permanent: u64,
}

impl FaultyStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            recorder: RecordingStore::new(),
            calls: AtomicU64::new(0),
            fail_before: AtomicUsize::new(0),
            fail_after: AtomicUsize::new(0),
            permanent: AtomicBool::new(false),
            then_permanent: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            gate: watch::channel(false).0,
            entered: AtomicU64::new(0),
            entered_changed: Notify::new(),
            random: Mutex::new(None),
            permanent_left: AtomicUsize::new(0),
            injected: Mutex::new(InjectedFaults::default()),
        })
    }

    /// The next `n` calls fail with a transient error and write nothing.
    pub fn fail_next(&self, n: usize) {
        self.fail_before.store(n, Ordering::SeqCst);
    }

    /// The next `n` calls write, then report a lost acknowledgement: an in-doubt connection
    /// error (`StorageError::in_doubt`, transient, `may_have_landed()`).
    pub fn fail_after_write_next(&self, n: usize) {
        self.fail_after.store(n, Ordering::SeqCst);
    }

    /// The next lost acknowledgement ([`fail_after_write_next`](Self::fail_after_write_next))
    /// turns on permanent failures: "transient then permanent" across a retry.
    pub fn then_fail_permanently(&self) {
        self.then_permanent.store(true, Ordering::SeqCst);
    }

    /// Every call fails with a permanent error until set back.
    pub fn set_permanent_failure(&self, on: bool) {
        self.permanent.store(on, Ordering::SeqCst);
    }

    /// Every call sleeps this long (tokio time) before doing anything.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(u64::try_from(delay.as_millis()).unwrap(), Ordering::SeqCst);
    }

    /// Calls block on entry until [`release`](Self::release).
    pub fn block(&self) {
        self.gate.send_replace(true);
    }

    pub fn release(&self) {
        self.gate.send_replace(false);
    }

    /// Waits until `n` calls have entered the store in total.
    pub async fn wait_entered(&self, n: u64) {
        loop {
            let notified = self.entered_changed.notified();
            if self.entered.load(Ordering::SeqCst) >= n {
                return;
            }
            notified.await;
        }
    }

    /// Every later call draws a fault from `faults` (`None`: no random faults; pending
    /// permanent failures end too).
    pub fn set_random_faults(&self, faults: Option<RandomFaults>) {
        if faults.is_none() {
            self.permanent_left.store(0, Ordering::SeqCst);
        }
        *self.random.lock().unwrap() = faults;
    }

    /// The random faults injected so far.
    pub fn injected(&self) -> InjectedFaults {
        *self.injected.lock().unwrap()
    }

    /// The fault drawn for this call: 0 none, 1 transient, 2 lost ack, 3 then permanent.
    fn random_fault(&self) -> u8 {
        let mut random = self.random.lock().unwrap();
        let Some(faults) = random.as_mut() else {
            return 0;
        };
        let n = faults.draw();
        let mut injected = self.injected.lock().unwrap();
        if n < faults.transient_pct {
            injected.transient += 1;
            1
        } else if n < faults.transient_pct + faults.lost_ack_pct {
            injected.lost_ack += 1;
            2
        } else if n < faults.transient_pct + faults.lost_ack_pct + faults.then_permanent_pct {
            injected.then_permanent += 1;
            self.permanent_left
                .store(faults.permanent_calls, Ordering::SeqCst);
            3
        } else {
            0
        }
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn rows(&self) -> Vec<ChatAppMessage> {
        self.recorder.rows()
    }

    fn take(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    async fn call<T>(&self, write: impl FnOnce() -> Result<T>) -> Result<T> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.entered.fetch_add(1, Ordering::SeqCst);
        self.entered_changed.notify_waiters();
        let mut gate = self.gate.subscribe();
        gate.wait_for(|blocked| !blocked).await.unwrap();
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.permanent.load(Ordering::SeqCst) {
            return Err(StorageError::query("store", "injected permanent failure"));
        }
        if Self::take(&self.permanent_left) {
            self.injected.lock().unwrap().permanent += 1;
            return Err(StorageError::query("store", "injected permanent failure"));
        }
        let random = self.random_fault();
        if Self::take(&self.fail_before) || random == 1 {
            return Err(StorageError::connection("injected transient failure"));
        }
        let result = write()?;
        if random >= 2 {
            let lost = StorageError::connection("injected lost acknowledgement");
            return Err(StorageError::in_doubt(lost));
        }
        if Self::take(&self.fail_after) {
            if self.then_permanent.swap(false, Ordering::SeqCst) {
                self.permanent.store(true, Ordering::SeqCst);
            }
            let lost = StorageError::connection("injected lost acknowledgement");
            return Err(StorageError::in_doubt(lost));
        }
        Ok(result)
    }
}

#[async_trait]
impl WriteOnlyStore for FaultyStore {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.call(|| self.recorder.write(msg)).await
    }
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.call(|| self.recorder.write(msg)).await
    }
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        self.call(|| self.recorder.write_batch(msgs)).await
    }
}

/// A [`RecordingStore`] behind stricter [`ValidationLimits`] than the stream store's: stands
/// for a backend whose limits are smaller than the ones the stream store was configured with.
pub struct StrictStore {
    pub recorder: Arc<RecordingStore>,
    limits: ValidationLimits,
}

impl StrictStore {
    pub fn new(limits: ValidationLimits) -> Arc<Self> {
        Arc::new(Self {
            recorder: RecordingStore::new(),
            limits,
        })
    }

    pub fn rows(&self) -> Vec<ChatAppMessage> {
        self.recorder.rows()
    }

    fn write(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        validate_message_with(msg, &self.limits)?;
        self.recorder.write(msg)
    }
}

#[async_trait]
impl WriteOnlyStore for StrictStore {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.write(msg)
    }
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.write(msg)
    }
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        msgs.iter().map(|m| self.write(m)).collect()
    }
}

/// One captured `tracing` event.
#[derive(Debug, Clone)]
pub struct CapturedEvent {
    pub level: tracing::Level,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

/// Records the `tracing` events of the current thread while installed.
///
/// One global subscriber (set once per test binary) routes each event to the capture installed
/// on the emitting thread. Thread-local dispatchers would race on tracing's global callsite
/// interest cache when tests run in parallel; a single global dispatcher does not.
#[derive(Clone, Default)]
pub struct Capture {
    events: Arc<Mutex<Vec<CapturedEvent>>>,
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<Capture>> = const { std::cell::RefCell::new(None) };
}

/// Uninstalls the capture of this thread when dropped.
pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

impl Capture {
    /// Captures the events of this thread (use a current-thread runtime) until the guard drops.
    pub fn install() -> (Self, CaptureGuard) {
        static ROUTER: std::sync::Once = std::sync::Once::new();
        ROUTER.call_once(|| {
            // Fails only if another global subscriber exists, which these tests never set.
            let _ = tracing::subscriber::set_global_default(Router);
        });
        let capture = Self::default();
        CURRENT.with(|c| *c.borrow_mut() = Some(capture.clone()));
        (capture, CaptureGuard(()))
    }

    pub fn events(&self) -> Vec<CapturedEvent> {
        self.events.lock().unwrap().clone()
    }

    pub fn matching(&self, text: &str) -> Vec<CapturedEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.message.contains(text))
            .collect()
    }
}

struct Visitor<'a>(&'a mut CapturedEvent);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.0.message = text;
        } else {
            self.0.fields.insert(field.name().to_owned(), text);
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0.message);
        } else {
            self.0
                .fields
                .insert(field.name().to_owned(), value.to_owned());
        }
    }
}

struct Router;

impl tracing::Subscriber for Router {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::always()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let Some(capture) = CURRENT.with(|c| c.borrow().clone()) else {
            return;
        };
        let mut captured = CapturedEvent {
            level: *event.metadata().level(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut Visitor(&mut captured));
        capture.events.lock().unwrap().push(captured);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A template with every session field set.
pub fn template(session: &str) -> ChatAppMessage {
    ChatAppMessage::bot(session, "")
        .with_platform("slack")
        .with_user("U1")
        .with_bot_user("B1")
        .with_channel("C1")
        .with_thread("T1")
        .with_provider("claude-code", "p-1")
        .with_metadata_entry("model", "test")
}

pub fn status(msg: &ChatAppMessage) -> &str {
    msg.metadata
        .get("stream_status")
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

pub fn meta<'a>(msg: &'a ChatAppMessage, key: &str) -> &'a serde_json::Value {
    msg.metadata.get(key).unwrap_or(&serde_json::Value::Null)
}
