//! Table-driven tests for the chunked decoder, each row fed whole, split at every offset and byte by byte.

use super::*;

/// What feeding a whole input should produce.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Finished after `consumed` bytes with this decoded data.
    Done(&'static [u8], usize),
    /// Needs more input; this much data so far.
    More(&'static [u8]),
    Fail(ChunkError),
}
use Outcome::*;

/// Feeds `pieces` in order, as a connection would, and reports the combined outcome.
fn feed(limits: ChunkLimits, pieces: &[&[u8]]) -> (Result<(bool, usize), ChunkError>, Vec<u8>) {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut framing_only = ChunkedDecoder::new(limits);
    let mut out = Vec::new();
    let mut consumed = 0;
    for piece in pieces {
        let progress = decoder.decode(piece, Some(&mut out));
        // Tracking framing without output must agree exactly.
        assert_eq!(framing_only.decode(piece, None), progress);
        let progress = match progress {
            Ok(p) => p,
            Err(err) => return (Err(err), out),
        };
        consumed += progress.consumed;
        if progress.done {
            return (Ok((true, consumed)), out);
        }
        assert_eq!(
            progress.consumed,
            piece.len(),
            "an unfinished decoder consumes everything"
        );
    }
    (Ok((false, consumed)), out)
}

fn check(limits: ChunkLimits, input: &[u8], want: &Outcome) {
    let as_outcome =
        |(result, out): (Result<(bool, usize), ChunkError>, Vec<u8>)| match (result, want) {
            (Ok((true, consumed)), Done(data, _)) if out == *data => Done(data, consumed),
            (Ok((false, _)), More(data)) if out == *data => More(data),
            (Ok((true, consumed)), _) => panic!("done after {consumed} with {out:?}"),
            (Ok((false, _)), _) => panic!("needs more, data so far {out:?}"),
            (Err(err), _) => Fail(err),
        };
    let shown = String::from_utf8_lossy(input);
    assert_eq!(
        &as_outcome(feed(limits, &[input])),
        want,
        "whole: {shown:?}"
    );
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(
            &as_outcome(feed(limits, &[a, b])),
            want,
            "split at {cut}: {shown:?}"
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        &as_outcome(feed(limits, &bytes)),
        want,
        "byte by byte: {shown:?}"
    );
}

#[test]
fn chunked_rows() {
    let limits = ChunkLimits::default();
    let rows: &[(&[u8], Outcome)] = &[
        (b"0\r\n\r\n", Done(b"", 5)),
        (b"5\r\nhello\r\n0\r\n\r\n", Done(b"hello", 15)),
        (
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            Done(b"hello world", 26),
        ),
        (b"A\r\n0123456789\r\n0\r\n\r\n", Done(b"0123456789", 20)),
        (
            b"a\r\n0123456789\r\n0\r\n\r\nGET / HTTP/1.1",
            Done(b"0123456789", 20),
        ),
        (b"000005\r\nhello\r\n0\r\n\r\n", Done(b"hello", 20)),
        (b"5;name=value\r\nhello\r\n0;x\r\n\r\n", Done(b"hello", 28)),
        (b"5 ; a=\"q s\"\r\nhello\r\n0\r\n\r\n", Done(b"hello", 25)),
        (b"0\r\nTrailer-A: 1\r\nB:\r\n\r\n", Done(b"", 23)),
        (b"0\r\nTrailer-A: 1\r\n\r\nrest", Done(b"", 19)),
        (b"ffffffffffffffff\r\nab", More(b"ab")),
        (b"", More(b"")),
        (b"5\r\nhel", More(b"hel")),
        (b"5\r\nhello\r\n", More(b"hello")),
        (b"0\r\n\r", More(b"")),
        // Sizes.
        (b"\r\n", Fail(ChunkError::InvalidSize)),
        (b";x\r\n", Fail(ChunkError::InvalidSize)),
        (b"g\r\n", Fail(ChunkError::InvalidSize)),
        (b"-1\r\n", Fail(ChunkError::InvalidSize)),
        (b"0x5\r\n", Fail(ChunkError::InvalidSize)),
        (b"5 \r\nhello\r\n", Fail(ChunkError::InvalidSize)),
        (b"5 x\r\n", Fail(ChunkError::InvalidSize)),
        (b"10000000000000000\r\n", Fail(ChunkError::SizeTooLong)),
        (b"00000000000000005\r\n", Fail(ChunkError::SizeTooLong)),
        // Line endings.
        (b"5\nhello\r\n", Fail(ChunkError::BadLineEnding)),
        (b"5\rxhello\r\n", Fail(ChunkError::BadLineEnding)),
        (b"5;a\nhello", Fail(ChunkError::BadLineEnding)),
        (b"5;a\0\r\n", Fail(ChunkError::InvalidExtension)),
        (b"5\r\nhelloX\r\n", Fail(ChunkError::MissingCrlfAfterData)),
        (
            b"5\r\nhello\n0\r\n\r\n",
            Fail(ChunkError::MissingCrlfAfterData),
        ),
        (b"5\r\nhello\rX", Fail(ChunkError::MissingCrlfAfterData)),
        // Trailers.
        (b"0\r\nX : 1\r\n\r\n", Fail(ChunkError::MalformedTrailer)),
        (b"0\r\n folded\r\n\r\n", Fail(ChunkError::MalformedTrailer)),
        (b"0\r\nNoColon\r\n\r\n", Fail(ChunkError::MalformedTrailer)),
        (b"0\r\nX: a\rb\r\n\r\n", Fail(ChunkError::MalformedTrailer)),
        (b"0\r\nX: a\n\r\n", Fail(ChunkError::MalformedTrailer)),
        (b"0\r\n\rX", Fail(ChunkError::MalformedTrailer)),
        (b"0\r\n\n", Fail(ChunkError::MalformedTrailer)),
    ];
    for (input, want) in rows {
        check(limits, input, want);
    }
}

#[test]
fn limit_rows() {
    let limits = ChunkLimits {
        max_chunk_ext_bytes: 4,
        max_trailer_bytes: 8,
        ..ChunkLimits::default()
    };
    let rows: &[(&[u8], Outcome)] = &[
        (b"1;abc\r\nx\r\n0\r\n\r\n", Done(b"x", 15)),
        (b"1;abcd\r\nx\r\n", Fail(ChunkError::ExtensionTooLong)),
        (b"1   ;a\r\n", Fail(ChunkError::ExtensionTooLong)),
        // The limit is per chunk, not per body.
        (
            b"1;abc\r\nx\r\n1;abc\r\ny\r\n0;abc\r\n\r\n",
            Done(b"xy", 29),
        ),
        (b"0\r\nA: 123\r\n\r\n", Done(b"", 13)),
        (b"0\r\nA: 1234\r\n\r\n", Fail(ChunkError::TrailerTooLong)),
        (
            b"0\r\nA:1\r\nB:22\r\n\r\n",
            Fail(ChunkError::TrailerTooLong),
        ),
    ];
    for (input, want) in rows {
        check(limits, input, want);
    }
    let zero = ChunkLimits {
        max_chunk_ext_bytes: 0,
        max_trailer_bytes: 0,
        max_data_bytes: 0,
    };
    check(zero, b"0\r\n\r\n", &Done(b"", 5));
    check(zero, b"1\r\nx\r\n0\r\n\r\n", &Fail(ChunkError::TooLarge));
    check(zero, b"0;\r\n\r\n", &Fail(ChunkError::ExtensionTooLong));
}

/// A chunk size that would take the body beyond `max_data_bytes` is refused as soon as its
/// digits end (CR, whitespace or `;`), before its data would arrive.
#[test]
fn data_limit_rows() {
    let limits = ChunkLimits {
        max_data_bytes: 10,
        ..ChunkLimits::default()
    };
    let rows: &[(&[u8], Outcome)] = &[
        (b"a\r\n0123456789\r\n0\r\n\r\n", Done(b"0123456789", 20)),
        (
            b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
            Done(b"helloworld", 25),
        ),
        (b"00000a\r\n", More(b"")),
        // Still digits: it may yet be a malformed size (400), so not refused yet.
        (b"ffffffffffffffff", More(b"")),
        (b"10000000000000000\r\n", Fail(ChunkError::SizeTooLong)),
        (b"b\r", Fail(ChunkError::TooLarge)),
        (b"b\r\n0123456789a\r\n", Fail(ChunkError::TooLarge)),
        (b"10;", Fail(ChunkError::TooLarge)),
        (b"10 ", Fail(ChunkError::TooLarge)),
        (b"ffffffffffffffff\r", Fail(ChunkError::TooLarge)),
        // Cumulative: the sizes announced so far count.
        (b"5\r\nhello\r\n6\r", Fail(ChunkError::TooLarge)),
        (
            b"5\r\nhello\r\n5\r\nworld\r\n1;x\r\n",
            Fail(ChunkError::TooLarge),
        ),
    ];
    for (input, want) in rows {
        check(limits, input, want);
    }
    // Without a limit, sizes that sum beyond u64 are refused rather than overflowed.
    check(ChunkLimits::default(), b"ffffffffffffffff\r\n", &More(b""));
    let mut decoder = ChunkedDecoder::new(ChunkLimits::default());
    let mut body = b"1\r\nx\r\n".to_vec();
    body.extend_from_slice(b"ffffffffffffffff\r");
    assert_eq!(decoder.decode(&body, None), Err(ChunkError::TooLarge));
}

#[test]
fn errors_and_completion_are_sticky() {
    let mut decoder = ChunkedDecoder::new(ChunkLimits::default());
    assert_eq!(decoder.decode(b"z", None), Err(ChunkError::InvalidSize));
    assert_eq!(
        decoder.decode(b"0\r\n\r\n", None),
        Err(ChunkError::InvalidSize)
    );
    assert_eq!(decoder.decode(b"", None), Err(ChunkError::InvalidSize));

    let mut decoder = ChunkedDecoder::new(ChunkLimits::default());
    let done = Ok(Progress {
        consumed: 5,
        done: true,
    });
    assert_eq!(decoder.decode(b"0\r\n\r\n", None), done);
    assert_eq!(
        decoder.decode(b"more", None),
        Ok(Progress {
            consumed: 0,
            done: true
        })
    );
}

#[test]
fn encode_rows() {
    let rows: &[(&[u8], &[u8])] = &[
        (b"", b""),
        (b"a", b"1\r\na\r\n"),
        (b"hello world", b"b\r\nhello world\r\n"),
        (
            &[7u8; 16],
            b"10\r\n\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\r\n",
        ),
    ];
    for (data, want) in rows {
        let mut out = b"prefix".to_vec();
        encode_chunk(data, &mut out);
        assert_eq!(out.get(6..), Some(*want), "{data:?}");
    }
}

#[test]
fn encoded_chunks_decode_back() {
    let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let mut wire = Vec::new();
    for piece in data.chunks(777) {
        encode_chunk(piece, &mut wire);
    }
    wire.extend_from_slice(LAST_CHUNK);
    let mut out = Vec::new();
    let progress = ChunkedDecoder::new(ChunkLimits::default()).decode(&wire, Some(&mut out));
    assert_eq!(
        progress,
        Ok(Progress {
            consumed: wire.len(),
            done: true
        })
    );
    assert_eq!(out, data);
}
