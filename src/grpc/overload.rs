//! Load shedding by queueing delay: a call that waited too long for a worker thread after its
//! bytes arrived is answered RESOURCE_EXHAUSTED at once instead of being run.
//!
//! Why not only a concurrency limit: our calls are mostly CPU (microseconds of policy work, no
//! I/O with the in-process stores), so a call runs to completion in one poll. When the service
//! is saturated, the backlog is not calls "in flight" (the tower concurrency limit counts only
//! calls that have started, a handful at any time) but calls waiting in the runtime's queue:
//! first the connection's task, to read them, then each call's own task. Their number is
//! invisible to tower; their wait is not.
//!
//! How the wait is measured (issue 13, finding 2: the clock used to start when the connection's
//! task read the request, missing the time that task itself queued): [`ArrivalStamped`] wraps
//! each accepted connection and notes when the reactor found it readable (the wake-up that
//! queued the connection's task); the requests read in that poll are stamped with that moment
//! when hyper clones the service stack for them ([`Accepted`]), on the same thread and in the
//! same poll. The call reads the stamp when a worker finally runs it: the difference is the
//! time the call queued, connection task included. (A connection that is not wrapped, such as
//! TLS for now, stamps at the clone, as before: the failure mode is to shed less.)
//!
//! When a call is shed: a CoDel-style rule (Nichols and Jacobson, "Controlling Queue Delay",
//! ACM Queue 10(5), 2012; as in Facebook's adaptive LIFO + CoDel for RPC servers). Over each
//! window of `2 x max_queue_delay` the shortest wait is kept; if even the shortest exceeded
//! `max_queue_delay`, the queue is standing (overload) and the next window sheds every call
//! that waited longer than `max_queue_delay`. Otherwise one pause (the OS scheduling the process
//! out, a page-fault storm) that delays a handful of queued calls is not overload, and only a
//! call that waited `LENIENT_FACTOR x max_queue_delay` is shed: a closed loop of 32 callers
//! used to lose all 32 queued calls to one such pause. A call that queued past its own deadline
//! (longer than `max_queue_delay`) is shed too: it is the overload that made it late, and
//! RESOURCE_EXHAUSTED tells its caller to back off where DEADLINE_EXCEEDED would not.
//!
//! Shedding a call costs a few microseconds of HTTP/2 work instead of the full call, so the
//! backlog drains; once it has, the next window is back to lenient.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};
use tonic::codegen::http;
use tonic::transport::server::Connected;

use super::deadline;

/// Outside a standing queue, a call is shed only after this many times `max_queue_delay`.
pub const LENIENT_FACTOR: u32 = 10;

thread_local! {
    /// When the bytes the current task is reading became readable: set by [`ArrivalStamped`]
    /// when a read returns data, cleared when a read finds nothing (the poll is ending).
    static ARRIVED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The arrival of the request being accepted on this thread, else now.
fn arrival_or_now() -> Instant {
    let now = Instant::now();
    ARRIVED.with(Cell::get).filter(|at| *at <= now).unwrap_or(now)
}

/// When a request arrived, as seen by a copy of the service stack (see the module comment).
#[derive(Debug, Default)]
pub struct Accepted(Option<Instant>);

impl Clone for Accepted {
    fn clone(&self) -> Self {
        Accepted(Some(arrival_or_now()))
    }
}

impl Accepted {
    /// How long ago the request arrived; zero on the second and later calls.
    pub fn waited(&mut self) -> Duration {
        self.0.take().map_or(Duration::ZERO, |at| at.elapsed())
    }
}

/// The origin of [`nanos_since_start`]: its first use.
fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// A monotonic clock in nanoseconds, for atomics.
fn nanos_since_start(at: Instant) -> u64 {
    nanos(at.saturating_duration_since(start()))
}

/// The waker handed to the reactor for a connection's reads: notes the first wake-up since the
/// last read that returned data, then wakes the connection's task.
#[derive(Debug)]
struct StampingWaker {
    /// `nanos_since_start` of that wake-up plus one; 0 when none is pending.
    woken: AtomicU64,
    task: Mutex<Waker>,
}

impl Wake for StampingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let at = nanos_since_start(Instant::now()).saturating_add(1);
        let _ = self.woken.compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
        match self.task.lock() {
            Ok(task) => task.wake_by_ref(),
            Err(poisoned) => poisoned.into_inner().wake_by_ref(),
        }
    }
}

