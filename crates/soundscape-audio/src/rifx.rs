//! Big-endian WAV (`RIFX`): the same chunks as RIFF WAV with every number big-endian. Neither
//! symphonia nor FFmpeg 5.1 reads its samples right (FFmpeg takes the header big-endian but the
//! samples little-endian), so this small reader does: integer PCM of 8 to 32 bits and IEEE
//! float, scaled as the other paths scale them (integers over 2^(bits-1), unsigned 8-bit
//! centred first, channels averaged in `f32`).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::reader::{AudioInfo, Convert};

pub(crate) struct RifxSource {
    file: BufReader<File>,
    /// Data bytes not read yet.
    remaining: u64,
    channels: usize,
    bytes: usize,
    /// One stored sample to f32, chosen by the format once.
    sample: Convert,
    buf: Vec<u8>,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Opens `path` when it is a RIFX WAV (`Ok(None)` when it is not one).
pub(crate) fn open(path: &Path) -> Result<Option<(RifxSource, AudioInfo)>, String> {
    let Ok(file) = File::open(path) else {
        return Ok(None); // the main path names the I/O error
    };
    let mut file = BufReader::new(file);
    let mut head = [0u8; 12];
    if file.read_exact(&mut head).is_err() || &head[..4] != b"RIFX" || &head[8..] != b"WAVE" {
        return Ok(None);
    }
    let mut format = None;
    loop {
        let mut ch = [0u8; 8];
        file.read_exact(&mut ch)
            .map_err(|_| "RIFX: no data chunk".to_string())?;
        let size = be32(&ch[4..]) as u64;
        match &ch[..4] {
            b"fmt " => {
                let mut f = vec![0u8; size as usize];
                file.read_exact(&mut f)
                    .map_err(|_| "RIFX: short fmt chunk".to_string())?;
                if f.len() < 16 {
                    return Err("RIFX: fmt chunk shorter than 16 bytes".into());
                }
                format = Some((be16(&f), be16(&f[2..]), be32(&f[4..]), be16(&f[14..])));
                if size % 2 == 1 {
                    file.seek(SeekFrom::Current(1)).map_err(|e| e.to_string())?;
                }
            }
            b"data" => {
                let (tag, channels, rate, bits) = format.ok_or("RIFX: data before fmt")?;
                let float = match (tag, bits) {
                    (1, 8 | 16 | 24 | 32) => false,
                    (3, 32 | 64) => true,
                    _ => {
                        return Err(format!(
                            "RIFX: format tag {tag:#x} with {bits}-bit samples is not supported"
                        ))
                    }
                };
                if channels == 0 || rate == 0 {
                    return Err("RIFX: no channels or no sample rate".into());
                }
                let bytes = bits as usize / 8;
                let frames = size / (bytes * channels as usize) as u64;
                let info = AudioInfo {
                    sample_rate: rate,
                    channels,
                    frames: Some(frames),
                    bits_per_sample: Some(bits as u32),
                    codec: format!("pcm_{}{bits}be", if float { "f" } else { "s" }),
                };
                let source = RifxSource {
                    file,
                    remaining: frames * (bytes * channels as usize) as u64,
                    channels: channels as usize,
                    bytes,
                    sample: converter(float, bytes),
                    buf: Vec::new(),
                };
                return Ok(Some((source, info)));
            }
            _ => {
                file.seek(SeekFrom::Current((size + size % 2) as i64))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
}

impl RifxSource {
    /// The next block into `mono` (interleaved channels if `keep`); its frames, `None` at the
    /// end of the data (or of the file).
    pub(crate) fn next(
        &mut self,
        mono: &mut Vec<f32>,
        keep: bool,
    ) -> Result<Option<usize>, String> {
        let frame = self.bytes * self.channels;
        let want = (4096 * frame as u64).min(self.remaining) as usize;
        if want == 0 {
            return Ok(None);
        }
        self.buf.resize(want, 0);
        let mut got = 0;
        while got < want {
            match self.file.read(&mut self.buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) => return Err(e.to_string()),
            }
        }
        let frames = got / frame;
        self.remaining = if got < want {
            0
        } else {
            self.remaining - want as u64
        };
        if frames == 0 {
            return Ok(None);
        }
        let per = if keep { self.channels } else { 1 };
        mono.clear();
        mono.resize(frames * per, 0.0);
        crate::reader::interleaved_to_mono(
            &self.buf[..frames * frame],
            self.channels / per,
            self.bytes,
            self.sample,
            mono,
        );
        Ok(Some(frames))
    }
}

/// The conversion of one big-endian sample of `bytes` bytes (integers over 2^(bits-1),
/// unsigned 8-bit centred first).
fn converter(float: bool, bytes: usize) -> Convert {
    match (float, bytes) {
        (true, 4) => |b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        (true, _) => |b| f64::from_be_bytes(b[..8].try_into().unwrap()) as f32,
        (false, 1) => |b| (b[0] as f32 - 128.0) / 128.0,
        (false, 2) => |b| i16::from_be_bytes([b[0], b[1]]) as f32 / 32768.0,
        (false, 3) => |b| (i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8) as f32 / 8_388_608.0,
        (false, _) => |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0,
    }
}
