//! LEB128 unsigned varints for the binary trace form.

use crate::isa::operand::{DecodeError, Reader};

pub fn write(buf: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf.push(b);
            return;
        }
        buf.push(b | 0x80);
    }
}

/// Reads one varint. Most operands (tokens, tiles, tags, small counts) fit
/// one byte: that case is inlined, the rest is `read_long`.
#[inline]
pub fn read(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    match r.buf.get(r.pos) {
        Some(&b) if b < 0x80 => {
            r.pos += 1;
            Ok(b as u64)
        }
        _ => read_long(r),
    }
}

#[inline(never)]
fn read_long(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = r.byte()?;
        let part = (b & 0x7f) as u64;
        if shift == 63 && part > 1 {
            return Err(DecodeError::invalid("varint overflows 64 bits".into()));
        }
        v |= part << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError::invalid("varint longer than 10 bytes".into()))
}
