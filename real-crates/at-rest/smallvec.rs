fn exercise() {
    use smallvec::{smallvec, SmallVec};
    let mut v: SmallVec<[u32; 4]> = SmallVec::new();
    for i in 0..10 {
        v.push(i);
    }
    v.insert(2, 99);
    assert_eq!(v.remove(2), 99);
    v.retain(|x| *x % 3 != 0);
    v.dedup();
    v.extend_from_slice(&[7, 7, 8]);
    v.truncate(5);
    v.shrink_to_fit();
    let drained: Vec<u32> = v.drain(1..3).collect();
    assert_eq!(drained.len(), 2);
    let w: SmallVec<[u32; 4]> = smallvec![1, 2, 3];
    assert!(w < v || w >= v);
    assert_eq!(w.clone().into_vec(), vec![1, 2, 3]);
    let big: SmallVec<[u8; 33]> = SmallVec::from_slice(&[1u8; 40]);
    assert!(big.spilled());
    let _ = big.into_inner();
    let mut small: SmallVec<[u8; 2]> = SmallVec::from_vec(vec![1, 2, 3]);
    small.try_reserve(10).unwrap();
    small.grow(64);
    expect_panic(move || {
        small.remove(100);
    });
}
