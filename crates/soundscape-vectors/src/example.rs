//! `tf.train.Example` (tensorflow/core/example/{example,feature}.proto) and the TensorProto
//! of `tf.io.serialize_tensor` (tensorflow/core/framework/tensor.proto), as prost messages
//! written from those definitions; only the fields the A2O shards use are kept of
//! TensorProto (prost skips the others).

use std::collections::BTreeMap;

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct Example {
    #[prost(message, optional, tag = "1")]
    pub features: Option<Features>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Features {
    /// A BTreeMap, so that what we write is the same bytes on every run.
    #[prost(btree_map = "string, message", tag = "1")]
    pub feature: BTreeMap<String, Feature>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Feature {
    #[prost(oneof = "Kind", tags = "1, 2, 3")]
    pub kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(message, tag = "1")]
    Bytes(BytesList),
    #[prost(message, tag = "2")]
    Floats(FloatList),
    #[prost(message, tag = "3")]
    Ints(Int64List),
}

#[derive(Clone, PartialEq, Message)]
pub struct BytesList {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub value: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FloatList {
    #[prost(float, repeated, tag = "1")]
    pub value: Vec<f32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Int64List {
    #[prost(int64, repeated, tag = "1")]
    pub value: Vec<i64>,
}

/// TensorFlow's `DT_FLOAT`.
pub const DT_FLOAT: i32 = 1;
/// TensorFlow's `DT_HALF` (older Perch shards may hold float16 tensors).
pub const DT_HALF: i32 = 19;

#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    #[prost(int32, tag = "3")]
    pub version_number: i32,
    /// The values, little-endian, when written in bulk (as `serialize_tensor` does).
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: Vec<u8>,
    /// The values one by one, when written so (one value repeated fills the shape).
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    /// Float16 values one by one, each in the low 16 bits of an int32.
    #[prost(int32, repeated, tag = "13")]
    pub half_val: Vec<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Dim {
    #[prost(int64, tag = "1")]
    pub size: i64,
    #[prost(string, tag = "2")]
    pub name: String,
}

/// A float32 tensor: its shape and its values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl FloatTensor {
    /// Reads a serialized TensorProto of float32 (or float16) values.
    pub fn decode(bytes: &[u8]) -> Result<FloatTensor, String> {
        let t = TensorProto::decode(bytes).map_err(|e| format!("not a TensorProto: {e}"))?;
        let width = match t.dtype {
            DT_FLOAT => 4,
            DT_HALF => 2,
            d => {
                return Err(format!(
                    "a tensor of dtype {d} where float32 (1) or float16 (19) was expected"
                ))
            }
        };
        let dims = t.tensor_shape.map(|s| s.dim).unwrap_or_default();
        let shape: Vec<usize> = dims
            .iter()
            .map(|d| usize::try_from(d.size).map_err(|_| format!("dimension {}", d.size)))
            .collect::<Result<_, _>>()?;
        let n: usize = shape.iter().product();
        let half = |bits: u16| half::f16::from_bits(bits).to_f32();
        let one_by_one: Vec<f32> = if width == 4 {
            t.float_val
        } else {
            t.half_val.iter().map(|&v| half(v as u16)).collect()
        };
        let values = if !t.tensor_content.is_empty() {
            if t.tensor_content.len() != width * n {
                return Err(format!(
                    "{} bytes of content for a {shape:?} tensor of {width}-byte values ({} expected)",
                    t.tensor_content.len(),
                    width * n
                ));
            }
            if width == 4 {
                t.tensor_content
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            } else {
                t.tensor_content
                    .chunks_exact(2)
                    .map(|b| half(u16::from_le_bytes([b[0], b[1]])))
                    .collect()
            }
        } else if one_by_one.len() == n {
            one_by_one
        } else if one_by_one.len() == 1 {
            // TensorFlow's rule: one value fills the whole shape.
            vec![one_by_one[0]; n]
        } else if n == 0 {
            vec![]
        } else {
            return Err(format!(
                "{} values for a {shape:?} tensor",
                one_by_one.len()
            ));
        };
        Ok(FloatTensor { shape, values })
    }

    /// The TensorProto `tf.io.serialize_tensor` writes for it.
    pub fn encode(&self) -> Vec<u8> {
        TensorProto {
            dtype: DT_FLOAT,
            tensor_shape: Some(TensorShapeProto {
                dim: self
                    .shape
                    .iter()
                    .map(|&d| Dim {
                        size: d as i64,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            }),
            version_number: 0,
            tensor_content: self.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            float_val: vec![],
            half_val: vec![],
        }
        .encode_to_vec()
    }
}

impl Example {
    pub fn feature(&self, name: &str) -> Option<&Kind> {
        self.features.as_ref()?.feature.get(name)?.kind.as_ref()
    }

    /// The first value of a bytes feature.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        match self.feature(name)? {
            Kind::Bytes(b) => b.value.first().map(|v| v.as_slice()),
            _ => None,
        }
    }

    pub fn floats(&self, name: &str) -> Option<&[f32]> {
        match self.feature(name)? {
            Kind::Floats(f) => Some(&f.value),
            _ => None,
        }
    }

    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.feature(name)? {
            Kind::Ints(i) => Some(&i.value),
            _ => None,
        }
    }

    /// Sets feature `name`.
    pub fn set(&mut self, name: &str, kind: Kind) {
        self.features
            .get_or_insert_with(Default::default)
            .feature
            .insert(name.to_string(), Feature { kind: Some(kind) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_and_examples_round_trip() {
        let t = FloatTensor {
            shape: vec![2, 1, 3],
            values: vec![0.5, -1.0, 2.25, 3.0, 1e-8, -0.0],
        };
        assert_eq!(FloatTensor::decode(&t.encode()).unwrap(), t);
        let mut e = Example::default();
        e.set(
            "filename",
            Kind::Bytes(BytesList {
                value: vec![b"a.flac".to_vec()],
            }),
        );
        e.set("timestamp_s", Kind::Floats(FloatList { value: vec![60.0] }));
        e.set(
            "embedding",
            Kind::Bytes(BytesList {
                value: vec![t.encode()],
            }),
        );
        e.set(
            "embedding_shape",
            Kind::Ints(Int64List {
                value: vec![2, 1, 3],
            }),
        );
        let back = Example::decode(e.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back.bytes("filename"), Some(&b"a.flac"[..]));
        assert_eq!(back.floats("timestamp_s"), Some(&[60.0f32][..]));
        assert_eq!(back.ints("embedding_shape"), Some(&[2i64, 1, 3][..]));
        assert_eq!(
            FloatTensor::decode(back.bytes("embedding").unwrap()).unwrap(),
            t
        );
        // The same example gives the same bytes (the feature map is ordered).
        assert_eq!(e.encode_to_vec(), back.encode_to_vec());
    }

    #[test]
    fn a_wrong_tensor_is_refused_with_a_reason() {
        let mut p = TensorProto::decode(
            FloatTensor {
                shape: vec![2],
                values: vec![1.0, 2.0],
            }
            .encode()
            .as_slice(),
        )
        .unwrap();
        p.tensor_content.pop();
        assert!(FloatTensor::decode(&p.encode_to_vec())
            .unwrap_err()
            .contains("7 bytes"));
        p.dtype = 2;
        assert!(FloatTensor::decode(&p.encode_to_vec())
            .unwrap_err()
            .contains("dtype 2"));
    }

    #[test]
    fn float16_and_one_by_one_values() {
        let halves = [1.0f32, -2.5, 0.000_061_035_156, 65504.0];
        let bits: Vec<u16> = halves
            .iter()
            .map(|&v| half::f16::from_f32(v).to_bits())
            .collect();
        let shape = Some(TensorShapeProto {
            dim: vec![Dim {
                size: 4,
                name: String::new(),
            }],
            unknown_rank: false,
        });
        let content = TensorProto {
            dtype: DT_HALF,
            tensor_shape: shape.clone(),
            tensor_content: bits.iter().flat_map(|b| b.to_le_bytes()).collect(),
            ..Default::default()
        };
        assert_eq!(
            FloatTensor::decode(&content.encode_to_vec())
                .unwrap()
                .values,
            halves
        );
        let vals = TensorProto {
            dtype: DT_HALF,
            tensor_shape: shape.clone(),
            half_val: bits.iter().map(|&b| b as i32).collect(),
            ..Default::default()
        };
        assert_eq!(
            FloatTensor::decode(&vals.encode_to_vec()).unwrap().values,
            halves
        );
        let one = TensorProto {
            dtype: DT_FLOAT,
            tensor_shape: shape,
            float_val: vec![0.25],
            ..Default::default()
        };
        assert_eq!(
            FloatTensor::decode(&one.encode_to_vec()).unwrap().values,
            [0.25; 4]
        );
    }
}
