//! Product ids: the md5 hex digest of a path, as the original pipeline computes them
//! (docs/method.md#product-ids: `md5(<RESULTS_DIR>/<cumulus>/<node>/<recorder>/<deployment>)`, no trailing slash).

/// md5 hex digest of the UTF-8 bytes of `path` with any trailing `/` removed.
pub fn product_id(path: &str) -> String {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    format!("{:x}", md5::compute(trimmed.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_original_readme_examples() {
        let unit = "/shared_volume/audio/soundscapes/92/1_95_1_1350/248C7D075B1F7CDB/2021-08-04";
        assert_eq!(product_id(unit), "c58892f5d93ec1adf0b17325c6c17f4a");
        assert_eq!(
            product_id(&format!("{unit}/")),
            "c58892f5d93ec1adf0b17325c6c17f4a"
        );
        assert_eq!(
            product_id(&format!("{unit}/sequence.png")),
            "9f80823bc2f694e48c659be973fa9a0e"
        );
    }
}
