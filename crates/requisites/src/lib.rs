//! Checks for Russian company requisites.
//!
//! Every check here is a pure function over the text a person typed, with no
//! dependencies, so the host (when it stores a company) and the SDK (when an
//! action wants to fail early) apply exactly the same rules:
//!
//! - [`check_inn`] — ИНН: 10 digits for an organisation, 12 for a person or
//!   sole trader, with the check digits of the Federal Tax Service;
//! - [`check_kpp`] — КПП: 9 characters, `NNNNPPNNN` where `PP` may be a digit or
//!   a Latin capital;
//! - [`check_ogrn`] — ОГРН (13 digits) or ОГРНИП (15 digits) with its control digit;
//! - [`check_bik`] — БИК: 9 digits;
//! - [`check_settlement_account`] and [`check_correspondent_account`] — the
//!   20-digit accounts whose control key is computed together with the BIK
//!   (weights 7, 1, 3);
//! - [`phone_e164`] — a phone number as E.164, where the Russian `8 …` and
//!   `+7 …` forms are one number (for duplicate checks and SMS gateways).
//!
//! ```
//! use robota_requisites::{check_inn, InnKind};
//! assert_eq!(check_inn("7707083893"), Ok(InnKind::Organisation));
//! assert!(check_inn("7707083894").is_err());
//! ```

use std::fmt;

/// Why a requisite was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequisiteError {
    /// The value has characters other than the ones allowed.
    NotDigits,
    /// The value has the wrong number of characters.
    WrongLength {
        /// The lengths that would be accepted.
        expected: &'static [usize],
        /// The length that was given.
        got: usize,
    },
    /// The value has the right shape but its control digit does not match.
    BadChecksum,
    /// A KPP not shaped as 4 digits, 2 digits or Latin capitals, 3 digits.
    KppShape,
    /// A correspondent account that does not start with 301.
    CorrespondentPrefix,
    /// An account checked with a BIK that is not 9 digits.
    KeyBik,
}

impl fmt::Display for RequisiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequisiteError::NotDigits => f.write_str("must contain digits only"),
            RequisiteError::WrongLength { expected, got } => {
                let expected: Vec<String> = expected.iter().map(|n| n.to_string()).collect();
                write!(f, "must have {} digits, got {got}", expected.join(" or "))
            }
            RequisiteError::BadChecksum => f.write_str("control digit does not match"),
            RequisiteError::KppShape => {
                f.write_str("must be 4 digits, 2 digits or Latin capitals, then 3 digits")
            }
            RequisiteError::CorrespondentPrefix => f.write_str("must start with 301"),
            RequisiteError::KeyBik => f.write_str("the BIK it is checked with is not 9 digits"),
        }
    }
}

impl std::error::Error for RequisiteError {}

/// What an INN belongs to, told by its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnKind {
    /// 10 digits: a legal entity (ООО, АО, …).
    Organisation,
    /// 12 digits: a person or a sole trader (ИП).
    Person,
}

/// What an OGRN belongs to, told by its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OgrnKind {
    /// ОГРН, 13 digits: a legal entity.
    Ogrn,
    /// ОГРНИП, 15 digits: a sole trader.
    Ogrnip,
}

/// Turns `value` into its digits, requiring one of the `lengths`.
fn digits(value: &str, lengths: &'static [usize]) -> Result<Vec<u32>, RequisiteError> {
    let digits: Option<Vec<u32>> = value.chars().map(|c| c.to_digit(10)).collect();
    let digits = digits.ok_or(RequisiteError::NotDigits)?;
    if !lengths.contains(&digits.len()) {
        return Err(RequisiteError::WrongLength {
            expected: lengths,
            got: digits.len(),
        });
    }
    Ok(digits)
}

/// The INN control digit: weighted sum mod 11, then mod 10.
fn inn_control(digits: &[u32], weights: &[u32]) -> u32 {
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    sum % 11 % 10
}

