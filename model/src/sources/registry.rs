//! The registry of partner sources: one entry per source, and every list
//! and match over sources, kinds, tables and extract kinds is generated
//! from it. Adding a source is its module plus one entry here; nothing
//! else names sources one by one.
//!
//! An entry reads
//! `module: Source "source" { Table "table" Variant(AttributeType) { Kind "kind" [ExtractKind "prefix" COLUMNS parser], ... } ... }`:
//! the module under `sources/` holding the attribute type, its columns and
//! its parser; the lake table and the `Attributes` variant its events
//! carry; each kind of event, and the extract kind (file-name prefix,
//! columns, parser) partners send it in, or `[]` if partners never do.
//!
//! This file imports nothing: each user passes a callback macro that
//! expands the list where it is needed (`kinds`, `event`, `tables`,
//! `sources`), so the registry adds no import cycle. The callback receives
//! the entries flattened by [`digest`] into four lists (sources, tables,
//! kinds, extract kinds), each item carrying what its owner names, and
//! matches only the lists it uses.

macro_rules! registry {
    ($callback:ident) => {
        crate::sources::registry::digest! { $callback;
            police: Police "police" {
                PoliceOffences "police_offences" Offence(Offence) {
                    Offence "offence" [PoliceOffences "offences" OFFENCE_COLUMNS parse_offence]
                }
                PoliceAsb "police_asb" AsbIncident(AsbIncident) {
                    AsbIncident "asb_incident" [PoliceAsb "asb" ASB_COLUMNS parse_asb]
                }
            }
            ae: Ae "ae" {
                AeAttendances "ae_attendances" AeAttendance(AeAttendance) {
                    AeAttendance "ae_attendance" [AeAttendances "attendances" ATTENDANCE_COLUMNS parse]
                }
            }
            yjs: YouthJustice "yjs" {
                YjOutcomes "yj_outcomes" YjOutcome(YjOutcome) {
                    YjOutcome "yj_outcome" [YjOutcomes "outcomes" OUTCOME_COLUMNS parse]
                }
            }
            education: Education "education" {
                EducationEvents "education_events" Education(EducationEvent) {
                    SchoolCensus "school_census" [SchoolCensus "census" CENSUS_COLUMNS parse],
                    Suspension "suspension" [Suspensions "suspensions" SUSPENSION_COLUMNS parse],
                    PermanentExclusion "permanent_exclusion" [Exclusions "exclusions" EXCLUSION_COLUMNS parse],
                    ApPlacement "ap_placement" [ApPlacements "ap_placements" AP_COLUMNS parse],
                    NeetStatus "neet_status" [Neet "neet" NEET_COLUMNS parse]
                }
            }
            ace: Ace "ace" {
                AceScreenings "ace_screenings" AceScreening(AceScreening) {
                    AceScreening "ace_screening" [AceScreenings "screenings" SCREENING_COLUMNS parse]
                }
            }
            survey: Survey "survey" {
                SurveyResponses "survey_responses" SurveyResponse(SurveyResponse) {
                    SurveyResponse "survey_response" [SurveyResponses "responses" RESPONSE_COLUMNS parse]
                }
            }
            commitments: Commitments "commitments" {
                Commitments "commitments" Commitment(Commitment) {
                    CommitmentStatus "commitment_status" [Commitments "commitments" COMMITMENT_COLUMNS parse]
                }
            }
            police_uk: PoliceUk "police_uk" {
                PoliceUkCrimes "police_uk_crimes" StreetCrime(StreetCrime) {
                    StreetCrime "street_crime" [StreetCrimes "street" STREET_COLUMNS parse]
                }
            }
            ambulance: Ambulance "ambulance" {
                AmbulanceCallouts "ambulance_callouts" AmbulanceCallout(AmbulanceCallout) {
                    AmbulanceCallout "ambulance_callout" [AmbulanceCallouts "callouts" CALLOUT_COLUMNS parse]
                }
            }
            receipts: Receipts "receipts" {
                ExtractReceipts "extract_receipts" ExtractReceipt(ExtractReceipt) {
                    ExtractReceipt "extract_receipt" []
                }
            }
        }
    };
}
pub(crate) use registry;

/// Flattens the nested entries: the one place their shape is spelled out.
macro_rules! digest {
    ($callback:ident; $(
        $module:ident : $source:ident $source_name:literal {
            $( $table:ident $table_name:literal $attr:ident ($ty:ident) {
                $( $kind:ident $kind_name:literal [$($extract:ident $prefix:literal $cols:ident $parse:ident)?] ),+
            } )+
        }
    )+) => {
        $callback! {
            sources: [$($module $source $source_name)+]
            tables: [$($($table $table_name $attr $module $ty $source)+)+]
            kinds: [$($($($kind $kind_name $table)+)+)+]
            extracts: [$($($($($extract $prefix $module $cols $parse $kind $attr)?)+)+)+]
        }
    };
}
pub(crate) use digest;
