fn exercise() {
    use event_listener::{Event, IntoNotification, Listener};
    use std::time::Duration;

    let event = Event::new();
    let first = event.listen();
    let second = event.listen();
    assert_eq!(event.notify(1), 1);
    first.wait();
    assert_eq!(event.notify(1.additional()), 1);
    assert!(second.wait_timeout(Duration::from_secs(5)).is_some());

    let typed = Event::<u32>::with_tag();
    let listener = typed.listen();
    typed.notify(1.tag(7));
    assert_eq!(futures_lite::future::block_on(listener), 7);

    // A listener dropped before it is notified, and one that times out.
    drop(event.listen());
    assert!(event.listen().wait_timeout(Duration::from_millis(1)).is_none());
    assert_eq!(event.total_listeners(), 0);
}
