//! Why a value or a write is refused, as a code with its parameters: the API
//! says it in English (`Display`) and puts the code and parameters in its
//! problem document (`code`, `params`), so a client — the console — says it
//! in the person's language from its own catalogue.

use robota_requisites::RequisiteError;
use serde::Serialize;
use serde_json::{Map, Value};

/// What is wrong with one field's value ([`super::CrmError::InvalidField`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, strum::VariantNames)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Wrong {
    /// A system field (`id`, `version`, …).
    #[error("is set by the host and cannot be written")]
    SetByHost,
    /// The kind has no such field.
    #[error("no such field")]
    NoSuchField,
    /// No custom field of that code is defined for the kind.
    #[error("no such custom field is defined")]
    NoSuchCustomField,
    /// A field the host computes.
    #[error("is computed by the host and cannot be written")]
    Computed,
    /// A required field left empty.
    #[error("is required and cannot be empty")]
    Required,
    /// A text over the size cap.
    #[error("the text is {bytes} bytes; at most {max} are allowed")]
    TooLong {
        /// Its size.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// A list with too many entries (or an object with too many keys).
    #[error("has {got} entries; at most {max} are allowed")]
    TooMany {
        /// How many it has.
        got: usize,
        /// The cap.
        max: usize,
    },
    /// A custom field given a list or an object.
    #[error("must be a text, number, boolean or null")]
    NotScalar,
    /// Not a string.
    #[error("must be a string, got {got}")]
    NotText {
        /// What was given (JSON).
        got: String,
    },
    /// Not an object.
    #[error("must be an object")]
    NotObject,
    /// An id given as an empty string.
    #[error("must be an id, got an empty string")]
    EmptyId,
    /// A string that is not a decimal number.
    #[error("`{value}` is not a decimal number")]
    NotDecimal {
        /// The text given.
        value: String,
    },
    /// An integer too large for a decimal.
    #[error("{value} is out of range")]
    OutOfRange {
        /// The number given.
        value: String,
    },
    /// A JSON float, which cannot carry money exactly.
    #[error("{value} is a float; give exact decimals as strings, such as \"{value}\"")]
    Float {
        /// The number given.
        value: String,
    },
    /// Neither a decimal string nor an integer.
    #[error("must be a decimal string, got {got}")]
    NotDecimalText {
        /// What was given (JSON).
        got: String,
    },
    /// Not an e-mail address.
    #[error("`{value}` is not an e-mail address")]
    NotEmail {
        /// The text given.
        value: String,
    },
    /// Not a phone number.
    #[error("`{value}` is not a phone number")]
    NotPhone {
        /// The text given.
        value: String,
    },
    /// Not an ISO 4217 code.
    #[error("`{value}` is not an ISO 4217 code such as RUB")]
    NotCurrency {
        /// The text given.
        value: String,
    },
    /// Not a date.
    #[error("`{value}` is not a date YYYY-MM-DD")]
    NotDate {
        /// The text given.
        value: String,
    },
    /// Not a timestamp.
    #[error("`{value}` is not an RFC 3339 timestamp")]
    NotTimestamp {
        /// The text given.
        value: String,
    },
    /// Not a boolean.
    #[error("must be true or false, got {got}")]
    NotBool {
        /// What was given (JSON).
        got: String,
    },
    /// Not a whole number.
    #[error("must be a whole number, got {got}")]
    NotWholeNumber {
        /// What was given (JSON).
        got: String,
    },
    /// Not one of the allowed codes.
    #[error("`{value}` is not one of {}", .allowed.join(", "))]
    NotOneOf {
        /// The text given.
        value: String,
        /// The allowed codes.
        allowed: Vec<String>,
    },
    /// Not an entity kind.
    #[error("`{value}` is not an entity kind")]
    NotEntityKind {
        /// The text given.
        value: String,
    },
    /// Not a list of strings.
    #[error("must be a list of strings, found {found}")]
    NotTextList {
        /// The offending value or entry (JSON).
        found: String,
    },
    /// A custom field's value that does not suit its type.
    #[error("{value} is not a valid {ty}")]
    NotOfCustomType {
        /// The value given (JSON).
        value: String,
        /// The custom field's type.
        ty: String,
    },
    /// Digits expected.
    #[error("must contain digits only")]
    NotDigits,
    /// A requisite of the wrong length.
    #[error("must have {} digits, got {got}", .expected.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or "))]
    WrongLength {
        /// The allowed lengths.
        expected: Vec<usize>,
        /// The length given.
        got: usize,
    },
    /// A requisite whose control digit does not match.
    #[error("control digit does not match")]
    BadChecksum,
    /// A KPP not shaped as 4 digits, 2 digits or capitals, 3 digits.
    #[error("must be 4 digits, 2 digits or Latin capitals, then 3 digits")]
    KppShape,
    /// A correspondent account not starting with 301.
    #[error("must start with 301")]
    CorrespondentPrefix,
    /// An account checked with a BIK that is not 9 digits.
    #[error("the BIK it is checked with is not 9 digits")]
    KeyBik,
    /// A bank account not of 20 digits.
    #[error("must have 20 digits, got `{value}`")]
    NotAccount {
        /// The text given.
        value: String,
    },
    /// An account given without the bank's BIK.
    #[error("needs the bank's bik to check its key")]
    AccountNeedsBik,
    /// An organisation's INN must have 10 digits.
    #[error("must have 10 digits for an organisation")]
    InnOfOrganisation,
    /// A sole trader's INN must have 12 digits.
    #[error("must have 12 digits for a sole trader")]
    InnOfSoleTrader,
    /// A sole trader has no KPP.
    #[error("a sole trader has no KPP")]
    KppOfSoleTrader,
    /// An organisation has an OGRN of 13 digits.
    #[error("must be an OGRN of 13 digits")]
    OgrnOfOrganisation,
    /// A sole trader has an OGRNIP of 15 digits.
    #[error("must be an OGRNIP of 15 digits")]
    OgrnOfSoleTrader,
    /// Not a list of line items.
    #[error("must be a list of line items")]
    NotItems,
    /// Zero or less where more is needed.
    #[error("must be greater than zero")]
    NotPositive,
    /// Negative where it may not be.
    #[error("must not be negative")]
    Negative,
    /// A converted lead's status changed.
    #[error("the lead is converted; it cannot become `{to}`")]
    LeadConverted {
        /// The status asked for.
        to: String,
    },
    /// A lead set to `converted` by hand.
    #[error("a lead becomes `converted` by POST /api/v1/leads/{{id}}/convert")]
    ConvertByEndpoint,
    /// A status that has no way on.
    #[error("`{from}` is final; it cannot become `{to}`")]
    FinalStatus {
        /// The current status.
        from: String,
        /// The status asked for.
        to: String,
    },
    /// A status move the workflow does not have.
    #[error("cannot go from `{from}` to `{to}`; allowed: {}", .allowed.join(", "))]
    NoSuchMove {
        /// The current status.
        from: String,
        /// The status asked for.
        to: String,
        /// Where it may go.
        allowed: Vec<String>,
    },
    /// A meeting without its time, place or holder.
    #[error("a meeting needs it")]
    MeetingNeeds,
    /// A meeting not about a lead or a deal.
    #[error("a meeting is about a lead or a deal: give entity_kind and entity_id")]
    MeetingAbout,
    /// A deal stage its pipeline does not have.
    #[error("`{stage}` is not a stage of pipeline `{pipeline}`")]
    NotAStage {
        /// The stage asked for.
        stage: String,
        /// The deal's pipeline.
        pipeline: String,
    },
    /// A comment (or a rejection's reason) without text.
    #[error("a comment needs text")]
    CommentNeeded,
    /// A payment request created in a later status.
    #[error("a new request starts as draft or on_approval")]
    StartStatus,
    /// A request marked paid before its payment order is stored.
    #[error(
        "a request is paid with its payment order: store it first (PUT /api/v1/payment-requests/{request}/files/{file})"
    )]
    PaidWithoutOrder {
        /// The request's id.
        request: String,
        /// The file it needs.
        file: String,
    },
    /// A deal created before any pipeline exists.
    #[error("no pipeline exists yet; create one first")]
    NoPipeline,
    /// A pipeline without stages.
    #[error("`{pipeline}` has no stages")]
    NoStages {
        /// The pipeline's id.
        pipeline: String,
    },
    /// An invoice without lines.
    #[error("an invoice needs at least one line")]
    NoLines,
    /// A reference to a record that does not exist.
    #[error("no {kind} with id `{id}`")]
    NoSuchRecord {
        /// Its kind.
        kind: String,
        /// The id given.
        id: String,
    },
    /// A filter on a field the kind does not have.
    #[error("no such field to filter on")]
    NoFilterField,
    /// A filter value that is not a decimal.
    #[error("filter value {value} is not a decimal")]
    FilterNotDecimal {
        /// The value given.
        value: String,
    },
    /// A filter other than `contains` on a list field.
    #[error("only `contains` applies to this field")]
    OnlyContains,
}

