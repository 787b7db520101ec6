fn exercise() {
    use bytes::{Buf, BufMut, Bytes, BytesMut};
    let mut out = BytesMut::with_capacity(8);
    out.put_u32(0xdead_beef);
    out.put_u16_le(7);
    out.put_slice(b"hello world");
    out.put_u8(b'!');
    out.extend_from_slice(b" more");
    let mut frozen = out.freeze();
    let head = frozen.split_to(4);
    assert_eq!(head.clone().get_u32(), 0xdead_beef);
    assert_eq!(frozen.get_u16_le(), 7);
    let slice = frozen.slice(0..5);
    assert_eq!(&slice[..], b"hello");
    let mut chained = Bytes::from_static(b"ab").chain(Bytes::from(vec![b'c']));
    assert_eq!(chained.copy_to_bytes(3), Bytes::from_static(b"abc"));
    let mut taken = Bytes::from_static(b"abcdef").take(2);
    assert_eq!(taken.get_u8(), b'a');
    let mut empty = Bytes::new();
    assert!(empty.try_get_u8().is_err());
    let mut split = BytesMut::from(&b"key=value"[..]);
    let key = split.split_to(3);
    split.advance(1);
    assert_eq!((&key[..], &split[..]), (&b"key"[..], &b"value"[..]));
    expect_panic(|| {
        Bytes::new().get_u8();
    });
}
