//! The chunked transfer coding (RFC 9112 §7.1), decoded incrementally on any split of the input.

use super::fields::{is_field_value_byte, is_tchar};

/// Written after the last data chunk when encoding: a zero-size chunk and no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A u64 is 16 hex digits; more (even leading zeros) is refused rather than overflowed.
const MAX_SIZE_DIGITS: u8 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Bytes between the chunk size and its CRLF (`;name=value...`), per chunk.
    pub max_chunk_ext_bytes: usize,
    /// Bytes of the trailer section, excluding the final empty line.
    pub max_trailer_bytes: usize,
    /// Decoded data in the whole body: a chunk whose size would take the total beyond this is
    /// refused as soon as its size is complete, before any of its data is awaited.
    pub max_data_bytes: u64,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_chunk_ext_bytes: 1024,
            max_trailer_bytes: 8 * 1024,
            max_data_bytes: u64::MAX,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input used; the rest (if `done`) belongs to the next message.
    pub consumed: usize,
    /// The last chunk and the trailer section were consumed.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// Chunk size empty or not hexadecimal.
    InvalidSize,
    /// More than 16 hex digits: would overflow u64.
    SizeTooLong,
    /// A byte that cannot appear in a chunk extension.
    InvalidExtension,
    /// Chunk extension longer than `max_chunk_ext_bytes`.
    ExtensionTooLong,
    /// The chunk-size line does not end in CRLF.
    BadLineEnding,
    /// Chunk data not followed by CRLF: the size was wrong.
    MissingCrlfAfterData,
    /// Trailer section longer than `max_trailer_bytes`.
    TrailerTooLong,
    /// A chunk size that takes the body beyond `max_data_bytes`.
    TooLarge,
    /// A trailer line that is not `token ":" value CRLF`.
    MalformedTrailer,
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid chunked body: {self:?}")
    }
}

impl std::error::Error for ChunkError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size {
        value: u64,
        digits: u8,
    },
    /// BWS after the size, which must lead to ';' (RFC 9112 §7.1.1).
    SizeWhitespace {
        value: u64,
    },
    Extension {
        value: u64,
    },
    SizeLf {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    TrailerLineStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
    Failed(ChunkError),
}

/// Decodes one chunked body. Strict about CRLF everywhere, so that the framing we see is the
/// framing a backend sees when the body is passed through unchanged.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    limits: ChunkLimits,
    state: State,
    extension_len: usize,
    trailer_len: usize,
    /// The sizes of the chunks announced so far, summed.
    announced: u64,
}

impl ChunkedDecoder {
    pub fn new(limits: ChunkLimits) -> Self {
        ChunkedDecoder {
            limits,
            state: State::Size {
                value: 0,
                digits: 0,
            },
            extension_len: 0,
            trailer_len: 0,
            announced: 0,
        }
    }

