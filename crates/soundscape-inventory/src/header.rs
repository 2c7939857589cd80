//! File headers read without decoding: sample rate, channels, sample width, length, and the
//! start-time clues recorders leave in WAV files (the `LIST/INFO` comment of AudioMoth, the
//! GUANO `guan` chunk).
//!
//! WAV files are read by walking their RIFF chunks (a few small reads per file, so that
//! listing 100,000 files stays fast); other formats are probed with symphonia. The same RIFF
//! walk runs on the first bytes of a remote object.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use soundscape_audio::AudioReader;

/// What a header says about a recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderInfo {
    pub sample_rate: u32,
    pub channels: u16,
    /// Bits per sample, when the format has them.
    pub bits_per_sample: Option<u32>,
    /// Sample frames, when the header gives them.
    pub frames: Option<u64>,
    /// `ICMT` comment of a `LIST/INFO` chunk (AudioMoth writes its start time there).
    pub comment: Option<String>,
    /// Text of a GUANO `guan` chunk.
    pub guano: Option<String>,
    /// Problems worth a warning (a file shorter than its header promises).
    pub warnings: Vec<String>,
}

impl HeaderInfo {
    pub fn duration(&self) -> Option<f64> {
        self.frames
            .filter(|_| self.sample_rate > 0)
            .map(|f| f as f64 / self.sample_rate as f64)
    }
}

fn is_wav(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("wav") || e.eq_ignore_ascii_case("wave"))
}

/// Reads the header of a local file.
pub fn probe_file(path: &Path) -> Result<HeaderInfo, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() == 0 {
        return Err(format!("{}: empty file (0 bytes)", path.display()));
    }
    if is_wav(path) {
        let mut f = std::io::BufReader::with_capacity(
            4096,
            std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?,
        );
        // A WAV variant the chunk walk does not know (RF64, say) goes to the decoders.
        return parse_wav(&mut f, meta.len())
            .or_else(|e| decoder_header(path).map_err(|_| e))
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    decoder_header(path)
}

/// The header facts as the decoders read them (symphonia, else FFmpeg).
fn decoder_header(path: &Path) -> Result<HeaderInfo, String> {
    let reader = AudioReader::open(path).map_err(|e| e.to_string())?;
    let info = reader.info();
    Ok(HeaderInfo {
        sample_rate: info.sample_rate,
        channels: info.channels,
        bits_per_sample: info.bits_per_sample,
        frames: info.frames,
        ..Default::default()
    })
}

