//! Integers out of a key's range, said as such. serde reports a value that does not
//! fit the key's type as "invalid value: integer `-1`, expected u32", and a number
//! TOML itself cannot hold (beyond 64-bit signed), which an override then takes as a
//! bare string, as "invalid type: string "18446744073709551615", expected u64".
//! Both become "VALUE is out of range: KEY takes LOW to HIGH", where the range of an
//! unsigned 64-bit key ends at 2^63 - 1, the largest integer TOML can write.

/// The range of integer type `ty` (serde's name for it) that TOML can write.
fn range(ty: &str) -> Option<(i128, i128)> {
    let toml_max = i128::from(i64::MAX);
    Some(match ty {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" | "u128" => (0, toml_max),
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" | "i128" => (i64::MIN.into(), toml_max),
        _ => return None,
    })
}

/// Whether `v` is an integer literal (sign, digits and `_`, or `0x`/`0o`/`0b` digits)
/// too large for TOML's 64-bit integers.
fn beyond_toml(v: &str) -> bool {
    let t = v.replace('_', "");
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, t.strip_prefix('+').unwrap_or(&t).to_string()),
    };
    let (radix, digits) = match t.get(..2) {
        Some("0x") => (16, &t[2..]),
        Some("0o") => (8, &t[2..]),
        Some("0b") => (2, &t[2..]),
        _ => (10, &t[..]),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return false;
    }
    match i128::from_str_radix(digits, radix) {
        Ok(n) => {
            let n = if neg { -n } else { n };
            n > i128::from(i64::MAX) || n < i128::from(i64::MIN)
        }
        // Past i128: past TOML too.
        Err(_) => true,
    }
}

/// The message for serde's `msg` about the value at key `key`, when it is about an
/// integer out of the key's range.
pub(super) fn out_of_range(msg: &str, key: &str) -> Option<String> {
    let (value, ty) = if let Some(rest) = msg.strip_prefix("invalid value: integer `") {
        rest.split_once("`, expected ")?
    } else {
        let rest = msg.strip_prefix("invalid type: string \"")?;
        let (value, ty) = rest.split_once("\", expected ")?;
        if !beyond_toml(value) {
            return None;
        }
        (value, ty)
    };
    let (lo, hi) = range(ty)?;
    Some(format!("{value} is out of range: {key} takes {lo} to {hi}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_beyond_toml() {
        for v in [
            "9223372036854775808",
            "18446744073709551615",
            "-9223372036854775809",
            "0x8000000000000000",
            "1_000_000_000_000_000_000_000_000_000_000_000_000_000",
        ] {
            assert!(beyond_toml(v), "{v}");
        }
        for v in [
            "9223372036854775807",
            "-9223372036854775808",
            "5",
            "x",
            "",
            "1e30",
            "0x",
        ] {
            assert!(!beyond_toml(v), "{v}");
        }
    }

    #[test]
    fn messages() {
        assert_eq!(
            out_of_range("invalid value: integer `-1`, expected u32", "sim.cores").unwrap(),
            "-1 is out of range: sim.cores takes 0 to 4294967295"
        );
        assert_eq!(
            out_of_range(
                "invalid type: string \"18446744073709551615\", expected u64",
                "accesses"
            )
            .unwrap(),
            "18446744073709551615 is out of range: accesses takes 0 to 9223372036854775807"
        );
        // A quoted small number is a type error, a float key is no integer's.
        assert!(out_of_range("invalid type: string \"5\", expected u64", "k").is_none());
        assert!(out_of_range(
            "invalid type: string \"99999999999999999999\", expected f64",
            "k"
        )
        .is_none());
        assert!(out_of_range("invalid value: integer `5`, expected a page size", "k").is_none());
    }
}
