//! Every argument, used as documented, compiles and records.

use telemetry::{counted, timed};

mod renamed {
    pub use telemetry as metrics;
}

#[timed(name = "db.query", result)]
fn query(id: u64) -> Result<u64, String> {
    if id == 0 {
        Err("id 0 is reserved".into())
    } else {
        Ok(id)
    }
}

#[counted(no_result, crate = "renamed::metrics")]
fn lookup(id: u64) -> Result<u64, String> {
    Err(format!("no entry {id}"))
}

struct Store;

#[timed]
impl Store {
    fn get(&self) -> u64 {
        1
    }

    #[timed(name = "store.put")]
    fn put(&self) {}

    #[timed(skip)]
    fn len(&self) -> usize {
        0
    }

    const fn capacity() -> usize {
        10
    }
}

#[counted]
trait Cache {
    fn get(&self, key: u64) -> Option<u64>;

    fn warm(&self) -> usize {
        Store::capacity()
    }
}

impl Cache for Store {
    fn get(&self, key: u64) -> Option<u64> {
        Some(key)
    }
}

fn main() {
    query(1).unwrap();
    query(0).unwrap_err();
    lookup(1).unwrap_err();
    let store = Store;
    store.put();
    let _ = (
        store.get(),
        store.len(),
        Cache::get(&store, 1),
        store.warm(),
    );

    let functions = telemetry::snapshot().functions;
    let db = &functions["db.query"];
    assert_eq!((db.calls, db.ok, db.err), (2, 1, 1));
    assert!(db.latency_ns.is_some());
    let lookups = &functions[concat!(module_path!(), "::lookup")];
    assert_eq!((lookups.calls, lookups.ok, lookups.err), (1, 1, 0));
    assert!(lookups.latency_ns.is_none());
    assert_eq!(functions["store.put"].calls, 1);
    assert_eq!(functions[concat!(module_path!(), "::Store::get")].calls, 1);
    assert_eq!(functions[concat!(module_path!(), "::Cache::warm")].calls, 1);
    assert!(!functions.contains_key(concat!(module_path!(), "::Store::len")));
}
