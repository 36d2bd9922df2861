//! Splitting a byte stream into PDUs, and turning one PDU's bytes into a [`Command`].
//!
//! Framing is kept apart from decoding on purpose: rusmpp's own codec decodes from the shared
//! buffer, so one malformed PDU leaves bytes behind and misframes everything after it. Here a frame
//! is cut by its `command_length` first and decoded alone, so a bad PDU costs one `generic_nack`,
//! never the bind.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rusmpp::decode::DecodeWithLength;
use rusmpp::{Command, CommandId, CommandStatus};
use tokio_util::codec::{Decoder, Encoder};

/// Large enough for a 64 KiB `message_payload`, small enough that a hostile length cannot make us
/// buffer much.
pub const DEFAULT_MAX_PDU_LEN: usize = 70 * 1024;

/// `command_length` + `command_id` + `command_status` + `sequence_number`.
pub const HEADER_LEN: usize = 16;

/// What the framer yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole PDU without its length field: `command_id`, `command_status`, `sequence_number`,
    /// body.
    Pdu(BytesMut),
    /// A PDU whose `command_length` was out of bounds. Its bytes were skipped (or, when the length
    /// is below the header size, cannot be skipped reliably: `resync` is false and the stream
    /// should be closed after answering).
    BadLength {
        command_length: u32,
        command_id: u32,
        sequence_number: u32,
        resync: bool,
    },
}

/// Splits a stream into [`Frame`]s by `command_length`, skipping oversized PDUs instead of
/// buffering them.
#[derive(Debug)]
pub struct FrameCodec {
    max_len: usize,
    /// Bytes of an oversized PDU still to discard.
    skipping: usize,
}

impl FrameCodec {
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len: max_len.max(HEADER_LEN),
            skipping: 0,
        }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PDU_LEN)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if self.skipping > 0 {
            let n = self.skipping.min(src.len());
            src.advance(n);
            self.skipping -= n;
            if self.skipping > 0 {
                return Ok(None);
            }
        }
        if src.len() < 4 {
            return Ok(None);
        }
        let command_length = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        let len = command_length as usize;
        if len < HEADER_LEN || len > self.max_len {
            // Read the header fields we can see, so the answer carries the peer's sequence number.
            if src.len() < HEADER_LEN && len >= HEADER_LEN {
                return Ok(None);
            }
            let word = |at: usize| {
                src.get(at..at + 4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(0)
            };
            let (command_id, sequence_number) = (word(4), word(12));
            let resync = len >= HEADER_LEN;
            if resync {
                let n = len.min(src.len());
                src.advance(n);
                self.skipping = len - n;
            } else {
                src.clear();
            }
            return Ok(Some(Frame::BadLength {
                command_length,
                command_id,
                sequence_number,
                resync,
            }));
        }
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(len);
        frame.advance(4);
        Ok(Some(Frame::Pdu(frame)))
    }
}

impl Encoder<&Command> for FrameCodec {
    type Error = std::io::Error;

    fn encode(&mut self, command: &Command, dst: &mut BytesMut) -> Result<(), Self::Error> {
        encode_into(command, dst);
        Ok(())
    }
}

/// Appends `command` with its length field to `dst`.
pub fn encode_into(command: &Command, dst: &mut BytesMut) {
    let mut codec = rusmpp::tokio_codec::CommandCodec::new();
    // The rusmpp encoder only fails on I/O, which a BytesMut never does.
    let _ = Encoder::<&Command>::encode(&mut codec, command, dst);
}

/// `command` as wire bytes, length field included.
pub fn encode(command: &Command) -> Bytes {
    let mut buf = BytesMut::new();
    encode_into(command, &mut buf);
    buf.freeze()
}

/// A response with no body, as SMPP 3.4 §4.4.2 wants for errors (and `generic_nack` always).
pub fn empty_response(command_id: u32, status: u32, sequence_number: u32) -> Bytes {
    let mut buf = BytesMut::with_capacity(HEADER_LEN);
    buf.put_u32(HEADER_LEN as u32);
    buf.put_u32(command_id);
    buf.put_u32(status);
    buf.put_u32(sequence_number);
    buf.freeze()
}

/// A frame that could not be decoded, with what is needed to answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable PDU (command_id {command_id:#010x}, sequence {sequence_number}): {reason}")]
pub struct BadPdu {
    pub command_id: u32,
    pub command_status: u32,
    pub sequence_number: u32,
    pub reason: String,
    /// The body after the header, for a fallback reader.
    pub body: Bytes,
}

impl BadPdu {
    /// The status to answer with: unknown command ids and short frames have their own codes.
    pub fn nack_status(&self) -> CommandStatus {
        match CommandId::from(self.command_id) {
            CommandId::Other(_) => CommandStatus::EsmeRinvcmdid,
            _ => CommandStatus::EsmeRinvcmdlen,
        }
    }
}

