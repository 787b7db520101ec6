//! `#[counted]` and `#[timed]` on async forms: `async fn`, async methods, native
//! async fn in traits, fns returning `impl Future` built from an `async move`
//! block, boxed futures, and the `async-trait` desugaring. Futures are driven by
//! the small executor in `support::executor`.

mod support;

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;

use async_trait::async_trait;
use support::counts::{assert_counts, named, Counts};
use support::executor::{block_on, block_on_expect_panic, poll_once, yield_once};
use telemetry::{counted, timed, Kind};

// ---------------------------------------------------------------- async fn

#[timed]
async fn fetch(id: u32) -> u32 {
    yield_once().await;
    id * 10
}

#[counted]
async fn lookup(key: &str) -> Result<usize, String> {
    yield_once().await;
    if key.is_empty() {
        Err("empty key".into())
    } else {
        Ok(key.len())
    }
}

#[counted]
async fn notify(log: &mut Vec<String>, message: &str) {
    log.push(message.to_owned());
}

#[test]
fn async_fn() {
    assert_eq!(block_on(fetch(4)), 40);
    assert_eq!(block_on(fetch(5)), 50);
    assert_counts(named!("fetch"), Kind::Timed, Counts::ok(2));
}

#[test]
fn async_fn_result() {
    assert_eq!(block_on(lookup("abc")), Ok(3));
    assert_eq!(block_on(lookup("")), Err("empty key".into()));
    assert_counts(named!("lookup"), Kind::Counted, Counts::ok_err(1, 1));
}

#[test]
fn async_fn_returning_unit() {
    let mut log = Vec::new();
    block_on(notify(&mut log, "hello"));
    assert_eq!(log, ["hello"]);
    assert_counts(named!("notify"), Kind::Counted, Counts::ok(1));
}

#[test]
fn async_fn_counts_nothing_before_its_first_poll() {
    let future = fetch_unpolled(3);
    assert_counts(named!("fetch_unpolled"), Kind::Timed, Counts::default());
    assert_eq!(block_on(future), 3);
    assert_counts(named!("fetch_unpolled"), Kind::Timed, Counts::ok(1));
}

#[timed]
async fn fetch_unpolled(id: u32) -> u32 {
    id
}

#[derive(Debug, PartialEq)]
enum FetchError {
    Parse(std::num::ParseIntError),
    TooBig(u64),
}

impl From<std::num::ParseIntError> for FetchError {
    fn from(error: std::num::ParseIntError) -> Self {
        FetchError::Parse(error)
    }
}

#[timed]
async fn parse_small(text: &str) -> Result<u64, FetchError> {
    let n: u64 = text.parse()?;
    yield_once().await;
    if n > 10 {
        return Err(FetchError::TooBig(n));
    }
    Ok(n)
}

#[test]
fn async_fn_early_return_and_question_mark() {
    assert_eq!(block_on(parse_small("7")), Ok(7));
    assert!(matches!(
        block_on(parse_small("x")),
        Err(FetchError::Parse(_))
    ));
    assert_eq!(block_on(parse_small("11")), Err(FetchError::TooBig(11)));
    assert_counts(named!("parse_small"), Kind::Timed, Counts::ok_err(1, 2));
}

#[counted]
async fn first_word(text: &str) -> &str {
    yield_once().await;
    text.split(' ').next().unwrap_or(text)
}

#[timed]
async fn generic_max<T, const N: usize>(values: [T; N]) -> Option<T>
where
    T: PartialOrd + Copy,
{
    yield_once().await;
    values.into_iter().fold(None, |max, v| match max {
        Some(m) if m >= v => Some(m),
        _ => Some(v),
    })
}

#[test]
fn async_fn_returning_borrow() {
    let text = String::from("hello world");
    assert_eq!(block_on(first_word(&text)), "hello");
    assert_counts(named!("first_word"), Kind::Counted, Counts::ok(1));
}

#[test]
fn async_fn_generic() {
    assert_eq!(block_on(generic_max([3, 8, 1])), Some(8));
    assert_eq!(block_on(generic_max::<u8, 0>([])), None);
    assert_counts(named!("generic_max"), Kind::Timed, Counts::ok(2));
}

#[timed]
async unsafe fn read_later(pointer: *const u32) -> u32 {
    yield_once().await;
    *pointer
}

