//! Any bytes, any splits: the chunked decoder never panics and the split never matters.
#![no_main]

use cuttle::http::{ChunkError, ChunkLimits, ChunkedDecoder};
use libfuzzer_sys::fuzz_target;

/// Feeds the pieces in order; returns (result, bytes consumed in total or 0 on error, decoded output).
fn feed(limits: ChunkLimits, pieces: &[&[u8]]) -> (Result<bool, ChunkError>, usize, Vec<u8>) {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut framing = ChunkedDecoder::new(limits);
    let (mut out, mut consumed) = (Vec::new(), 0);
    for piece in pieces {
        let progress = decoder.decode(piece, Some(&mut out));
        assert_eq!(
            progress,
            framing.decode(piece, None),
            "output must not change framing"
        );
        match progress {
            Err(err) => return (Err(err), 0, out),
            Ok(p) => {
                assert!(p.consumed <= piece.len());
                consumed += p.consumed;
                if p.done {
                    return (Ok(true), consumed, out);
                }
                assert_eq!(
                    p.consumed,
                    piece.len(),
                    "unfinished decoders consume everything"
                );
            }
        }
    }
    (Ok(false), consumed, out)
}

fuzz_target!(|data: &[u8]| {
    // Two leading bytes choose the cut points; small limits keep the limit paths reachable.
    let [a, b, input @ ..] = data else { return };
    let limits = ChunkLimits {
        max_chunk_ext_bytes: usize::from(*a & 0x1f),
        max_trailer_bytes: usize::from(*b & 0x3f),
        max_data_bytes: if *a & 0x80 != 0 {
            u64::from(*b)
        } else {
            u64::MAX
        },
    };
    let len = input.len().max(1);
    let (mut i, mut j) = (usize::from(*a) * 7 % len, usize::from(*b) * 13 % len);
    if i > j {
        std::mem::swap(&mut i, &mut j);
    }
    let whole = feed(limits, &[input]);
    let (p1, rest) = input.split_at(i.min(input.len()));
    let (p2, p3) = rest.split_at((j - i).min(rest.len()));
    assert_eq!(feed(limits, &[p1, p2, p3]), whole, "split at {i},{j}");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(feed(limits, &bytes), whole, "byte by byte");
    assert!(whole.1 <= input.len());
});