/// Decodes one frame (as yielded by [`FrameCodec`]). Never panics.
pub fn decode(mut frame: BytesMut) -> Result<Command, BadPdu> {
    let word = |f: &BytesMut, at: usize| {
        f.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    };
    let (command_id, command_status, sequence_number) =
        (word(&frame, 0), word(&frame, 4), word(&frame, 8));
    let bad = |reason: String, frame: &BytesMut| BadPdu {
        command_id,
        command_status,
        sequence_number,
        reason,
        body: Bytes::copy_from_slice(frame.get(12..).unwrap_or_default()),
    };
    if frame.len() < HEADER_LEN - 4 {
        return Err(bad("frame shorter than the PDU header".into(), &frame));
    }
    if let CommandId::Other(id) = CommandId::from(command_id) {
        return Err(bad(format!("unknown command_id {id:#010x}"), &frame));
    }
    let original = frame.clone();
    let len = frame.len();
    match <Command as DecodeWithLength>::decode(&mut frame, len) {
        Ok((command, used)) if used == len => Ok(command),
        Ok((_, used)) => Err(bad(
            format!("{} bytes left after the PDU", len - used),
            &original,
        )),
        Err(e) => Err(bad(e.to_string(), &original)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rusmpp::Pdu;

    fn frames(bytes: &[u8]) -> Vec<Frame> {
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn enquire_link_round_trips() {
        let cmd = Command::new(CommandStatus::EsmeRok, 7, Pdu::EnquireLink);
        let wire = encode(&cmd);
        assert_eq!(
            &wire[..],
            &[0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7]
        );
        let got = frames(&wire);
        let Frame::Pdu(f) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(decode(f.clone()).unwrap(), cmd);
    }

    #[test]
    fn a_bad_pdu_does_not_misframe_the_next_one() {
        // An enquire_link with a stray body byte, then a good enquire_link.
        let mut bytes = vec![0, 0, 0, 17, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF];
        bytes.extend_from_slice(&encode(&Command::new(
            CommandStatus::EsmeRok,
            2,
            Pdu::EnquireLink,
        )));
        let got = frames(&bytes);
        assert_eq!(got.len(), 2);
        let Frame::Pdu(first) = &got[0] else { panic!() };
        let err = decode(first.clone()).unwrap_err();
        assert_eq!(err.sequence_number, 1);
        let Frame::Pdu(second) = &got[1] else {
            panic!()
        };
        assert_eq!(decode(second.clone()).unwrap().sequence_number, 2);
    }

    #[test]
    fn oversized_pdus_are_skipped_and_reported() {
        let mut bytes = vec![0, 0, 4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9];
        bytes.resize(1024, 0x41);
        bytes.extend_from_slice(&encode(&Command::new(
            CommandStatus::EsmeRok,
            3,
            Pdu::EnquireLink,
        )));
        // Feed in small pieces to exercise the skip state.
        let mut codec = FrameCodec::new(1000);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in bytes.chunks(100) {
            buf.extend_from_slice(chunk);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        assert!(matches!(
            out[0],
            Frame::BadLength {
                sequence_number: 9,
                resync: true,
                ..
            }
        ));
        let Frame::Pdu(f) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(decode(f.clone()).unwrap().sequence_number, 3);
    }

    #[test]
    fn unknown_command_ids_get_invalid_command_id() {
        let bytes = [0, 0, 0, 16, 0, 0, 0x77, 0x77, 0, 0, 0, 0, 0, 0, 0, 5];
        let Frame::Pdu(f) = &frames(&bytes)[0] else {
            panic!()
        };
        let err = decode(f.clone()).unwrap_err();
        assert_eq!(err.nack_status(), CommandStatus::EsmeRinvcmdid);
        assert_eq!(err.sequence_number, 5);
    }

    #[test]
    fn empty_error_response_is_sixteen_bytes() {
        let wire = empty_response(0x8000_0004, 0x0B, 42);
        assert_eq!(wire.len(), 16);
        let Frame::Pdu(f) = &frames(&wire)[0] else {
            panic!()
        };
        let cmd = decode(f.clone()).unwrap();
        assert_eq!(cmd.status(), CommandStatus::EsmeRinvdstadr);
        assert!(cmd.pdu().is_none());
    }

    proptest! {
        #[test]
        fn framing_and_decoding_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut codec = FrameCodec::new(512);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(f)) = codec.decode(&mut buf) {
                if let Frame::Pdu(f) = f {
                    let _ = decode(f);
                }
            }
        }

        #[test]
        fn any_body_after_a_valid_header_decodes_or_errors(id in prop::sample::select(vec![4u32, 5, 9, 0x103, 0x8000_0004, 0x8000_0009]), body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut f = BytesMut::new();
            f.put_u32(id);
            f.put_u32(0);
            f.put_u32(1);
            f.extend_from_slice(&body);
            let _ = decode(f);
        }
    }
}
