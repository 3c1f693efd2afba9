//! Internal checks of the dtype table (the public behaviour is tested in
//! `tests/safetensors_*.rs`).

use super::SafetensorsDtype as D;

#[test]
fn every_dtype_round_trips_through_its_name() {
    let all = [
        D::BOOL,
        D::U8,
        D::I8,
        D::F8_E5M2,
        D::F8_E4M3,
        D::F8_E8M0,
        D::I16,
        D::U16,
        D::F16,
        D::BF16,
        D::I32,
        D::U32,
        D::F32,
        D::F64,
        D::I64,
        D::U64,
        D::F4,
        D::F6_E2M3,
        D::F6_E3M2,
    ];
    for d in all {
        assert_eq!(D::parse(d.name()).unwrap(), d, "{d:?}");
    }
    // Sizes from the safetensors dtype list.
    assert_eq!((D::F32.bits(), D::BF16.bits(), D::F64.bits(), D::F4.bits()), (32, 16, 64, 4));
    assert_eq!(D::F4.bytes_for(3), None);
    assert_eq!(D::F4.bytes_for(4), Some(2));
    assert_eq!(D::F32.bytes_for(u64::MAX), None);
}
