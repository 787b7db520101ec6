fn exercise() {
    use async_executor::{Executor, LocalExecutor};
    use futures_lite::future;

    let ex = Executor::new();
    let tasks: Vec<_> = (0..8u32).map(|i| ex.spawn(async move { i * 2 })).collect();
    let sum = future::block_on(ex.run(async {
        let mut sum = 0;
        for task in tasks {
            sum += task.await;
        }
        sum
    }));
    assert_eq!(sum, 56);

    // Cancellation: `run` and `tick` futures dropped before they complete.
    let never = ex.spawn(future::pending::<()>());
    future::block_on(future::or(ex.run(future::pending::<()>()), future::ready(())));
    future::block_on(future::or(async { ex.tick().await }, future::ready(())));
    drop(never);

    let local = LocalExecutor::new();
    let task = local.spawn(async { 3 });
    assert_eq!(future::block_on(local.run(task)), 3);
    assert!(future::block_on(future::or(
        async {
            local.run(future::pending::<()>()).await;
            false
        },
        async { true },
    )));
}