/// Checks an INN (ИНН) and tells whose it is by its length.
pub fn check_inn(value: &str) -> Result<InnKind, RequisiteError> {
    const W10: [u32; 9] = [2, 4, 10, 3, 5, 9, 4, 6, 8];
    const W11: [u32; 10] = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
    const W12: [u32; 11] = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
    let d = digits(value, &[10, 12])?;
    if d.len() == 10 {
        if inn_control(&d[..9], &W10) != d[9] {
            return Err(RequisiteError::BadChecksum);
        }
        Ok(InnKind::Organisation)
    } else {
        if inn_control(&d[..10], &W11) != d[10] || inn_control(&d[..11], &W12) != d[11] {
            return Err(RequisiteError::BadChecksum);
        }
        Ok(InnKind::Person)
    }
}

/// Checks a KPP (КПП): four digits (tax office), two digits or Latin capitals
/// (reason code), three digits (sequence number).
pub fn check_kpp(value: &str) -> Result<(), RequisiteError> {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() != 9 {
        return Err(RequisiteError::WrongLength {
            expected: &[9],
            got: chars.len(),
        });
    }
    let digit_at = |i: usize| chars[i].is_ascii_digit();
    let code_at = |i: usize| chars[i].is_ascii_digit() || chars[i].is_ascii_uppercase();
    let ok = (0..4).all(digit_at) && (4..6).all(code_at) && (6..9).all(digit_at);
    if ok {
        Ok(())
    } else {
        Err(RequisiteError::KppShape)
    }
}

/// Checks an OGRN (13 digits) or OGRNIP (15 digits): the number without its
/// last digit, modulo 11 (or 13 for OGRNIP), modulo 10, is the last digit.
pub fn check_ogrn(value: &str) -> Result<OgrnKind, RequisiteError> {
    let d = digits(value, &[13, 15])?;
    let (kind, modulus) = if d.len() == 13 {
        (OgrnKind::Ogrn, 11u64)
    } else {
        (OgrnKind::Ogrnip, 13u64)
    };
    let (body, last) = d.split_at(d.len() - 1);
    // 14 digits fit in a u64, so the number is built exactly.
    let number = body.iter().fold(0u64, |n, &x| n * 10 + u64::from(x));
    if (number % modulus % 10) as u32 != last[0] {
        return Err(RequisiteError::BadChecksum);
    }
    Ok(kind)
}

/// A phone number in E.164 (`+74951234567`), or None if it has too few
/// digits to be one. A Russian number written `8 495 …`, `7 495 …` or with
/// its ten digits only is the same as `+7 495 …`.
pub fn phone_e164(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let international = text.trim_start().starts_with('+');
    let e164 = match (digits.len(), digits.as_bytes().first()) {
        (11, Some(b'8')) if !international => format!("7{}", &digits[1..]),
        (10, _) if !international => format!("7{digits}"),
        (n, _) if n >= 7 => digits,
        _ => return None,
    };
    Some(format!("+{e164}"))
}

/// Checks a BIK (БИК): 9 digits.
pub fn check_bik(value: &str) -> Result<(), RequisiteError> {
    digits(value, &[9]).map(|_| ())
}

/// The account key: 23 digits weighted 7, 1, 3, … must sum to a multiple of 10.
fn account_key_ok(prefix: &[u32], account: &[u32]) -> bool {
    const W: [u32; 3] = [7, 1, 3];
    let sum: u32 = prefix
        .iter()
        .chain(account)
        .enumerate()
        .map(|(i, d)| (d * W[i % 3]) % 10)
        .sum();
    sum.is_multiple_of(10)
}

/// Checks a settlement account (расчётный счёт) of 20 digits against the BIK of
/// its bank: the key is computed over the BIK's last three digits and the account.
pub fn check_settlement_account(account: &str, bik: &str) -> Result<(), RequisiteError> {
    let b = digits(bik, &[9]).map_err(|_| RequisiteError::KeyBik)?;
    let a = digits(account, &[20])?;
    if account_key_ok(&b[6..9], &a) {
        Ok(())
    } else {
        Err(RequisiteError::BadChecksum)
    }
}

