//! Binary frames (§1.2): cloud replies `format_version | req_id_len | req_id | data_len | data`
//! and the device's `upload_log` with its `cmd` field; every length is a little-endian u32.

/// A decoded binary reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryReply {
    pub format_version: u32,
    pub req_id: String,
    pub data: Vec<u8>,
}

/// A decoded `upload_log` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadLog {
    pub req_id: String,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BinaryError {
    #[error("binary frame ends inside `{0}`")]
    Truncated(&'static str),
    #[error("format_version is {0}, expected 1")]
    Version(u32),
    #[error("cmd is {0:?}, expected \"upload_log\" with cmd_len 10")]
    Cmd(String),
    #[error("`{0}` is not UTF-8")]
    NotUtf8(&'static str),
    #[error("{0} trailing bytes after data")]
    Trailing(usize),
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u32(&mut self, what: &'static str) -> Result<u32, BinaryError> {
        let (head, rest) = self
            .bytes
            .split_at_checked(4)
            .ok_or(BinaryError::Truncated(what))?;
        self.bytes = rest;
        Ok(u32::from_le_bytes(head.try_into().expect("4 bytes")))
    }
    fn field(&mut self, what: &'static str) -> Result<&'a [u8], BinaryError> {
        let len = self.u32(what)? as usize;
        let (head, rest) = self
            .bytes
            .split_at_checked(len)
            .ok_or(BinaryError::Truncated(what))?;
        self.bytes = rest;
        Ok(head)
    }
    fn text(&mut self, what: &'static str) -> Result<String, BinaryError> {
        String::from_utf8(self.field(what)?.to_vec()).map_err(|_| BinaryError::NotUtf8(what))
    }
    fn finish(self) -> Result<(), BinaryError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(BinaryError::Trailing(self.bytes.len()))
        }
    }
}

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_le_bytes());
    out.extend_from_slice(field);
}

pub fn encode_reply(req_id: &str, data: &[u8]) -> Vec<u8> {
    let mut out = 1u32.to_le_bytes().to_vec();
    put(&mut out, req_id.as_bytes());
    put(&mut out, data);
    out
}

pub fn decode_reply(bytes: &[u8]) -> Result<BinaryReply, BinaryError> {
    let mut r = Reader { bytes };
    let format_version = r.u32("format_version")?;
    if format_version != 1 {
        return Err(BinaryError::Version(format_version));
    }
    let req_id = r.text("req_id")?;
    let data = r.field("data")?.to_vec();
    r.finish()?;
    Ok(BinaryReply {
        format_version,
        req_id,
        data,
    })
}

pub fn encode_upload_log(req_id: &str, data: &[u8]) -> Vec<u8> {
    let mut out = 1u32.to_le_bytes().to_vec();
    put(&mut out, b"upload_log");
    put(&mut out, req_id.as_bytes());
    put(&mut out, data);
    out
}

pub fn decode_upload_log(bytes: &[u8]) -> Result<UploadLog, BinaryError> {
    let mut r = Reader { bytes };
    let v = r.u32("format_version")?;
    if v != 1 {
        return Err(BinaryError::Version(v));
    }
    let cmd = r.text("cmd")?;
    if cmd != "upload_log" {
        return Err(BinaryError::Cmd(cmd));
    }
    let req_id = r.text("req_id")?;
    let data = r.field("data")?.to_vec();
    r.finish()?;
    Ok(UploadLog { req_id, data })
}

/// What the recorded first bytes `b` of a binary frame of `total` bytes say, read with the
/// layout (§1.2): `format_version | [cmd_len | "upload_log"] | req_id_len | req_id | data_len
/// | data`. The head may end anywhere (the transcript keeps the first bytes only); a frame
/// that does not add up is not in the layout.
pub fn read_head(b: &[u8], total: usize) -> Option<crate::profile::BinaryHead> {
    let u32_at = |at: usize| {
        b.get(at..at + 4)
            .map(|x| u32::from_le_bytes(x.try_into().expect("4 bytes")) as usize)
    };
    if u32_at(0)? != 1 {
        return None;
    }
    let upload_log = u32_at(4) == Some(10) && b.get(8..18) == Some(b"upload_log".as_slice());
    let label = if upload_log { "v1 upload_log" } else { "v1" }.to_string();
    let mut at = if upload_log { 18 } else { 4 };
    let req_id_len = u32_at(at)?;
    at += 4;
    if req_id_len > total.saturating_sub(at + 4) {
        return None;
    }
    let Some(id) = b.get(at..at + req_id_len) else {
        return Some(crate::profile::BinaryHead {
            label,
            req_id: Err(req_id_len),
            data_len: None,
            data_head: Vec::new(),
        });
    };
    let req_id = std::str::from_utf8(id).ok()?.to_string();
    at += req_id_len;
    let data_len = u32_at(at);
    if let Some(n) = data_len {
        if at + 4 + n != total {
            return None;
        }
    }
    Some(crate::profile::BinaryHead {
        label,
        req_id: Ok(req_id),
        data_len,
        data_head: b.get(at + 4..).unwrap_or(&[]).to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reply_round_trips(req_id in ".{0,20}", data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let enc = encode_reply(&req_id, &data);
            prop_assert_eq!(decode_reply(&enc).unwrap(), BinaryReply { format_version: 1, req_id: req_id.clone(), data: data.clone() });
            let up = encode_upload_log(&req_id, &data);
            prop_assert_eq!(decode_upload_log(&up).unwrap(), UploadLog { req_id, data });
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_reply(&bytes);
            let _ = decode_upload_log(&bytes);
        }
    }

    #[test]
    fn truncation_is_named() {
        let enc = encode_reply("r1", b"abc");
        assert_eq!(
            decode_reply(&enc[..enc.len() - 1]),
            Err(BinaryError::Truncated("data"))
        );
        assert_eq!(decode_reply(&[2, 0, 0, 0]), Err(BinaryError::Version(2)));
    }
}
