//! Community and young people's surveys: anonymous responses, no person
//! identifier at all. Each answer is on a 1-5 agreement scale (5 strongly
//! agree); "feels safe" is an answer of 4 or 5.

use super::common::{Context, RECORD_ID, RECORD_VERSION, Subject, envelope};
use crate::attributes::{TableAttributes, text};
use crate::envelope::Envelope;
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use crate::kinds::Kind;
use arrow_schema::{DataType, Field};
use serde::{Deserialize, Serialize};

/// One anonymous survey response; answers on a 1-5 agreement scale.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SurveyResponse {
    pub area_code: String,
    pub age_band: String,
    pub feel_safe: Option<u8>,
    pub feel_supported: Option<u8>,
    pub feel_respected: Option<u8>,
    pub feel_hopeful: Option<u8>,
}

impl TableAttributes for SurveyResponse {
    fn fields() -> Vec<Field> {
        let answer = |n: &str| Field::new(n, DataType::Int32, true);
        vec![
            text("area_code"),
            text("age_band"),
            answer("feel_safe"),
            answer("feel_supported"),
            answer("feel_respected"),
            answer("feel_hopeful"),
        ]
    }
}

pub const AGE_BANDS: &[&str] = &["11-15", "16-24", "25-34", "35-49", "50-64", "65+"];
/// Bands counted as young people for the four youth dimensions.
pub const YOUNG_BANDS: &[&str] = &["11-15", "16-24"];
const SCALE: FieldType = FieldType::Int { min: 1, max: 5 };

pub const RESPONSE_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    req("wave_date", FieldType::Date),
    req("area_code", FieldType::Text),
    req("age_band", FieldType::OneOf(AGE_BANDS)),
    opt("feel_safe", SCALE),
    opt("feel_supported", SCALE),
    opt("feel_respected", SCALE),
    opt("feel_hopeful", SCALE),
];

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, SurveyResponse), FieldError> {
    let wave = row.date("wave_date")?.expect("required");
    let answer = |name: &str| row.int(name).map(|v| v.map(|v| v as u8));
    let attributes = SurveyResponse {
        area_code: row.req_text("area_code")?.to_ascii_uppercase(),
        age_band: row.code("age_band")?.expect("required"),
        feel_safe: answer("feel_safe")?,
        feel_supported: answer("feel_supported")?,
        feel_respected: answer("feel_respected")?,
        feel_hopeful: answer("feel_hopeful")?,
    };
    let nobody = Subject { id: None, role: None, age: None, sex: None, home_lsoa: None };
    let envelope = envelope(ctx, row, Kind::SurveyResponse, wave.and_hms_opt(0, 0, 0).expect("midnight"), None, nobody, None)?;
    Ok((envelope, attributes))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::parse_pairs;
    use crate::extract::ExtractKind;

    #[test]
    fn response_rows() {
        let row = [("record_id", "1"), ("wave_date", "2023-11-01"), ("area_code", "e08000003"), ("age_band", "16-24"), ("feel_safe", "4")];
        let e = parse_pairs(ExtractKind::SurveyResponses, &row).unwrap();
        assert!(e.envelope.subject.is_none());
        let mut bad = row.to_vec();
        bad[4] = ("feel_safe", "6");
        assert!(parse_pairs(ExtractKind::SurveyResponses, &bad).unwrap_err().reason.contains("out of range 1-5"));
    }
}
