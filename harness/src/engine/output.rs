//! What the commands the harness starts write (the `exec:` device, `--device-reset`, the
//! upper tester) enters the scenario's transcript line by line as it is written, on the
//! scenario clock: a vendor debugging a failure reads the device's log beside the frames.

use super::recorder::{Recorder, MAX_OUTPUT_LINE};
use super::transcript::{OutputSource, OutputStream};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of a line held before it is recorded: the kept part and room for a credential
/// straddling the cut, which is scrubbed before the line is cut (cut first, a secret there
/// would keep its first characters).
const HELD: usize = MAX_OUTPUT_LINE + 256;

/// Reads `pipe` to its end (or a read error), recording each line; `each` sees every line
/// scrubbed, recorded or past the caps, for a caller that keeps the last words for a message.
pub async fn record_lines(
    mut pipe: impl AsyncRead + Unpin,
    rec: &Recorder,
    source: OutputSource,
    stream: OutputStream,
    mut each: impl FnMut(&str),
) {
    let mut chunk = [0u8; 4096];
    let mut line: Vec<u8> = Vec::new();
    let mut cut = 0usize;
    let mut emit = |line: &mut Vec<u8>, cut: &mut usize| {
        each(&rec.output(source, stream, line, *cut));
        line.clear();
        *cut = 0;
    };
    loop {
        let n = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut data = &chunk[..n];
        while let Some(nl) = data.iter().position(|b| *b == b'\n') {
            hold(&mut line, &mut cut, &data[..nl]);
            emit(&mut line, &mut cut);
            data = &data[nl + 1..];
        }
        hold(&mut line, &mut cut, data);
    }
    if !line.is_empty() || cut > 0 {
        emit(&mut line, &mut cut);
    }
}

/// Appends what fits of `data` to the held line and counts the rest.
fn hold(line: &mut Vec<u8>, cut: &mut usize, data: &[u8]) {
    let room = HELD.saturating_sub(line.len()).min(data.len());
    line.extend_from_slice(&data[..room]);
    *cut += data.len() - room;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::clock::ScenarioClock;
    use crate::engine::recorder::{MAX_OUTPUT_BYTES, MAX_OUTPUT_LINES};
    use crate::engine::transcript::TranscriptEvent;

    fn recorder() -> Recorder {
        Recorder::new(
            ScenarioClock::start(0),
            vec!["planted-secret-no".into()],
            crate::profile::default_profile(),
        )
    }

    fn lines(rec: &Recorder) -> Vec<(String, usize)> {
        rec.take()
            .entries
            .into_iter()
            .filter_map(|e| match e.event {
                TranscriptEvent::Output { line, cut, .. } => Some((line, cut)),
                _ => None,
            })
            .collect()
    }

    /// Lines split across reads, a last line without a break, CRLF, invalid UTF-8, an
    /// overlong line with a secret straddling its cut, secrets as known values and under
    /// secret keys of a JSON part: recorded in order, whole where they fit, never a secret.
    #[tokio::test]
    async fn lines_are_recorded_bounded_and_scrubbed() {
        let rec = recorder();
        let long = format!(
            "{}planted-secret-no{}",
            "x".repeat(MAX_OUTPUT_LINE - 5),
            "y".repeat(3000)
        );
        let input = [
            b"boot ok\r\nkey planted-secret-no in use\n".to_vec(),
            b"bad \xff\xfe bytes\x1b[2J\n".to_vec(),
            br#"tx {"cmd":"x","body":{"secret":"issued-7","n":1}} done"#.to_vec(),
            b"\nissued-7 again\n".to_vec(),
            long.into_bytes(),
            b"\nlast words".to_vec(),
        ]
        .concat();
        let (mut w, r) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            w.write_all(&input).await.unwrap();
        });
        let mut seen = Vec::new();
        record_lines(r, &rec, OutputSource::Device, OutputStream::Stderr, |l| {
            seen.push(l.to_string())
        })
        .await;
        writer.await.unwrap();
        let got = lines(&rec);
        assert_eq!(got.len(), 7, "{got:?}");
        assert_eq!(got[0], ("boot ok".into(), 0));
        assert_eq!(got[1].0, "key <redacted> in use");
        assert_eq!(got[2].0, "bad \u{fffd}\u{fffd} bytes\\u{1b}[2J");
        assert!(
            got[3].0.starts_with("tx {") && got[3].0.ends_with("} done"),
            "{got:?}"
        );
        assert!(!got[3].0.contains("issued-7"), "{got:?}");
        assert_eq!(
            got[4].0, "<redacted> again",
            "learnt from the JSON line before"
        );
        assert_eq!(got[6], ("last words".into(), 0));
        let (overlong, cut) = lines_overlong(&got);
        assert!(overlong.len() <= MAX_OUTPUT_LINE, "{}", overlong.len());
        // The secret starts five bytes before the cut: none of it may be kept.
        assert!(!overlong.contains("plant"), "{overlong}");
        assert!(cut > 2900, "{cut}");
        assert_eq!(seen.len(), 7);
        assert_eq!(seen[6], "last words");
    }

    fn lines_overlong(got: &[(String, usize)]) -> (String, usize) {
        got.iter()
            .find(|(_, cut)| *cut > 0)
            .cloned()
            .expect("the overlong line says it was cut")
    }

    /// A flood of output is capped in lines and bytes, and the end says how much was left out.
    #[tokio::test]
    async fn a_flood_is_capped_with_a_note() {
        let rec = recorder();
        let flood = "line of a chatty device\n".repeat(MAX_OUTPUT_LINES + 10);
        record_lines(
            flood.as_bytes(),
            &rec,
            OutputSource::Device,
            OutputStream::Stdout,
            |_| {},
        )
        .await;
        let t = rec.take();
        let outputs = t
            .entries
            .iter()
            .filter(|e| matches!(e.event, TranscriptEvent::Output { .. }))
            .count();
        assert_eq!(outputs, MAX_OUTPUT_LINES);
        assert!(matches!(&t.entries.last().unwrap().event,
            TranscriptEvent::Note { text } if text.starts_with("10 further lines of command output")));
        let rec = recorder();
        let wide = format!("{}\n", "w".repeat(1000)).repeat(400);
        record_lines(
            wide.as_bytes(),
            &rec,
            OutputSource::Device,
            OutputStream::Stdout,
            |_| {},
        )
        .await;
        let bytes: usize = lines(&rec).iter().map(|(l, _)| l.len()).sum();
        assert!(bytes <= MAX_OUTPUT_BYTES, "{bytes}");
    }
}
