//! A bounds-checked little-endian reader that knows whether its buffer is the
//! whole file (running out is a truncation error) or a prefix of a stream
//! (running out means "need more bytes").

use crate::NavajaError;

pub(crate) enum ReadError {
    /// The buffer is a prefix and the item needs the stream to reach `total` bytes.
    NeedMore {
        total: u64,
    },
    Invalid(NavajaError),
}

impl From<NavajaError> for ReadError {
    fn from(e: NavajaError) -> Self {
        ReadError::Invalid(e)
    }
}

pub(crate) type ReadResult<T> = std::result::Result<T, ReadError>;

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// `buf` is the complete file.
    complete: bool,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], complete: bool) -> Self {
        Cursor { buf, pos: 0, complete }
    }

    pub fn pos(&self) -> u64 {
        self.pos as u64
    }

    pub fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    /// Fails unless at least `n` more bytes exist (or may still arrive).
    pub fn require(&self, n: u64, what: &dyn Fn() -> String) -> ReadResult<()> {
        if n <= self.remaining() {
            return Ok(());
        }
        if self.complete {
            return Err(ReadError::Invalid(NavajaError::format(format!(
                "truncated GGUF: {} needs {n} bytes at offset {}, but the file has only {} bytes left",
                what(),
                self.pos,
                self.remaining()
            ))));
        }
        Err(ReadError::NeedMore { total: self.pos().saturating_add(n) })
    }

    pub fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> ReadResult<&'a [u8]> {
        self.require(n, what)?;
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    pub fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> ReadResult<[u8; N]> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn u8(&mut self, what: &dyn Fn() -> String) -> ReadResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &dyn Fn() -> String) -> ReadResult<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &dyn Fn() -> String) -> ReadResult<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &dyn Fn() -> String) -> ReadResult<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string: u64 length, then that many UTF-8 bytes.
    pub fn string(&mut self, what: &dyn Fn() -> String) -> ReadResult<String> {
        let len = self.u64(&|| format!("the length of {}", what()))?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ReadError::Invalid(NavajaError::format(format!("{} is not valid UTF-8", what()))))
    }
}
