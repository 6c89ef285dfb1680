//! Amounts in Russian words, as a Russian invoice prints its total
//! ("Сто двадцать тысяч триста рублей 05 копеек"): numbers with the right
//! grammatical gender (одна тысяча, один рубль, две копейки) and noun forms
//! (рубль / рубля / рублей).
//!
//! No dependencies, so both the host and Wasm actions can use it. No crate on
//! the registry spells Russian numbers (num2words covers other languages).

/// The grammatical gender of the counted noun, which changes 1 and 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// один, два (рубль, миллион).
    Masculine,
    /// одна, две (копейка, тысяча).
    Feminine,
}

/// The three forms of a counted Russian noun: for 1 (рубль), for 2–4
/// (рубля) and for 5–20 and 0 (рублей).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forms {
    /// For numbers ending in 1, except 11: "рубль".
    pub one: &'static str,
    /// For numbers ending in 2, 3, 4, except 12–14: "рубля".
    pub few: &'static str,
    /// Everything else: "рублей".
    pub many: &'static str,
    /// The gender the number agrees with.
    pub gender: Gender,
}

/// рубль.
pub const RUBLE: Forms = Forms {
    one: "рубль",
    few: "рубля",
    many: "рублей",
    gender: Gender::Masculine,
};

/// копейка.
pub const KOPECK: Forms = Forms {
    one: "копейка",
    few: "копейки",
    many: "копеек",
    gender: Gender::Feminine,
};

const THOUSAND: Forms = Forms {
    one: "тысяча",
    few: "тысячи",
    many: "тысяч",
    gender: Gender::Feminine,
};
const MILLION: Forms = Forms {
    one: "миллион",
    few: "миллиона",
    many: "миллионов",
    gender: Gender::Masculine,
};
const BILLION: Forms = Forms {
    one: "миллиард",
    few: "миллиарда",
    many: "миллиардов",
    gender: Gender::Masculine,
};
const TRILLION: Forms = Forms {
    one: "триллион",
    few: "триллиона",
    many: "триллионов",
    gender: Gender::Masculine,
};
const QUADRILLION: Forms = Forms {
    one: "квадриллион",
    few: "квадриллиона",
    many: "квадриллионов",
    gender: Gender::Masculine,
};
const QUINTILLION: Forms = Forms {
    one: "квинтиллион",
    few: "квинтиллиона",
    many: "квинтиллионов",
    gender: Gender::Masculine,
};

const HUNDREDS: [&str; 10] = [
    "",
    "сто",
    "двести",
    "триста",
    "четыреста",
    "пятьсот",
    "шестьсот",
    "семьсот",
    "восемьсот",
    "девятьсот",
];
const TENS: [&str; 10] = [
    "",
    "",
    "двадцать",
    "тридцать",
    "сорок",
    "пятьдесят",
    "шестьдесят",
    "семьдесят",
    "восемьдесят",
    "девяносто",
];
const TEENS: [&str; 10] = [
    "десять",
    "одиннадцать",
    "двенадцать",
    "тринадцать",
    "четырнадцать",
    "пятнадцать",
    "шестнадцать",
    "семнадцать",
    "восемнадцать",
    "девятнадцать",
];
const UNITS: [&str; 10] = [
    "",
    "один",
    "два",
    "три",
    "четыре",
    "пять",
    "шесть",
    "семь",
    "восемь",
    "девять",
];

impl Forms {
    /// The form that goes with `n`: 1 рубль, 2 рубля, 5 рублей, 11 рублей.
    pub fn for_count(&self, n: u64) -> &'static str {
        match (n % 100, n % 10) {
            (11..=14, _) => self.many,
            (_, 1) => self.one,
            (_, 2..=4) => self.few,
            _ => self.many,
        }
    }
}

/// Words for 1..=999 agreeing with `gender`; empty for 0.
fn triple(n: u64, gender: Gender, out: &mut Vec<&'static str>) {
    let (h, rest) = ((n / 100) as usize, n % 100);
    if h > 0 {
        out.push(HUNDREDS[h]);
    }
    if (10..20).contains(&rest) {
        out.push(TEENS[(rest - 10) as usize]);
        return;
    }
    let (t, u) = ((rest / 10) as usize, (rest % 10) as usize);
    if t > 0 {
        out.push(TENS[t]);
    }
    match (u, gender) {
        (0, _) => {}
        (1, Gender::Feminine) => out.push("одна"),
        (2, Gender::Feminine) => out.push("две"),
        _ => out.push(UNITS[u]),
    }
}