impl From<RequisiteError> for Wrong {
    fn from(e: RequisiteError) -> Wrong {
        match e {
            RequisiteError::NotDigits => Wrong::NotDigits,
            RequisiteError::WrongLength { expected, got } => Wrong::WrongLength {
                expected: expected.to_vec(),
                got,
            },
            RequisiteError::BadChecksum => Wrong::BadChecksum,
            RequisiteError::KppShape => Wrong::KppShape,
            RequisiteError::CorrespondentPrefix => Wrong::CorrespondentPrefix,
            RequisiteError::KeyBik => Wrong::KeyBik,
        }
    }
}

/// Why a write clashes with the state it found ([`super::CrmError::Conflict`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, strum::VariantNames)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Clash {
    /// Someone decided the approval first.
    #[error("approval {approval} is already decided")]
    AlreadyDecided {
        /// The approval's id.
        approval: String,
    },
    /// The run stopped waiting (cancelled, expired).
    #[error("the run of approval {approval} no longer waits for it")]
    NoLongerWaits {
        /// The approval's id.
        approval: String,
    },
    /// Only an approved request is returned for rework.
    #[error("{request} is {status}: only an approved request is returned for rework")]
    ReturnNotApproved {
        /// The request (`payment-request <id>`).
        request: String,
        /// Its status.
        status: String,
    },
    /// The record changed since the caller read it.
    #[error("{target} is at version {current}, not {expected}")]
    StaleVersion {
        /// The record.
        target: String,
        /// Its version now.
        current: String,
        /// The version the caller read.
        expected: String,
    },
    /// A run in a status that does not allow what was asked.
    #[error("run `{run}` is {status}, not {wanted}")]
    RunStatus {
        /// The run's id.
        run: String,
        /// Its status.
        status: String,
        /// The statuses that would allow it.
        wanted: String,
    },
    /// A field a step relied on changed before the step committed.
    #[error(
        "{target}.{field} is {actual} where the step expected {expected}: a concurrent change got there first"
    )]
    FieldChanged {
        /// The record.
        target: String,
        /// The field.
        field: String,
        /// Its value now (JSON).
        actual: String,
        /// The value the step read (JSON).
        expected: String,
    },
    /// The record changed while it was being updated.
    #[error("{target} changed while being updated")]
    ChangedMeanwhile {
        /// The record.
        target: String,
    },
    /// A record others still refer to.
    #[error("{target} is still referred to by other records; unlink them first")]
    StillReferred {
        /// The record.
        target: String,
    },
    /// A value that must be unique is taken.
    #[error("{kind}: {message}")]
    Taken {
        /// The kind of record.
        kind: String,
        /// The database's words (which column).
        message: String,
    },
    /// A lead converted before.
    #[error("lead {lead} is already converted into deal {deal}")]
    AlreadyConverted {
        /// The lead's id.
        lead: String,
        /// The deal it became.
        deal: String,
    },
    /// A junk lead is not converted.
    #[error("lead {lead} is junk; move it back into the pipeline before converting it")]
    JunkLead {
        /// The lead's id.
        lead: String,
    },
    /// A custom field removed while records hold values in it.
    #[error("{target} has a value in custom field `{name}`; clear it before removing the field")]
    CustomFieldInUse {
        /// A record holding a value.
        target: String,
        /// The custom field.
        name: String,
    },
    /// A custom field's type changed to one a stored value does not suit.
    #[error("{target} holds {value} in `{name}`, which is not a valid {ty}")]
    CustomFieldHolds {
        /// A record holding the value.
        target: String,
        /// The value (JSON).
        value: String,
        /// The custom field.
        name: String,
        /// The new type.
        ty: String,
    },
    /// Another writer moved on first (the engine's own cursors and claims):
    /// the caller retries.
    #[error("{0}")]
    Raced(String),
}

