//! TFRecord framing, as TensorFlow's `tf.io.TFRecordWriter` writes it: per record a
//! little-endian u64 length, the masked CRC32C of those 8 bytes, the data, and the masked
//! CRC32C of the data (`((crc >> 15) | (crc << 17)) + 0xa282ead8`). Shards may be
//! gzip-compressed as a whole (`tf.io.TFRecordOptions(compression_type="GZIP")`).
//!
//! The reader streams: memory is one record. A record whose data fails its CRC is reported
//! with its byte offset and skipped; a length that fails its CRC cannot be trusted, so the
//! reader reports it and looks for the next place where a length and its CRC agree.

use std::io::{self, BufRead, BufReader, Read, Write};

const MASK_DELTA: u32 = 0xa282_ead8;

/// TensorFlow's masked CRC32C.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    (crc.rotate_right(15)).wrapping_add(MASK_DELTA)
}

/// Longest record the reader accepts (a length beyond it is taken for corruption).
pub const MAX_RECORD: u64 = 1 << 31;

/// What went wrong at one place of a shard.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(
        "byte {offset}: the record's length fails its CRC (resynchronised after {skipped} bytes)"
    )]
    Length { offset: u64, skipped: u64 },
    #[error("byte {offset}: the record's data ({len} bytes) fails its CRC")]
    Data { offset: u64, len: u64 },
    #[error("byte {offset}: the shard ends inside a record ({missing} bytes missing)")]
    Truncated { offset: u64, missing: u64 },
    #[error("byte {offset}: {source}")]
    Io { offset: u64, source: io::Error },
}

impl RecordError {
    /// Byte offset of the record in the (uncompressed) shard.
    pub fn offset(&self) -> u64 {
        match self {
            RecordError::Length { offset, .. }
            | RecordError::Data { offset, .. }
            | RecordError::Truncated { offset, .. }
            | RecordError::Io { offset, .. } => *offset,
        }
    }
}

/// One record's data and where it starts in the (uncompressed) shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub offset: u64,
    pub data: Vec<u8>,
}

/// Streams the records of a shard.
pub struct Reader<R: Read> {
    inner: BufReader<R>,
    offset: u64,
    done: bool,
    /// The record found after a resynchronisation, given after its report.
    stash: Option<Result<Record, RecordError>>,
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Self {
        Reader {
            inner: BufReader::with_capacity(1 << 16, inner),
            offset: 0,
            done: false,
            stash: None,
        }
    }

    /// Fills `buf` wholly; the number of bytes read when the stream ends first.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.offset += got as u64;
        Ok(got)
    }

    /// After a bad length at `start` (whose 12 header bytes are in `head`): slides one byte at
    /// a time until 12 bytes hold a length and its CRC, and leaves them in `head`. `None` at
    /// the end of the stream.
    fn resync(&mut self, head: &mut [u8; 12]) -> io::Result<Option<u64>> {
        let mut skipped = 0u64;
        loop {
            head.copy_within(1.., 0);
            let mut b = [0u8; 1];
            if self.fill(&mut b)? == 0 {
                return Ok(None);
            }
            head[11] = b[0];
            skipped += 1;
            if length_ok(head) {
                return Ok(Some(skipped));
            }
        }
    }

    fn next_record(&mut self) -> Option<Result<Record, RecordError>> {
        if self.done {
            return None;
        }
        let start = self.offset;
        let mut head = [0u8; 12];
        let got = match self.fill(&mut head) {
            Ok(n) => n,
            Err(source) => {
                return self.fail(RecordError::Io {
                    offset: start,
                    source,
                })
            }
        };
        if got == 0 {
            self.done = true;
            return None;
        }
        if got < 12 {
            return self.fail(RecordError::Truncated {
                offset: start,
                missing: (12 - got) as u64,
            });
        }
        let mut record_start = start;
        let mut pending: Option<RecordError> = None;
        if !length_ok(&head) {
            match self.resync(&mut head) {
                Ok(Some(skipped)) => {
                    record_start = self.offset - 12;
                    pending = Some(RecordError::Length {
                        offset: start,
                        skipped,
                    });
                }
                Ok(None) => {
                    let skipped = self.offset - start;
                    return self.fail(RecordError::Length {
                        offset: start,
                        skipped,
                    });
                }
                Err(source) => {
                    return self.fail(RecordError::Io {
                        offset: start,
                        source,
                    })
                }
            }
        }
        let len = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        let mut data = vec![0u8; len as usize];
        let mut crc = [0u8; 4];
        let read = self
            .fill(&mut data)
            .and_then(|n| Ok((n, self.fill(&mut crc)?)));
        match read {
            Err(source) => {
                return self.fail(RecordError::Io {
                    offset: record_start,
                    source,
                })
            }
            Ok((n, c)) if n < data.len() || c < 4 => {
                let missing = (data.len() - n + 4 - c) as u64;
                return self.fail(RecordError::Truncated {
                    offset: record_start,
                    missing,
                });
            }
            Ok(_) => {}
        }
        // A resynchronisation is reported first, the record found after it on the next call.
        let result = if u32::from_le_bytes(crc) != masked_crc(&data) {
            Err(RecordError::Data {
                offset: record_start,
                len,
            })
        } else {
            Ok(Record {
                offset: record_start,
                data,
            })
        };
        match pending {
            Some(e) => {
                self.stash = Some(result);
                Some(Err(e))
            }
            None => Some(result),
        }
    }

    fn fail(&mut self, e: RecordError) -> Option<Result<Record, RecordError>> {
        self.done = true;
        Some(Err(e))
    }
}

