//! The DaData-compatible registry: `POST {base}/findById/party` and
//! `findById/bank`, and what its answers mean. Only the fields the action
//! fills are read; everything else in the answer is ignored.

use robota_sdk::{Error, http};
use serde::Deserialize;
use serde_json::{Value, json};

/// Where the registry is and the key it wants.
pub struct Registry {
    /// The base URL, without the trailing `/findById/...`.
    pub base: String,
    /// The API key (`Authorization: Token <key>`); never logged.
    pub key: String,
}

/// The config key of the registry's base URL.
pub const URL_KEY: &str = "registry.url";
/// The config key of the registry's API key.
pub const KEY_KEY: &str = "registry.key";

/// An answer of `findById`: the suggestions, best first.
#[derive(Debug, Deserialize)]
pub struct Suggestions<T> {
    /// What was found (empty: nothing).
    pub suggestions: Vec<Suggestion<T>>,
}

/// One suggestion.
#[derive(Debug, Deserialize)]
pub struct Suggestion<T> {
    /// Its data.
    pub data: T,
}

/// A legal entity or a sole trader, as the registry describes it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Party {
    /// ИНН.
    pub inn: Option<String>,
    /// КПП (organisations only).
    pub kpp: Option<String>,
    /// ОГРН or ОГРНИП.
    pub ogrn: Option<String>,
    /// When the OGRN was assigned, epoch milliseconds.
    pub ogrn_date: Option<i64>,
    /// LEGAL or INDIVIDUAL.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The names.
    pub name: PartyName,
    /// The legal form.
    pub opf: Option<Opf>,
    /// The head of an organisation.
    pub management: Option<Management>,
    /// A sole trader's full name.
    pub fio: Option<Fio>,
    /// The legal address.
    pub address: Option<Address>,
    /// Whether it still exists.
    pub state: Option<State>,
    /// The main OKVED code.
    pub okved: Option<String>,
}

/// A party's names.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PartyName {
    /// The full name with the legal form.
    pub full_with_opf: Option<String>,
    /// The short name with the legal form.
    pub short_with_opf: Option<String>,
}

/// A legal form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Opf {
    /// Its abbreviation (ООО, ПАО, ИП).
    pub short: Option<String>,
}

/// The head of an organisation.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Management {
    /// Their name.
    pub name: Option<String>,
    /// Their post.
    pub post: Option<String>,
}

/// A person's full name.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Fio {
    /// Фамилия.
    pub surname: Option<String>,
    /// Имя.
    pub name: Option<String>,
    /// Отчество.
    pub patronymic: Option<String>,
}

impl Fio {
    /// "Фамилия Имя Отчество".
    pub fn full(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.surname, &self.name, &self.patronymic]
            .into_iter()
            .filter_map(|p| p.as_deref().map(str::trim).filter(|p| !p.is_empty()))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// An address.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Address {
    /// The whole address with the postcode.
    pub unrestricted_value: Option<String>,
}

/// Whether the party is active.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct State {
    /// ACTIVE, LIQUIDATING, LIQUIDATED, BANKRUPT or REORGANIZING.
    pub status: Option<String>,
    /// When it was liquidated, epoch milliseconds.
    pub liquidation_date: Option<i64>,
    /// When the state was last confirmed, epoch milliseconds.
    pub actuality_date: Option<i64>,
}

/// A bank, as the registry describes it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Bank {
    /// The bank's names.
    pub name: BankName,
    /// Its correspondent account.
    pub correspondent_account: Option<String>,
}

/// A bank's names.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BankName {
    /// The name used on payment orders.
    pub payment: Option<String>,
}

impl Registry {
    /// The registry of the action's config; a missing key names itself.
    pub fn from_config() -> Result<Registry, Error> {
        let base = robota_sdk::config::get(URL_KEY)?
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "config key `{URL_KEY}` is not set: give the registry's base URL in plugins.toml"
                ))
            })?;
        let key = robota_sdk::config::get(KEY_KEY)?
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "config key `{KEY_KEY}` is not set: give the registry's API key in plugins.toml"
                ))
            })?;
        Ok(Registry {
            base: base.trim().trim_end_matches('/').to_owned(),
            key: key.trim().to_owned(),
        })
    }

    /// Asks `findById/{what}` for `query`, with extra body fields.
    fn find<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        body: Value,
    ) -> Result<Vec<T>, Error> {
        let url = format!("{}/findById/{what}", self.base);
        let response = http::Request::post(&url)
            .header("authorization", &format!("Token {}", self.key))
            .header("accept", "application/json")
            .json(&body)?
            .timeout_ms(10_000)
            .send()?;
        match response.status {
            200 => {}
            401 | 403 => {
                return Err(Error::Failed(format!(
                    "the registry refused the API key (HTTP {}): check `{KEY_KEY}` in the action's config",
                    response.status
                )));
            }
            429 => {
                return Err(Error::Transient(
                    "the registry answered 429 (too many requests); retrying later".into(),
                ));
            }
            s if s >= 500 => {
                return Err(Error::Transient(format!(
                    "the registry failed (HTTP {s}); retrying later"
                )));
            }
            s => {
                return Err(Error::Failed(format!(
                    "the registry answered HTTP {s} to findById/{what}: {}",
                    response.text().chars().take(200).collect::<String>()
                )));
            }
        }
        let answer: Suggestions<T> = serde_json::from_slice(&response.body).map_err(|e| {
            Error::Failed(format!(
                "the registry's answer to findById/{what} is not in the expected shape: {e}"
            ))
        })?;
        Ok(answer.suggestions.into_iter().map(|s| s.data).collect())
    }

    /// The party with this INN (and KPP, for a branch), if the registry
    /// knows one.
    pub fn party(&self, inn: &str, kpp: Option<&str>) -> Result<Option<Party>, Error> {
        let mut body = json!({ "query": inn, "count": 1 });
        if let Some(kpp) = kpp {
            body["kpp"] = json!(kpp);
        }
        Ok(self.find::<Party>("party", body)?.into_iter().next())
    }

    /// The bank with this BIK, if the registry knows one.
    pub fn bank(&self, bik: &str) -> Result<Option<Bank>, Error> {
        Ok(self
            .find::<Bank>("bank", json!({ "query": bik, "count": 1 }))?
            .into_iter()
            .next())
    }
}

/// An epoch-milliseconds instant as a date in Moscow (UTC+3 all year).
pub fn moscow_date(ms: i64) -> Option<String> {
    let at = chrono::DateTime::from_timestamp_millis(ms)?;
    let offset = chrono::FixedOffset::east_opt(3 * 3600)?;
    Some(at.with_timezone(&offset).date_naive().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_taken_in_moscow() {
        // 1991-06-20T00:00:00+03:00 is 1991-06-19T21:00:00Z.
        assert_eq!(moscow_date(677_365_200_000).as_deref(), Some("1991-06-20"));
    }

    #[test]
    fn a_sole_traders_name_is_surname_first() {
        let fio = Fio {
            surname: Some("Иванов".into()),
            name: Some("Иван".into()),
            patronymic: None,
        };
        assert_eq!(fio.full().as_deref(), Some("Иванов Иван"));
    }
}
