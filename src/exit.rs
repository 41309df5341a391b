//! The process exit status says whose fault a failure is, so a scheduler
//! or service manager can act without parsing text: retry a temporary
//! failure (75), page an operator for configuration (78), tell the partner
//! about its data (65), file a bug (70). The codes are the BSD
//! `sysexits.h` ones schedulers already know; anything unclassified is 1.

use std::process::ExitCode;
use vru_model::error::ErrorKind;

/// The kind of the first classified error in `e`'s chain.
pub fn kind_of(e: &anyhow::Error) -> Option<ErrorKind> {
    e.chain().find_map(|cause| {
        macro_rules! try_kinds {
            ($($t:ty),* $(,)?) => {
                $(if let Some(x) = cause.downcast_ref::<$t>() { return Some(x.kind()); })*
            };
        }
        try_kinds!(
            vru_ingest::error::PipelineError,
            vru_ingest::error::NormaliserError,
            vru_ingest::error::SinkError,
            vru_ingest::error::KafkaSetupError,
            vru_ingest::error::PseudonymiseError,
            vru_ingest::error::ReferenceError,
            vru_ingest::error::RetentionError,
            vru_ingest::lake::LakeError,
            vru_queries::QueryError,
            vru_queries::DisclosureError,
            vru_server::ServerError,
            vru_synth::SynthError,
            vru_model::error::PeriodError,
            vru_model::error::YearError,
            vru_model::pseudonym::KeyError,
            vru_model::error::DefinitionError,
            vru_model::error::PolicyError,
        );
        None
    })
}

/// The exit status for a failure of this kind.
pub fn code(kind: Option<ErrorKind>) -> u8 {
    match kind {
        Some(ErrorKind::PartnerData) => 65,
        Some(ErrorKind::Bug) => 70,
        Some(ErrorKind::Infrastructure) => 75,
        Some(ErrorKind::Configuration) => 78,
        None => 1,
    }
}

/// Prints the error as Rust's `main` would, then whose fault it is.
pub fn report(e: &anyhow::Error) -> ExitCode {
    let kind = kind_of(e);
    eprintln!("Error: {e:?}");
    let hint = match kind {
        Some(ErrorKind::PartnerData) => Some("the data: the partner that sent it can fix it"),
        Some(ErrorKind::Configuration) => Some("configuration: fix it and run again"),
        Some(ErrorKind::Infrastructure) => Some("infrastructure (a broker, disk or network): may heal; running again is safe"),
        Some(ErrorKind::Bug) => Some("a bug in vru: please report it with this message"),
        None => None,
    };
    if let Some(h) = hint {
        eprintln!("(cause: {h}; exit status {})", code(kind));
    }
    ExitCode::from(code(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_classified_error_anywhere_in_the_chain_sets_the_status() {
        let e = anyhow::Error::new(vru_synth::SynthError::Config("no years".into())).context("generating the city");
        assert_eq!((kind_of(&e), code(kind_of(&e))), (Some(ErrorKind::Configuration), 78));
        let busy = anyhow::Error::new(vru_ingest::error::RetentionError::Busy);
        assert_eq!(code(kind_of(&busy)), 75, "a held lock heals: schedulers retry 75");
        let plain = anyhow::anyhow!("something else");
        assert_eq!(code(kind_of(&plain)), 1);
    }
}