/// A value as a reason shows it: a text as it is, anything else as JSON.
pub fn shown(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// A code's parameters: `reason` serialised, without its `code`.
pub fn code_and_params<T: Serialize>(reason: &T) -> (String, Map<String, Value>) {
    let mut params = match serde_json::to_value(reason) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let code = match params.remove("code") {
        Some(Value::String(c)) => c,
        _ => String::new(),
    };
    (code, params)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use strum::VariantNames as _;

    #[test]
    fn a_reason_is_a_code_with_its_parameters_and_english_words() {
        let wrong = Wrong::NotOneOf {
            value: "x".into(),
            allowed: vec!["a".into(), "b".into()],
        };
        let (code, params) = code_and_params(&wrong);
        assert_eq!(code, "not-one-of");
        assert_eq!(json!(params), json!({"value": "x", "allowed": ["a", "b"]}));
        assert_eq!(wrong.to_string(), "`x` is not one of a, b");
        assert!(Wrong::VARIANTS.contains(&code.as_str()));
        let (code, params) = code_and_params(&Wrong::BadChecksum);
        assert_eq!((code.as_str(), params.len()), ("bad-checksum", 0));
        let (code, _) = code_and_params(&Clash::AlreadyDecided {
            approval: "a1".into(),
        });
        assert!(Clash::VARIANTS.contains(&code.as_str()));
    }

    #[test]
    fn requisite_errors_keep_their_words() {
        let w: Wrong = RequisiteError::WrongLength {
            expected: &[10, 12],
            got: 3,
        }
        .into();
        assert_eq!(w.to_string(), "must have 10 or 12 digits, got 3");
        assert_eq!(
            Wrong::from(RequisiteError::BadChecksum).to_string(),
            RequisiteError::BadChecksum.to_string()
        );
    }
}