impl StampingWaker {
    /// When the pending wake-up happened, if one did; consumes it.
    fn take_woken(&self) -> Option<Instant> {
        let at = self.woken.swap(0, Ordering::Relaxed).checked_sub(1)?;
        start().checked_add(Duration::from_nanos(at))
    }
}

/// An accepted connection whose reads stamp when their bytes became readable (see the module
/// comment). Everything else passes through.
#[derive(Debug)]
pub struct ArrivalStamped<IO> {
    io: IO,
    stamp: Arc<StampingWaker>,
    /// `stamp` as a waker, and the task waker it currently forwards to.
    waker: Waker,
    task: Waker,
}

impl<IO> ArrivalStamped<IO> {
    pub fn new(io: IO) -> Self {
        let task = Waker::noop().clone();
        let stamp = Arc::new(StampingWaker {
            woken: AtomicU64::new(0),
            task: Mutex::new(task.clone()),
        });
        let waker = Waker::from(stamp.clone());
        ArrivalStamped { io, stamp, waker, task }
    }

    /// The stamping waker, forwarding to the task of `cx`.
    fn waker_for(&mut self, cx: &Context<'_>) -> Waker {
        if !self.task.will_wake(cx.waker()) {
            self.task = cx.waker().clone();
            match self.stamp.task.lock() {
                Ok(mut task) => *task = self.task.clone(),
                Err(poisoned) => *poisoned.into_inner() = self.task.clone(),
            }
        }
        self.waker.clone()
    }
}

impl<IO: Connected> Connected for ArrivalStamped<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ArrivalStamped<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let waker = this.waker_for(cx);
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(&mut Context::from_waker(&waker), buf);
        match &poll {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                let arrived = this.stamp.take_woken().unwrap_or_else(Instant::now);
                ARRIVED.with(|a| a.set(Some(arrived)));
            }
            Poll::Pending => ARRIVED.with(|a| a.set(None)),
            Poll::Ready(_) => {}
        }
        poll
    }
}

crate::net::forward_async_write!(ArrivalStamped);

/// Whether the queue is standing, from the waits of the calls (CoDel's minimum over a window).
#[derive(Debug, Default)]
pub struct Pressure {
    /// `nanos_since_start` when the current window began.
    window_start: AtomicU64,
    /// Shortest wait seen in the current window, ns.
    window_min: AtomicU64,
    /// The verdict on the last complete window.
    standing: AtomicBool,
}

impl Pressure {
    /// Notes a call that waited `waited`, arriving at `now`; whether the queue is standing.
    pub fn observe(&self, waited: Duration, now: Instant, target: Duration) -> bool {
        let window = nanos(target.saturating_mul(2));
        let now = nanos_since_start(now);
        let wait = nanos(waited);
        let start = self.window_start.load(Ordering::Relaxed);
        let elapsed = now.saturating_sub(start);
        if elapsed >= window
            && self
                .window_start
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let min = self.window_min.swap(wait, Ordering::Relaxed);
            // A window with no call since long ago says nothing about the queue now.
            let stale = elapsed >= window.saturating_mul(2);
            self.standing.store(!stale && min > nanos(target), Ordering::Relaxed);
        } else {
            self.window_min.fetch_min(wait, Ordering::Relaxed);
        }
        self.standing.load(Ordering::Relaxed)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether a call that waited `waited` is shed: past `max_queue_delay` while the queue stands,
/// past `LENIENT_FACTOR` times it otherwise, or past `max_queue_delay` and its own deadline
/// (`budget`, `None` when nothing was left).
pub fn shed(waited: Duration, max_queue_delay: Duration, standing: bool, budget: Option<Duration>) -> bool {
    let limit = if standing {
        max_queue_delay
    } else {
        max_queue_delay.saturating_mul(LENIENT_FACTOR)
    };
    let out_of_time = budget.is_none_or(|b| waited >= b);
    waited > limit || (waited > max_queue_delay && out_of_time)
}

/// Sheds calls that queued too long (see the module comment).
#[derive(Debug, Clone)]
pub struct QueueDelayShedLayer {
    max_queue_delay: Duration,
    /// The server's cap on any call, for the deadline of calls without one.
    request_timeout: Duration,
    pressure: Arc<Pressure>,
}

impl QueueDelayShedLayer {
    pub fn new(max_queue_delay: Duration, request_timeout: Duration) -> Self {
        QueueDelayShedLayer {
            max_queue_delay,
            request_timeout,
            pressure: Arc::default(),
        }
    }
}

impl<S> tower::Layer<S> for QueueDelayShedLayer {
    type Service = QueueDelayShed<S>;

