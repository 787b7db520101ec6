//! `snapshot()` and `to_json` with 10 timed fns: see `common.rs`.

mod common;

seq_macro::seq!(I in 0..10 {
    #(
        #[telemetry::timed]
        #[allow(dead_code)]
        fn f~I(x: u64) -> u64 {
            x.wrapping_add(I)
        }
    )*
});

fn snapshot(c: &mut criterion::Criterion) {
    common::bench(c, 10);
}

criterion::criterion_group!(benches, snapshot);
criterion::criterion_main!(benches);