#[test]
fn async_unsafe_fn() {
    let value = 9;
    // SAFETY: `value` outlives the future.
    assert_eq!(block_on(unsafe { read_later(&value) }), 9);
    assert_counts(named!("read_later"), Kind::Timed, Counts::ok(1));
}

#[counted]
async fn async_impl_trait_return(n: u32) -> impl Iterator<Item = u32> {
    yield_once().await;
    0..n
}

#[test]
fn async_fn_returning_impl_trait() {
    assert_eq!(block_on(async_impl_trait_return(3)).sum::<u32>(), 3);
    assert_counts(
        named!("async_impl_trait_return"),
        Kind::Counted,
        Counts::ok(1),
    );
}

// ---------------------------------------------------------------- panics and cancellation

#[timed]
async fn panics_after_yield(fail: bool) -> u32 {
    yield_once().await;
    if fail {
        panic!("failed on purpose");
    }
    1
}

#[test]
fn async_fn_panic() {
    assert_eq!(block_on(panics_after_yield(false)), 1);
    block_on_expect_panic(panics_after_yield(true));
    assert_counts(
        named!("panics_after_yield"),
        Kind::Timed,
        Counts {
            calls: 2,
            ok: 1,
            panics: 1,
            ..Counts::default()
        },
    );
}

#[timed]
async fn cancelled_timed() -> u32 {
    yield_once().await;
    1
}

#[counted]
async fn cancelled_counted() -> Result<(), String> {
    std::future::pending::<()>().await;
    Ok(())
}

#[test]
fn async_fn_dropped_before_completion_is_cancelled() {
    {
        let mut future = pin!(cancelled_timed());
        assert_eq!(poll_once(future.as_mut()), Poll::Pending);
        assert_counts(
            named!("cancelled_timed"),
            Kind::Timed,
            Counts {
                calls: 1,
                in_flight: 1,
                ..Counts::default()
            },
        );
    }
    // Cancelled calls have no latency (`assert_counts` checks the histogram is empty).
    assert_counts(
        named!("cancelled_timed"),
        Kind::Timed,
        Counts {
            calls: 1,
            cancelled: 1,
            ..Counts::default()
        },
    );
    assert_eq!(block_on(cancelled_timed()), 1);
    assert_counts(
        named!("cancelled_timed"),
        Kind::Timed,
        Counts {
            calls: 2,
            ok: 1,
            cancelled: 1,
            ..Counts::default()
        },
    );

    let mut future = Box::pin(cancelled_counted());
    assert!(poll_once(future.as_mut()).is_pending());
    assert!(poll_once(future.as_mut()).is_pending());
    drop(future);
    assert_counts(
        named!("cancelled_counted"),
        Kind::Counted,
        Counts {
            calls: 1,
            cancelled: 1,
            ..Counts::default()
        },
    );
}

#[test]
fn async_fn_never_polled_is_not_counted() {
    drop(never_polled());
    assert_counts(named!("never_polled"), Kind::Counted, Counts::default());
}

#[counted]
async fn never_polled() -> u32 {
    1
}

#[timed]
async fn fail_later(message: &str) -> ! {
    yield_once().await;
    panic!("giving up: {message}")
}

#[counted]
async fn serve_forever() -> ! {
    loop {
        yield_once().await;
    }
}

#[test]
fn async_fn_returning_never_panics() {
    block_on_expect_panic(fail_later("test"));
    assert_counts(
        named!("fail_later"),
        Kind::Timed,
        Counts {
            calls: 1,
            panics: 1,
            ..Counts::default()
        },
    );
}

#[test]
fn async_fn_returning_never_cancelled() {
    let mut future = Box::pin(serve_forever());
    for _ in 0..3 {
        assert!(poll_once(future.as_mut()).is_pending());
    }
    drop(future);
    assert_counts(
        named!("serve_forever"),
        Kind::Counted,
        Counts {
            calls: 1,
            cancelled: 1,
            ..Counts::default()
        },
    );
}

// ---------------------------------------------------------------- async methods

struct Cache {
    hits: u32,
}

impl Cache {
    #[timed]
    async fn get(&self, key: u32) -> Option<u32> {
        yield_once().await;
        (key < self.hits).then_some(key)
    }