    fn layer(&self, inner: S) -> QueueDelayShed<S> {
        QueueDelayShed {
            inner,
            layer: self.clone(),
            accepted: Accepted::default(),
        }
    }
}

/// The service of [`QueueDelayShedLayer`].
#[derive(Debug, Clone)]
pub struct QueueDelayShed<S> {
    inner: S,
    layer: QueueDelayShedLayer,
    accepted: Accepted,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for QueueDelayShed<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let waited = self.accepted.waited();
        let limit = self.layer.max_queue_delay;
        let standing = self.layer.pressure.observe(waited, Instant::now(), limit);
        let header = req.headers().get("grpc-timeout").and_then(|v| v.to_str().ok());
        let budget = deadline::budget(header, self.layer.request_timeout);
        if shed(waited, limit, standing, budget) {
            let status = tonic::Status::resource_exhausted(format!(
                "overloaded: the call queued {} ms for a worker (limit {} ms); retry with backoff",
                waited.as_millis(),
                limit.as_millis()
            ));
            let mut resp = status.into_http();
            // Counted in riskd.rpc.shed by the telemetry layer outside.
            resp.extensions_mut().insert(crate::telemetry::grpc::Shed);
            return Box::pin(std::future::ready(Ok(resp)));
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_copy_reads_its_wait_once() {
        let original = Accepted::default();
        let mut copy = original.clone();
        std::thread::sleep(Duration::from_millis(2));
        assert!(copy.waited() >= Duration::from_millis(2));
        assert_eq!(copy.waited(), Duration::ZERO);
        let mut never_cloned = Accepted::default();
        assert_eq!(never_cloned.waited(), Duration::ZERO);
    }

    #[test]
    fn a_copy_made_after_a_read_counts_from_the_arrival() {
        let arrived = Instant::now();
        ARRIVED.with(|a| a.set(Some(arrived)));
        std::thread::sleep(Duration::from_millis(3));
        let mut copy = Accepted::default().clone();
        ARRIVED.with(|a| a.set(None));
        assert!(copy.waited() >= Duration::from_millis(3));
    }

    #[test]
    fn sheds_beyond_the_limit_only_while_the_queue_stands() {
        let limit = Duration::from_millis(50);
        let long = Some(Duration::from_secs(5));
        assert!(!shed(Duration::ZERO, limit, true, long));
        assert!(!shed(limit, limit, true, long));
        assert!(shed(limit + Duration::from_micros(1), limit, true, long));
        // One pause is not overload: lenient until LENIENT_FACTOR x the limit.
        assert!(!shed(limit * 4, limit, false, long));
        assert!(shed(
            limit * LENIENT_FACTOR + Duration::from_micros(1),
            limit,
            false,
            long
        ));
        // Queued past its own deadline: shed, not DEADLINE_EXCEEDED...
        assert!(shed(limit * 2, limit, false, Some(limit)));
        assert!(shed(limit * 2, limit, false, None));
        // ...unless it hardly queued (a deadline too short is the caller's).
        assert!(!shed(Duration::from_millis(2), limit, false, None));
    }

    #[test]
    fn the_queue_stands_when_a_whole_window_waited_too_long() {
        let target = Duration::from_millis(50);
        let pressure = Pressure::default();
        let t0 = start().max(Instant::now());
        // A pause: a few long waits among short ones in the same window.
        assert!(!pressure.observe(Duration::from_millis(1), t0, target));
        assert!(!pressure.observe(Duration::from_millis(120), t0 + Duration::from_millis(10), target));
        assert!(!pressure.observe(Duration::from_millis(2), t0 + Duration::from_millis(20), target));
        // Next window: the shortest was short, so no standing queue.
        assert!(!pressure.observe(Duration::from_millis(80), t0 + Duration::from_millis(110), target));
        assert!(!pressure.observe(Duration::from_millis(90), t0 + Duration::from_millis(150), target));
        // The window that only saw long waits makes the next one strict.
        assert!(pressure.observe(Duration::from_millis(70), t0 + Duration::from_millis(215), target));
        // A short wait ends it at the next window.
        assert!(pressure.observe(Duration::from_millis(1), t0 + Duration::from_millis(250), target));
        assert!(!pressure.observe(Duration::from_millis(1), t0 + Duration::from_millis(320), target));
    }
}
