//! numpy `.npy` arrays: safe numbers unless they hold Python objects.

use super::*;

/// A `.npy` array: safe numbers, unless its dtype holds Python objects (which
/// numpy loads through pickle).
pub(super) fn numpy(head: &[u8]) -> Option<Finding> {
    let rest = head.strip_prefix(b"\x93NUMPY")?;
    let (major, rest) = rest.split_first()?;
    let (_, rest) = rest.split_first()?;
    let (len, rest) = match major {
        1 => (
            usize::from(u16::from_le_bytes([*rest.first()?, *rest.get(1)?])),
            &rest[2..],
        ),
        2 | 3 => (
            u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize,
            &rest[4..],
        ),
        _ => return None,
    };
    let header = String::from_utf8_lossy(rest.get(..len.min(rest.len()))?);
    let descr = header.split("'descr':").nth(1)?;
    let descr = descr.split("'fortran_order'").next().unwrap_or(descr);
    // Every quoted typestr of the dtype: `|O`, `<f4`, or the fields of a record.
    let objects = descr
        .split('\'')
        .skip(1)
        .step_by(2)
        .any(|t| t.trim_start_matches(['<', '>', '|', '=']).starts_with('O'));
    Some(if objects {
        Finding::new(
            FileFormat::Pickle,
            "numpy array of Python objects (loads through pickle)",
        )
    } else {
        Finding::new(FileFormat::Numpy, "numpy array")
    })
}