/// Reads a WAV header from the first bytes of a file of `total_len` bytes (remote objects).
/// Chunks beyond the prefix (a trailing GUANO chunk) are not seen.
pub fn probe_wav_prefix(prefix: &[u8], total_len: u64) -> Result<HeaderInfo, String> {
    parse_wav(&mut std::io::Cursor::new(prefix), total_len)
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}
fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn text_of(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

/// Walks the RIFF chunks of a WAV file. `total_len` is the file length, used to detect a
/// body shorter than the header promises.
pub fn parse_wav<R: Read + Seek>(r: &mut R, total_len: u64) -> Result<HeaderInfo, String> {
    let mut head = [0u8; 12];
    r.read_exact(&mut head)
        .map_err(|_| "not a WAV file: shorter than a RIFF header".to_string())?;
    let rf64 = &head[0..4] == b"RF64";
    if !(&head[0..4] == b"RIFF" || rf64) || &head[8..12] != b"WAVE" {
        return Err("not a WAV file: no RIFF/WAVE header".into());
    }
    let mut info = HeaderInfo::default();
    let mut fmt: Option<(u16, u16, u32, u16, u16)> = None; // tag, channels, rate, align, bits
    let mut data: Option<(u64, u64)> = None; // (offset, declared size)
    let mut ds64_data: Option<u64> = None;
    let mut pos = 12u64;
    loop {
        let mut ch = [0u8; 8];
        if r.read_exact(&mut ch).is_err() {
            break;
        }
        let id = [ch[0], ch[1], ch[2], ch[3]];
        let size = le32(&ch[4..8]) as u64;
        let body = pos + 8;
        let small = |r: &mut R, n: u64| -> Option<Vec<u8>> {
            let mut v = vec![0u8; n.min(1 << 20) as usize];
            r.read_exact(&mut v).ok().map(|_| v)
        };
        match &id {
            b"fmt " => {
                let b = small(r, size).ok_or("truncated fmt chunk")?;
                if b.len() < 16 {
                    return Err("fmt chunk too short".into());
                }
                fmt = Some((
                    le16(&b[0..2]),
                    le16(&b[2..4]),
                    le32(&b[4..8]),
                    le16(&b[12..14]),
                    le16(&b[14..16]),
                ));
            }
            b"ds64" => {
                let b = small(r, size).ok_or("truncated ds64 chunk")?;
                if b.len() >= 16 {
                    ds64_data = Some(u64::from_le_bytes(b[8..16].try_into().unwrap()));
                }
            }
            b"data" => {
                let declared = if rf64 && size == 0xFFFF_FFFF {
                    ds64_data.unwrap_or(size)
                } else {
                    size
                };
                data = Some((body, declared));
            }
            b"LIST" => {
                let b = small(r, size).unwrap_or_default();
                if b.len() >= 4 && &b[0..4] == b"INFO" {
                    let mut i = 4;
                    while i + 8 <= b.len() {
                        let sub = &b[i..i + 4];
                        let n = le32(&b[i + 4..i + 8]) as usize;
                        let end = (i + 8 + n).min(b.len());
                        if sub == b"ICMT" {
                            info.comment = Some(text_of(&b[i + 8..end]));
                        }
                        i += 8 + n + (n & 1);
                    }
                }
            }
            b"guan" => {
                if let Some(b) = small(r, size) {
                    info.guano = Some(text_of(&b));
                }
            }
            _ => {}
        }
        pos = body + size + (size & 1);
        if pos >= total_len || r.seek(SeekFrom::Start(pos)).is_err() {
            break;
        }
    }
    let (tag, channels, rate, align, bits) = fmt.ok_or("no fmt chunk: not a usable WAV file")?;
    if rate == 0 || channels == 0 {
        return Err(format!(
            "WAV header gives {rate} Hz and {channels} channels"
        ));
    }
    if !matches!(tag, 1 | 3 | 0xFFFE) {
        return Err(format!("WAV format tag {tag:#x} is not PCM or float"));
    }
    let (offset, declared) = data.ok_or("no data chunk: not a usable WAV file")?;
    let available = total_len.saturating_sub(offset);
    let align = u64::from(align.max(1));
    if declared > available {
        info.warnings.push(format!(
            "truncated: the header promises {:.3} s but the file holds {:.3} s",
            (declared / align) as f64 / rate as f64,
            (available / align) as f64 / rate as f64
        ));
    }
    info.sample_rate = rate;
    info.channels = channels;
    info.bits_per_sample = Some(u32::from(bits));
    info.frames = Some(declared.min(available) / align);
    Ok(info)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PCM16 WAV with optional ICMT comment (before the data) and GUANO chunk (after it).
    pub(crate) fn wav_bytes(
        rate: u32,
        channels: u16,
        frames: u32,
        comment: Option<&str>,
        guano: Option<&str>,
    ) -> Vec<u8> {
        let mut chunks: Vec<u8> = Vec::new();
        let push = |id: &[u8], body: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(id);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(body);
            if body.len() % 2 == 1 {
                out.push(0);
            }
        };
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&1u16.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&(rate * 2 * channels as u32).to_le_bytes());
        fmt.extend_from_slice(&(2 * channels).to_le_bytes());
        fmt.extend_from_slice(&16u16.to_le_bytes());
        push(b"fmt ", &fmt, &mut chunks);
        if let Some(c) = comment {
            let mut list = b"INFO".to_vec();
            let mut text = c.as_bytes().to_vec();
            text.push(0);
            push(b"ICMT", &text, &mut list);
            push(b"LIST", &list, &mut chunks);
        }
        push(
            b"data",
            &vec![0u8; frames as usize * 2 * channels as usize],
            &mut chunks,
        );
        if let Some(g) = guano {
            push(b"guan", g.as_bytes(), &mut chunks);
        }
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(chunks.len() as u32 + 4).to_le_bytes());
        out.extend_from_slice(b"WAVE");
        out.extend_from_slice(&chunks);
        out
    }

    #[test]
    fn reads_format_comment_and_guano() {
        let b = wav_bytes(
            48000,
            2,
            48000,
            Some("Recorded at x"),
            Some("GUANO|Version: 1.0"),
        );
        let h = parse_wav(&mut std::io::Cursor::new(&b), b.len() as u64).unwrap();
        assert_eq!(
            (h.sample_rate, h.channels, h.frames),
            (48000, 2, Some(48000))
        );
        assert_eq!(h.duration(), Some(1.0));
        assert_eq!(h.comment.as_deref(), Some("Recorded at x"));
        assert_eq!(h.guano.as_deref(), Some("GUANO|Version: 1.0"));
        assert!(h.warnings.is_empty());
    }

    #[test]
    fn truncated_body_is_reported_and_length_clamped() {
        let b = wav_bytes(8000, 1, 8000, None, None);
        let cut = &b[..b.len() - 8000];
        let h = parse_wav(&mut std::io::Cursor::new(cut), cut.len() as u64).unwrap();
        assert_eq!(h.frames, Some(4000));
        assert!(h.warnings[0].contains("truncated"), "{:?}", h.warnings);
    }

    #[test]
    fn prefix_probe_and_bad_input() {
        let b = wav_bytes(48000, 1, 96000, Some("c"), Some("GUANO"));
        let h = probe_wav_prefix(&b[..4096], b.len() as u64).unwrap();
        assert_eq!(h.frames, Some(96000));
        assert!(h.guano.is_none());
        assert!(probe_wav_prefix(b"hello world, not audio", 22).is_err());
        assert!(probe_wav_prefix(b"RIFF", 4).is_err());
    }
}
