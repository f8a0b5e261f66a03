//! A property test: `StreamReader` fed random input in random chunks gives,
//! call after call, what a plain in-memory model of the same calls gives.

use aio::streams::{StreamError, StreamReader};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Read(usize),
    Readline,
    Readexactly(usize),
    Readuntil(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1usize..12).prop_map(Op::Read),
        Just(Op::Readline),
        (0usize..12).prop_map(Op::Readexactly),
        prop_oneof![
            Just(b"\n".to_vec()),
            Just(b"ab".to_vec()),
            Just(b"aba".to_vec())
        ]
        .prop_map(Op::Readuntil),
    ]
}

/// What the model says a call returns.
#[derive(Debug, PartialEq)]
enum Outcome {
    Data(Vec<u8>),
    Incomplete(Vec<u8>),
    Overrun,
}

/// The model: all input known up front, consumed from the front.
struct Model {
    data: Vec<u8>,
    pos: usize,
    limit: usize,
}

impl Model {
    fn rest(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.rest()[..n].to_vec();
        self.pos += n;
        out
    }

    fn until(&mut self, sep: &[u8], eof_is_ok: bool) -> Outcome {
        let rest = self.rest();
        match rest.windows(sep.len()).position(|w| w == sep) {
            Some(start) if start > self.limit => Outcome::Overrun,
            Some(start) => Outcome::Data(self.take(start + sep.len())),
            // With no separator at all, the reader overruns once more than
            // the limit (plus a separator's length) is buffered.
            None if rest.len() + 1 > self.limit + sep.len() => Outcome::Overrun,
            None if eof_is_ok => Outcome::Data(self.take(rest.len())),
            None => Outcome::Incomplete(self.take(rest.len())),
        }
    }
}

async fn run_case(data: Vec<u8>, cuts: Vec<usize>, limit: usize, ops: Vec<Op>) {
    let mut reader = StreamReader::with_limit(limit);
    let feeder = reader.feeder();
    let mut chunks = Vec::new();
    let mut last = 0;
    let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts.into_iter().chain([data.len()]) {
        chunks.push(data[last..c].to_vec());
        last = c;
    }
    let feeding = aio::spawn(async move {
        for chunk in chunks {
            aio::yield_now().await;
            feeder.feed_data(&chunk);
        }
        aio::yield_now().await;
        feeder.feed_eof();
    });

    let mut model = Model {
        data,
        pos: 0,
        limit,
    };
    for op in ops {
        match op {
            Op::Read(n) => {
                let got = reader.read(n).await.unwrap();
                // Chunking decides how much comes; the model checks it is a
                // prefix of what is left, non-empty unless at EOF.
                let rest = model.rest();
                assert!(got.len() <= n && rest.starts_with(&got), "{op:?}: {got:?}");
                assert_eq!(got.is_empty(), rest.is_empty(), "{op:?} at EOF");
                model.pos += got.len();
            }
            Op::Readline => {
                let want = model.until(b"\n", true);
                let got = match reader.readline().await {
                    Ok(line) => Outcome::Data(line),
                    Err(StreamError::LimitOverrun(_)) => Outcome::Overrun,
                    Err(e) => panic!("readline: {e}"),
                };
                assert_eq!(got, want, "{op:?}");
            }
            Op::Readexactly(n) => {
                let rest = model.rest().len();
                let want = if rest >= n {
                    Outcome::Data(model.take(n))
                } else {
                    Outcome::Incomplete(model.take(rest))
                };
                let got = match reader.readexactly(n).await {
                    Ok(d) => Outcome::Data(d),
                    Err(StreamError::Incomplete(e)) => {
                        assert_eq!(e.expected, Some(n));
                        Outcome::Incomplete(e.partial)
                    }
                    Err(e) => panic!("readexactly: {e}"),
                };
                assert_eq!(got, want, "{op:?}");
            }
            Op::Readuntil(ref sep) => {
                let want = model.until(sep, false);
                let got = match reader.readuntil(sep).await {
                    Ok(d) => Outcome::Data(d),
                    Err(StreamError::Incomplete(e)) => Outcome::Incomplete(e.partial),
                    Err(StreamError::LimitOverrun(_)) => Outcome::Overrun,
                    Err(e) => panic!("readuntil: {e}"),
                };
                assert_eq!(got, want, "{op:?}");
            }
        }
    }
    feeding.cancel();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reader_matches_the_model(
        data in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n'), Just(b'x')], 0..80),
        cuts in proptest::collection::vec(0usize..100, 0..8),
        limit in 1usize..20,
        ops in proptest::collection::vec(op(), 1..20),
    ) {
        aio::run(run_case(data, cuts, limit, ops));
    }
}
