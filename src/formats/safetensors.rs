//! safetensors: safe only when the header is valid and the tensors cover the
//! data exactly.

use super::*;

/// A safetensors file, judged whole: a valid header whose tensors cover the data
/// section exactly, in order, each as long as its dtype and shape say, with
/// nothing after the last. `None` when the head does not even claim to be one.
pub(super) fn safetensors<R: Read + Seek>(
    r: &mut R,
    head: &[u8],
    size: u64,
) -> io::Result<Option<Finding>> {
    if head.len() < 9 || head[8] != b'{' {
        return Ok(None);
    }
    let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    if n < 2 || n > size.saturating_sub(8) {
        return Ok(None);
    }
    if n > MAX_SAFETENSORS_HEADER {
        return Ok(Some(Finding::new(
            FileFormat::Unknown,
            "a safetensors header larger than 16 MiB",
        )));
    }
    let header = if 8 + n <= head.len() as u64 {
        head[8..8 + n as usize].to_vec()
    } else {
        read_at(r, 8, n)?
    };
    Ok(Some(match safetensors_layout(&header, size - 8 - n) {
        Ok(()) => Finding::new(
            FileFormat::Safetensors,
            "safetensors header covers the data exactly",
        ),
        Err(why) => Finding::new(FileFormat::Unknown, format!("not valid safetensors: {why}")),
    }))
}

/// Checks a safetensors header against a data section of `data_len` bytes.
pub fn safetensors_layout(header: &[u8], data_len: u64) -> Result<(), String> {
    let map = match serde_json::from_slice::<serde_json::Value>(header) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err("the header is not a JSON object".into()),
    };
    let mut spans = Vec::new();
    for (name, t) in map.iter().filter(|(k, _)| k.as_str() != "__metadata__") {
        let width = t["dtype"]
            .as_str()
            .and_then(dtype_bits)
            .ok_or_else(|| format!("tensor {name:?} has no known dtype"))?;
        let shape = t["shape"]
            .as_array()
            .and_then(|s| s.iter().map(|d| d.as_u64()).collect::<Option<Vec<u64>>>())
            .ok_or_else(|| format!("tensor {name:?} has no shape"))?;
        let (a, b) = match t["data_offsets"].as_array().map(Vec::as_slice) {
            Some([a, b]) => (a.as_u64(), b.as_u64()),
            _ => (None, None),
        };
        let (Some(a), Some(b)) = (a, b) else {
            return Err(format!("tensor {name:?} has no data offsets"));
        };
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, d| acc.checked_mul(*d))
            .ok_or_else(|| format!("tensor {name:?} is too large"))?;
        let bytes = elements
            .checked_mul(width)
            .map(|bits| bits.div_ceil(8))
            .ok_or_else(|| format!("tensor {name:?} is too large"))?;
        if b < a || b - a != bytes {
            return Err(format!(
                "tensor {name:?} spans {} bytes, its shape needs {bytes}",
                b.saturating_sub(a)
            ));
        }
        spans.push((a, b));
    }
    spans.sort_unstable();
    let mut at = 0;
    for (a, b) in spans {
        if a != at {
            return Err(format!("the tensors leave a gap or overlap at byte {at}"));
        }
        at = b;
    }
    if at != data_len {
        return Err(format!(
            "the tensors cover {at} bytes of a {data_len}-byte data section"
        ));
    }
    Ok(())
}

/// Bits per element of a safetensors dtype.
pub(super) fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        _ => return None,
    })
}