/// `n` in words agreeing with `gender`, lower case: 21 → "двадцать один",
/// 2000 → "две тысячи", 0 → "ноль".
pub fn number_in_words(n: u64, gender: Gender) -> String {
    if n == 0 {
        return "ноль".to_owned();
    }
    // Groups of three digits from the top: quintillions down to units.
    let scales = [
        Some(QUINTILLION),
        Some(QUADRILLION),
        Some(TRILLION),
        Some(BILLION),
        Some(MILLION),
        Some(THOUSAND),
        None,
    ];
    let mut words = Vec::new();
    let mut divisor = 1_000_000_000_000_000_000u64;
    for scale in scales {
        let group = (n / divisor) % 1000;
        divisor /= 1000;
        if group == 0 {
            continue;
        }
        match scale {
            Some(forms) => {
                triple(group, forms.gender, &mut words);
                words.push(forms.for_count(group));
            }
            None => triple(group, gender, &mut words),
        }
    }
    words.join(" ")
}

/// The amount as invoices spell it: rubles in words with a capital letter,
/// kopecks in two digits: "Сто двадцать тысяч рублей 05 копеек".
///
/// `kopecks` above 99 are carried into rubles.
pub fn rubles_in_words(rubles: u64, kopecks: u32) -> String {
    let rubles = rubles.saturating_add(u64::from(kopecks / 100));
    let kopecks = u64::from(kopecks % 100);
    let words = capitalize(&number_in_words(rubles, RUBLE.gender));
    format!(
        "{words} {} {kopecks:02} {}",
        RUBLE.for_count(rubles),
        KOPECK.for_count(kopecks)
    )
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noun_forms_follow_the_last_two_digits() {
        for (n, form) in [
            (0, "рублей"),
            (1, "рубль"),
            (2, "рубля"),
            (4, "рубля"),
            (5, "рублей"),
            (11, "рублей"),
            (12, "рублей"),
            (14, "рублей"),
            (21, "рубль"),
            (22, "рубля"),
            (111, "рублей"),
            (101, "рубль"),
            (1_000_000, "рублей"),
        ] {
            assert_eq!(RUBLE.for_count(n), form, "{n}");
        }
    }

    #[test]
    fn thousands_are_feminine_and_millions_masculine() {
        assert_eq!(number_in_words(1000, Gender::Masculine), "одна тысяча");
        assert_eq!(number_in_words(2000, Gender::Masculine), "две тысячи");
        assert_eq!(number_in_words(5000, Gender::Masculine), "пять тысяч");
        assert_eq!(
            number_in_words(21_000, Gender::Masculine),
            "двадцать одна тысяча"
        );
        assert_eq!(
            number_in_words(2_000_000, Gender::Masculine),
            "два миллиона"
        );
        assert_eq!(
            number_in_words(1_001_001, Gender::Masculine),
            "один миллион одна тысяча один"
        );
        assert_eq!(number_in_words(2, Gender::Feminine), "две");
    }

    #[test]
    fn invoice_totals_read_as_an_accountant_writes_them() {
        assert_eq!(
            rubles_in_words(120_000, 0),
            "Сто двадцать тысяч рублей 00 копеек"
        );
        assert_eq!(
            rubles_in_words(1_234_567, 89),
            "Один миллион двести тридцать четыре тысячи пятьсот шестьдесят семь рублей 89 копеек"
        );
        assert_eq!(rubles_in_words(1, 1), "Один рубль 01 копейка");
        assert_eq!(rubles_in_words(2, 2), "Два рубля 02 копейки");
        assert_eq!(rubles_in_words(0, 15), "Ноль рублей 15 копеек");
        assert_eq!(
            rubles_in_words(13_512, 50),
            "Тринадцать тысяч пятьсот двенадцать рублей 50 копеек"
        );
        assert_eq!(rubles_in_words(99, 250), "Сто один рубль 50 копеек");
    }

    #[test]
    fn the_largest_number_spells_without_panicking() {
        let words = number_in_words(u64::MAX, Gender::Masculine);
        assert!(words.starts_with("восемнадцать квинтиллионов"), "{words}");
    }
}