    #[counted]
    async fn insert(&mut self) -> u32 {
        yield_once().await;
        self.hits += 1;
        self.hits
    }

    #[timed]
    async fn into_hits(self) -> u32 {
        self.hits
    }

    #[counted]
    async fn open(hits: u32) -> Cache {
        Cache { hits }
    }
}

#[test]
fn async_method_ref_self() {
    let cache = Cache { hits: 2 };
    assert_eq!(block_on(cache.get(1)), Some(1));
    assert_eq!(block_on(cache.get(5)), None);
    assert_counts(named!("Cache", "get"), Kind::Timed, Counts::ok(2));
}

#[test]
fn async_method_mut_self() {
    let mut cache = Cache { hits: 0 };
    assert_eq!(block_on(cache.insert()), 1);
    assert_eq!(block_on(cache.insert()), 2);
    assert_counts(named!("Cache", "insert"), Kind::Counted, Counts::ok(2));
}

#[test]
fn async_method_self_and_associated() {
    let cache = block_on(Cache::open(4));
    assert_eq!(block_on(cache.into_hits()), 4);
    assert_counts(named!("Cache", "into_hits"), Kind::Timed, Counts::ok(1));
    // No receiver: the type is not known to the macro.
    assert_counts(named!("open"), Kind::Counted, Counts::ok(1));
}

// ---------------------------------------------------------------- native async fn in traits

trait Store {
    async fn load(&self, key: &str) -> Result<String, String>;

    #[counted]
    async fn load_or_default(&self, key: &str) -> String {
        self.load(key).await.unwrap_or_default()
    }
}

struct MemoryStore;

impl Store for MemoryStore {
    #[timed]
    async fn load(&self, key: &str) -> Result<String, String> {
        yield_once().await;
        match key {
            "a" => Ok("alpha".into()),
            _ => Err(format!("no {key}")),
        }
    }
}

#[test]
fn native_async_fn_in_trait() {
    assert_eq!(block_on(MemoryStore.load("a")), Ok("alpha".into()));
    assert_eq!(block_on(MemoryStore.load("b")), Err("no b".into()));
    assert_counts(
        named!("MemoryStore", "load"),
        Kind::Timed,
        Counts::ok_err(1, 1),
    );
}

struct EmptyStore;

impl Store for EmptyStore {
    async fn load(&self, key: &str) -> Result<String, String> {
        Err(key.to_owned())
    }
}

#[test]
fn native_async_trait_default_method() {
    assert_eq!(block_on(EmptyStore.load_or_default("x")), "");
    assert_counts(
        named!("EmptyStore", "load_or_default"),
        Kind::Counted,
        Counts::ok(1),
    );
}

// ---------------------------------------------------------------- impl Future and boxed futures

#[timed]
fn deferred(x: u32) -> impl Future<Output = u32> {
    async move {
        yield_once().await;
        x + 1
    }
}

#[counted]
fn deferred_result(
    text: String,
) -> impl Future<Output = Result<u32, std::num::ParseIntError>> + Send {
    let trimmed = text.trim().to_owned();
    async move { trimmed.parse() }
}

#[timed]
fn deferred_borrow<'a>(values: &'a [u32]) -> impl Future<Output = &'a u32> + 'a {
    async move {
        yield_once().await;
        &values[1]
    }
}

#[test]
fn fn_returning_impl_future() {
    let future = deferred(1);
    // Like an async fn, the call begins at the first poll.
    assert_counts(named!("deferred"), Kind::Timed, Counts::default());
    assert_eq!(block_on(future), 2);
    assert_counts(named!("deferred"), Kind::Timed, Counts::ok(1));
}

#[test]
fn fn_returning_impl_future_of_result() {
    assert_eq!(block_on(deferred_result(" 5 ".into())), Ok(5));
    assert!(block_on(deferred_result("five".into())).is_err());
    assert_counts(
        named!("deferred_result"),
        Kind::Counted,
        Counts::ok_err(1, 1),
    );
}

#[test]
fn fn_returning_impl_future_borrowing_argument() {
    let values = [1, 2];
    assert_eq!(*block_on(deferred_borrow(&values)), 2);
    assert_counts(named!("deferred_borrow"), Kind::Timed, Counts::ok(1));
}