    /// Consumes as much of `input` as it can; appends decoded data to `out` when given (None = just track framing,
    /// for passing a chunked body through unchanged). `done` once the last chunk and trailers were consumed.
    /// Trailer fields are validated and dropped from `out`. After an error, every call returns it again.
    pub fn decode(
        &mut self,
        input: &[u8],
        mut out: Option<&mut Vec<u8>>,
    ) -> Result<Progress, ChunkError> {
        let mut pos = 0;
        while let Some(rest) = input.get(pos..).filter(|r| !r.is_empty()) {
            match self.state {
                State::Done => break,
                State::Failed(err) => return Err(err),
                State::Data { remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    let data = rest.get(..take).unwrap_or_default();
                    if let Some(out) = out.as_deref_mut() {
                        out.extend_from_slice(data);
                    }
                    pos += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining }
                    };
                }
                state => {
                    let byte = rest.first().copied().unwrap_or_default();
                    match self.step(state, byte) {
                        Ok(next) => self.state = next,
                        Err(err) => {
                            self.state = State::Failed(err);
                            return Err(err);
                        }
                    }
                    pos += 1;
                }
            }
        }
        match self.state {
            State::Failed(err) => Err(err),
            state => Ok(Progress {
                consumed: pos,
                done: state == State::Done,
            }),
        }
    }

    /// One byte of framing (everything but chunk data).
    fn step(&mut self, state: State, byte: u8) -> Result<State, ChunkError> {
        use State::*;
        Ok(match (state, byte) {
            (Size { value, digits }, _) if byte.is_ascii_hexdigit() => {
                if digits == MAX_SIZE_DIGITS {
                    return Err(ChunkError::SizeTooLong);
                }
                Size {
                    value: value << 4 | u64::from(hex_value(byte)),
                    digits: digits + 1,
                }
            }
            (Size { digits: 0, .. }, _) => return Err(ChunkError::InvalidSize),
            (Size { value, .. }, b'\r') => SizeLf {
                value: self.check_size(value)?,
            },
            (Size { .. } | SizeWhitespace { .. } | Extension { .. }, b'\n') => {
                return Err(ChunkError::BadLineEnding);
            }
            (Size { value, .. } | SizeWhitespace { value }, b' ' | b'\t') => {
                self.check_size(value)?;
                self.count_extension_byte()?;
                SizeWhitespace { value }
            }
            (Size { value, .. } | SizeWhitespace { value }, b';') => {
                self.check_size(value)?;
                self.count_extension_byte()?;
                Extension { value }
            }
            (Size { .. } | SizeWhitespace { .. }, _) => return Err(ChunkError::InvalidSize),
            (Extension { value }, b'\r') => SizeLf { value },
            (Extension { value }, _) if is_field_value_byte(byte) => {
                self.count_extension_byte()?;
                Extension { value }
            }
            (Extension { .. }, _) => return Err(ChunkError::InvalidExtension),
            (SizeLf { value }, b'\n') => {
                self.extension_len = 0;
                self.announced = self.announced.saturating_add(value);
                if value == 0 {
                    TrailerLineStart
                } else {
                    Data { remaining: value }
                }
            }
            (SizeLf { .. }, _) => return Err(ChunkError::BadLineEnding),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size {
                value: 0,
                digits: 0,
            },
            (DataCr | DataLf, _) => return Err(ChunkError::MissingCrlfAfterData),
            (TrailerLineStart, b'\r') => FinalLf,
            (TrailerLineStart | TrailerName, _) if is_tchar(byte) => {
                self.count_trailer_byte(TrailerName)?
            }
            (TrailerName, b':') => self.count_trailer_byte(TrailerValue)?,
            (TrailerValue, b'\r') => self.count_trailer_byte(TrailerLf)?,
            (TrailerValue, _) if is_field_value_byte(byte) => {
                self.count_trailer_byte(TrailerValue)?
            }
            (TrailerLf, b'\n') => self.count_trailer_byte(TrailerLineStart)?,
            (FinalLf, b'\n') => Done,
            (TrailerLineStart | TrailerName | TrailerValue | TrailerLf | FinalLf, _) => {
                return Err(ChunkError::MalformedTrailer);
            }
            // `decode` handles these without calling `step`.
            (Data { .. } | Done, _) => state,
            (Failed(err), _) => return Err(err),
        })
    }

    /// A complete chunk size: refused at once when, with the chunks before it, it takes the
    /// body beyond `max_data_bytes` (the client is not left waiting to send data that would
    /// be refused anyway).
    fn check_size(&self, value: u64) -> Result<u64, ChunkError> {
        if value > self.limits.max_data_bytes.saturating_sub(self.announced) {
            return Err(ChunkError::TooLarge);
        }
        Ok(value)
    }

    /// Counts one byte between the size digits and the CRLF of the current chunk.
    fn count_extension_byte(&mut self) -> Result<(), ChunkError> {
        self.extension_len += 1;
        if self.extension_len > self.limits.max_chunk_ext_bytes {
            return Err(ChunkError::ExtensionTooLong);
        }
        Ok(())
    }

    fn count_trailer_byte(&mut self, next: State) -> Result<State, ChunkError> {
        self.trailer_len += 1;
        if self.trailer_len > self.limits.max_trailer_bytes {
            return Err(ChunkError::TrailerTooLong);
        }
        Ok(next)
    }
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => 0,
    }
}

/// Appends `"<hex>\r\n<data>\r\n"`; nothing for empty data (a zero size would end the body).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let mut digits = [0u8; 16];
    let mut len = data.len();
    let mut start = digits.len();
    while start > 0 {
        start -= 1;
        digits[start] = b"0123456789abcdef"[len & 0xf];
        len >>= 4;
        if len == 0 {
            break;
        }
    }
    out.reserve(digits.len() - start + data.len() + 4);
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