/// Checks a correspondent account (корреспондентский счёт) of 20 digits against
/// the BIK: the key is computed over "0", the BIK's 5th and 6th digits, and the
/// account; a correspondent account also starts with 301.
pub fn check_correspondent_account(account: &str, bik: &str) -> Result<(), RequisiteError> {
    let b = digits(bik, &[9]).map_err(|_| RequisiteError::KeyBik)?;
    let a = digits(account, &[20])?;
    if !account.starts_with("301") {
        return Err(RequisiteError::CorrespondentPrefix);
    }
    if account_key_ok(&[0, b[4], b[5]], &a) {
        Ok(())
    } else {
        Err(RequisiteError::BadChecksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inn_of_real_organisations_pass() {
        // Sberbank, Yandex, Gazprom: published INNs.
        for inn in ["7707083893", "7736207543", "7736050003"] {
            assert_eq!(check_inn(inn), Ok(InnKind::Organisation), "{inn}");
        }
    }

    #[test]
    fn inn_of_a_person_passes() {
        assert_eq!(check_inn("500100732259"), Ok(InnKind::Person));
    }

    #[test]
    fn inn_with_a_wrong_digit_fails() {
        assert_eq!(check_inn("7707083894"), Err(RequisiteError::BadChecksum));
        assert_eq!(check_inn("500100732258"), Err(RequisiteError::BadChecksum));
        assert_eq!(check_inn("500100732269"), Err(RequisiteError::BadChecksum));
    }

    #[test]
    fn inn_of_wrong_shape_fails() {
        assert_eq!(
            check_inn("77070838"),
            Err(RequisiteError::WrongLength {
                expected: &[10, 12],
                got: 8
            })
        );
        assert_eq!(check_inn("77070838a3"), Err(RequisiteError::NotDigits));
        assert_eq!(
            check_inn(""),
            Err(RequisiteError::WrongLength {
                expected: &[10, 12],
                got: 0
            })
        );
    }

    #[test]
    fn kpp_shapes() {
        assert_eq!(check_kpp("773601001"), Ok(()));
        assert_eq!(check_kpp("7736AB001"), Ok(()));
        assert!(check_kpp("77360100").is_err());
        assert!(check_kpp("7736ab001").is_err());
        assert!(check_kpp("A73601001").is_err());
    }

    #[test]
    fn ogrn_and_ogrnip() {
        assert_eq!(check_ogrn("1027700132195"), Ok(OgrnKind::Ogrn));
        assert_eq!(check_ogrn("1027739609391"), Ok(OgrnKind::Ogrn));
        assert_eq!(check_ogrn("304500116000157"), Ok(OgrnKind::Ogrnip));
        assert_eq!(
            check_ogrn("1027700132196"),
            Err(RequisiteError::BadChecksum)
        );
        assert_eq!(
            check_ogrn("304500116000158"),
            Err(RequisiteError::BadChecksum)
        );
        assert!(matches!(
            check_ogrn("12345"),
            Err(RequisiteError::WrongLength { .. })
        ));
    }

    #[test]
    fn bank_accounts_against_bik() {
        // Sberbank's Moscow BIK and its published correspondent account.
        let bik = "044525225";
        assert_eq!(check_bik(bik), Ok(()));
        assert_eq!(
            check_correspondent_account("30101810400000000225", bik),
            Ok(())
        );
        assert_eq!(
            check_correspondent_account("30101810400000000226", bik),
            Err(RequisiteError::BadChecksum)
        );
        // Same account, another bank's BIK: the key no longer matches.
        assert_eq!(
            check_correspondent_account("30101810400000000225", "044030653"),
            Err(RequisiteError::BadChecksum)
        );
        assert_eq!(
            check_settlement_account("40702810438000060473", bik),
            Ok(())
        );
        assert_eq!(
            check_settlement_account("40702810438000060474", bik),
            Err(RequisiteError::BadChecksum)
        );
        assert!(check_settlement_account("4070281043800006047", bik).is_err());
        assert!(check_bik("04452522").is_err());
    }

    #[test]
    fn errors_read_well() {
        let e = check_inn("123").unwrap_err();
        assert_eq!(e.to_string(), "must have 10 or 12 digits, got 3");
    }
}