#[test]
fn fn_returning_impl_future_cancelled() {
    let mut future = Box::pin(deferred_cancelled());
    assert!(poll_once(future.as_mut()).is_pending());
    drop(future);
    assert_counts(
        named!("deferred_cancelled"),
        Kind::Timed,
        Counts {
            calls: 1,
            cancelled: 1,
            ..Counts::default()
        },
    );
}

#[timed]
fn deferred_cancelled() -> impl Future<Output = ()> {
    async {
        std::future::pending::<()>().await;
    }
}

#[timed]
fn fibonacci(n: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n < 2 {
            u64::from(n)
        } else {
            fibonacci(n - 1).await + fibonacci(n - 2).await
        }
    })
}

#[test]
fn recursive_boxed_future() {
    assert_eq!(block_on(fibonacci(5)), 5);
    // fib(5) makes 15 calls in all.
    assert_counts(named!("fibonacci"), Kind::Timed, Counts::ok(15));
}

// ---------------------------------------------------------------- async-trait

#[async_trait]
trait Repository {
    async fn count(&self, table: &str) -> Result<u64, String>;

    async fn describe(&self) -> String {
        "repository".into()
    }

    #[timed]
    async fn count_or_zero(&self, table: &str) -> u64 {
        self.count(table).await.unwrap_or(0)
    }
}

struct MethodLevel;

#[async_trait]
impl Repository for MethodLevel {
    #[timed]
    async fn count(&self, table: &str) -> Result<u64, String> {
        yield_once().await;
        if table == "users" {
            Ok(3)
        } else {
            Err(format!("no table {table}"))
        }
    }

    #[counted]
    async fn describe(&self) -> String {
        "method level".into()
    }
}

#[test]
fn async_trait_method_attributes() {
    assert_eq!(block_on(MethodLevel.count("users")), Ok(3));
    assert_eq!(block_on(MethodLevel.count("x")), Err("no table x".into()));
    assert_eq!(block_on(MethodLevel.describe()), "method level");
    assert_counts(
        named!("MethodLevel", "count"),
        Kind::Timed,
        Counts::ok_err(1, 1),
    );
    assert_counts(
        named!("MethodLevel", "describe"),
        Kind::Counted,
        Counts::ok(1),
    );
}

#[test]
fn async_trait_default_method_attribute() {
    struct Defaults;
    #[async_trait]
    impl Repository for Defaults {
        async fn count(&self, _: &str) -> Result<u64, String> {
            Err("none".into())
        }
    }
    assert_eq!(block_on(Defaults.count_or_zero("t")), 0);
    assert_counts(
        named!("Defaults", "count_or_zero"),
        Kind::Timed,
        Counts::ok(1),
    );
}

struct BelowAsyncTrait;

// `#[async_trait]` expands first: `#[timed]` sees fns returning
// `Pin<Box<dyn Future>>` that wrap an `async move` block.
#[async_trait]
#[timed]
impl Repository for BelowAsyncTrait {
    async fn count(&self, table: &str) -> Result<u64, String> {
        yield_once().await;
        Err(table.to_owned())
    }

    #[timed(skip)]
    async fn describe(&self) -> String {
        "below".into()
    }
}

#[test]
fn impl_attribute_below_async_trait() {
    assert_eq!(block_on(BelowAsyncTrait.count("t")), Err("t".into()));
    assert_eq!(block_on(BelowAsyncTrait.describe()), "below");
    assert_counts(
        named!("BelowAsyncTrait", "count"),
        Kind::Timed,
        Counts::ok_err(0, 1),
    );
    assert!(!support::counts::is_listed(named!(
        "BelowAsyncTrait",
        "describe"
    )));
}

#[test]
fn impl_attribute_below_async_trait_cancelled() {
    struct Stalls;
    #[async_trait]
    #[counted]
    impl Repository for Stalls {
        async fn count(&self, _: &str) -> Result<u64, String> {
            std::future::pending::<()>().await;
            Ok(0)
        }
    }
    let mut future = Stalls.count("t");
    assert!(poll_once(future.as_mut()).is_pending());
    drop(future);
    assert_counts(
        named!("Stalls", "count"),
        Kind::Counted,
        Counts {
            calls: 1,
            cancelled: 1,
            ..Counts::default()
        },
    );
}

struct AboveAsyncTrait;

