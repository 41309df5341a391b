//! Community and young people's surveys: anonymous responses, no person
//! identifier at all. Each answer is on a 1-5 agreement scale (5 strongly
//! agree); "feels safe" is an answer of 4 or 5.

use super::{Context, RECORD_ID, RECORD_VERSION, Subject, envelope};
use crate::event::{Attributes, Event, Kind, SurveyResponse};
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};

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

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<Event, FieldError> {
    let wave = row.date("wave_date")?.expect("required");
    let answer = |name: &str| row.int(name).map(|v| v.map(|v| v as u8));
    let attributes = Attributes::SurveyResponse(SurveyResponse {
        area_code: row.req_text("area_code")?.to_ascii_uppercase(),
        age_band: row.code("age_band")?.expect("required"),
        feel_safe: answer("feel_safe")?,
        feel_supported: answer("feel_supported")?,
        feel_respected: answer("feel_respected")?,
        feel_hopeful: answer("feel_hopeful")?,
    });
    let nobody = Subject { id: None, role: None, age: None, sex: None, home_lsoa: None };
    let envelope = envelope(ctx, row, Kind::SurveyResponse, wave.and_hms_opt(0, 0, 0).expect("midnight"), None, nobody, None)?;
    Ok(Event { envelope, attributes })
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