fn length_ok(head: &[u8; 12]) -> bool {
    let len = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(head[8..].try_into().expect("4 bytes"));
    len <= MAX_RECORD && crc == masked_crc(&head[..8])
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.stash.take() {
            return Some(r);
        }
        self.next_record()
    }
}

/// A reader of `inner`, through gzip or zlib when it begins with their magic bytes (a plain
/// shard begins with a record's length, whose first byte a zlib header would only match for
/// records of a size no Example has: 0x78 with a valid zlib check byte).
pub fn open(inner: impl Read + 'static) -> io::Result<Reader<Box<dyn Read>>> {
    let mut buf = BufReader::new(inner);
    let head = buf.fill_buf()?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let zlib = head.len() >= 2
        && head[0] == 0x78
        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
    let source: Box<dyn Read> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(buf))
    } else if zlib && !plain_record_start(head) {
        Box::new(flate2::bufread::ZlibDecoder::new(buf))
    } else {
        Box::new(buf)
    };
    Ok(Reader::new(source))
}

/// Whether `head` begins with a record length and its CRC.
fn plain_record_start(head: &[u8]) -> bool {
    head.len() >= 12 && length_ok(head[..12].try_into().expect("12 bytes"))
}

/// Writes records in TFRecord framing.
pub struct Writer<W: Write> {
    inner: W,
}

impl<W: Write> Writer<W> {
    pub fn new(inner: W) -> Self {
        Writer { inner }
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.inner.write_all(&len)?;
        self.inner.write_all(&masked_crc(&len).to_le_bytes())?;
        self.inner.write_all(data)?;
        self.inner.write_all(&masked_crc(data).to_le_bytes())
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(records: &[&[u8]]) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        for r in records {
            w.write(r).unwrap();
        }
        w.into_inner()
    }

    #[test]
    fn masked_crc_of_known_values() {
        // CRC32C of "123456789" is 0xE3069283 (RFC 3720's check value); masked as
        // TensorFlow masks it.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(
            masked_crc(b"123456789"),
            0xE306_9283u32.rotate_right(15).wrapping_add(MASK_DELTA)
        );
    }

    #[test]
    fn records_round_trip_plain_and_gzip() {
        let records: Vec<Vec<u8>> = (0..50).map(|i| vec![i as u8; i * 37]).collect();
        let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
        let plain = shard(&refs);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&plain).unwrap();
        let z = z.finish().unwrap();
        for bytes in [plain.clone(), gz, z] {
            let got: Vec<Record> = open(std::io::Cursor::new(bytes))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(got.len(), 50);
            let mut offset = 0;
            for (r, want) in got.iter().zip(&records) {
                assert_eq!((&r.data, r.offset), (want, offset));
                offset += 16 + want.len() as u64;
            }
        }
    }

    #[test]
    fn a_bad_record_is_reported_with_its_offset_and_the_rest_goes_on() {
        let records: [&[u8]; 4] = [b"first", b"second record", b"third", b"fourth"];
        let good = shard(&records);
        let second = 16 + 5;
        let third = second + 16 + 13;
        // Data corrupted: that record is reported, the others read.
        let mut bad = good.clone();
        bad[second as usize + 14] ^= 0xff;
        let got: Vec<_> = Reader::new(&bad[..]).collect();
        assert_eq!(got.len(), 4);
        assert!(matches!(got[1], Err(RecordError::Data { offset, len: 13 }) if offset == second));
        assert_eq!(got[2].as_ref().unwrap().data, b"third");
        // Length corrupted: reported, then the reader finds the third record.
        let mut bad = good.clone();
        bad[second as usize + 2] ^= 0x40;
        let got: Vec<_> = Reader::new(&bad[..]).collect();
        let errors: Vec<u64> = got
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.offset()))
            .collect();
        assert_eq!(errors, [second]);
        let data: Vec<&[u8]> = got
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|r| r.data.as_slice()))
            .collect();
        assert_eq!(data, [&b"first"[..], b"third", b"fourth"]);
        assert_eq!(got[2].as_ref().unwrap().offset, third);
        // Cut short: the last record is reported truncated.
        let got: Vec<_> = Reader::new(&good[..good.len() - 3]).collect();
        assert!(matches!(
            got[3],
            Err(RecordError::Truncated { missing: 3, .. })
        ));
    }
}