// `#[timed]` expands first, on plain `async fn`s; `#[async_trait]` then boxes
// the instrumented bodies.
#[timed]
#[async_trait]
impl Repository for AboveAsyncTrait {
    async fn count(&self, table: &str) -> Result<u64, String> {
        yield_once().await;
        Ok(table.len() as u64)
    }

    async fn describe(&self) -> String {
        "above".into()
    }
}

#[test]
fn impl_attribute_above_async_trait() {
    assert_eq!(block_on(AboveAsyncTrait.count("abc")), Ok(3));
    assert_eq!(block_on(AboveAsyncTrait.describe()), "above");
    assert_eq!(block_on(AboveAsyncTrait.describe()), "above");
    assert_counts(
        named!("AboveAsyncTrait", "count"),
        Kind::Timed,
        Counts::ok(1),
    );
    assert_counts(
        named!("AboveAsyncTrait", "describe"),
        Kind::Timed,
        Counts::ok(2),
    );
}

// The attribute on an `#[async_trait]` trait, above it (instruments the
// `async fn` defaults) and below it (instruments their boxed desugaring).
#[timed]
#[async_trait]
trait AboveOnTrait {
    async fn ping(&self) -> u32 {
        yield_once().await;
        1
    }
}

#[async_trait]
#[counted]
trait BelowOnTrait {
    async fn pong(&self) -> Result<u32, ()> {
        yield_once().await;
        Err(())
    }
}

struct Pinger;

impl AboveOnTrait for Pinger {}
impl BelowOnTrait for Pinger {}

#[test]
fn trait_attribute_with_async_trait() {
    assert_eq!(block_on(Pinger.ping()), 1);
    assert_eq!(block_on(Pinger.pong()), Err(()));
    assert_counts(named!("AboveOnTrait", "ping"), Kind::Timed, Counts::ok(1));
    assert_counts(
        named!("BelowOnTrait", "pong"),
        Kind::Counted,
        Counts::ok_err(0, 1),
    );
}

#[async_trait(?Send)]
trait LocalJob {
    async fn run(&self) -> u32;
}

struct RcJob;

#[timed]
#[async_trait(?Send)]
impl LocalJob for RcJob {
    async fn run(&self) -> u32 {
        let shared = std::rc::Rc::new(3);
        yield_once().await;
        *shared
    }
}

#[test]
fn async_trait_without_send() {
    assert_eq!(block_on(RcJob.run()), 3);
    assert_counts(named!("RcJob", "run"), Kind::Timed, Counts::ok(1));
}

trait Job {
    fn start(&self) -> impl Future<Output = u32> + Send;
}

struct AsyncImpl;

impl Job for AsyncImpl {
    // An `async fn` implementing a trait's `-> impl Future + Send` method: the
    // instrumented future stays `Send`.
    #[timed]
    async fn start(&self) -> u32 {
        yield_once().await;
        7
    }
}

#[test]
fn async_fn_implementing_return_position_impl_future() {
    fn assert_send<T: Send>(value: T) -> T {
        value
    }
    assert_eq!(block_on(assert_send(AsyncImpl.start())), 7);
    assert_counts(named!("AsyncImpl", "start"), Kind::Timed, Counts::ok(1));
}

// ---------------------------------------------------------------- in flight across threads

#[timed]
async fn wait_for_value(receiver: std::sync::mpsc::Receiver<u32>) -> u32 {
    yield_once().await;
    receiver.recv().unwrap()
}

#[test]
fn async_fn_in_flight_while_blocked() {
    let (sender, receiver) = std::sync::mpsc::channel();
    let (started_sender, started) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        block_on(async move {
            let call = wait_for_value(receiver);
            let mut call = pin!(call);
            // First poll: the call begins and yields.
            assert!(poll_once(call.as_mut()).is_pending());
            started_sender.send(()).unwrap();
            call.await
        })
    });
    started.recv().unwrap();
    assert_counts(
        named!("wait_for_value"),
        Kind::Timed,
        Counts {
            calls: 1,
            in_flight: 1,
            ..Counts::default()
        },
    );
    sender.send(7).unwrap();
    assert_eq!(worker.join().unwrap(), 7);
    assert_counts(named!("wait_for_value"), Kind::Timed, Counts::ok(1));
}
